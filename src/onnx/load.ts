import type * as fs from 'node:fs';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelError } from '../errors.js';
import { effects } from '../effects.js';
import { isExternal, openExternal } from './external.js';
import { recordNodeBytes } from './node-bytes.js';
import { ModelProtoSchema } from './proto.js';
import type { GraphProto, ModelProto, TensorProto } from './proto.js';
import { cannotRead, isStreamRead, nonRegularKind, readRanges, readRangeSync, readStream, readStreamSync, type ReadRange, type StreamRead } from './read.js';

// Where the model's parts are read: external data references and the file readers (importers keep this path).
export { externalRef, isExternal, type ExternalRef } from './external.js';
export { FIFO_WRITER_WAIT_MS, nonRegularKind } from './read.js';

/** A decoded model plus the bytes of its externally stored tensors. */
export interface OnnxModel {
  proto: ModelProto;
  /** The file it came from, or null for models built in memory. */
  path: string | null;
  /** Payloads of tensors stored outside the protobuf, keyed by the tensor object (never by name). */
  externalData: Map<TensorProto, Uint8Array>;
  /** The input kept some tensors in external files: `--external-data auto` keeps that. */
  hadExternalData: boolean;
}

export interface LoadOptions {
  /** Read external tensor payloads (default true). `false` keeps only the references. */
  loadExternalData?: boolean;
  /** The largest model file or stream read (default MAX_MODEL_BYTES). */
  maxModelBytes?: number;
}

/** Every graph of the model: the main one and those nested in If/Loop/Scan attributes. */
export function* allGraphs(graph: GraphProto | undefined): Generator<GraphProto> {
  if (!graph) return;
  yield graph;
  for (const node of graph.node) {
    for (const attr of node.attribute) {
      if (attr.g) yield* allGraphs(attr.g);
      for (const g of attr.graphs) yield* allGraphs(g);
    }
  }
}

/** Decodes ModelProto bytes and checks that they really are a model, not just any protobuf. */
export function decodeModel(bytes: Uint8Array, where = 'input'): ModelProto {
  if (bytes.length === 0) throw new ModelError(`${where} is empty (0 bytes): not an ONNX model`);
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ModelError(`${where} is not a valid ONNX protobuf (${why}); is the file truncated or not an .onnx model?`, {
      cause: e,
    });
  }
  // Any byte string can decode as *some* message; a model has an IR version, a graph and an opset.
  const irVersion = Number(proto.irVersion);
  if (!proto.graph || irVersion < 1 || irVersion > 100 || proto.opsetImport.length === 0) {
    const lacks = [
      !proto.graph && 'graph',
      (irVersion < 1 || irVersion > 100) && 'a valid ir_version',
      proto.opsetImport.length === 0 && 'opset_import',
    ].filter(Boolean);
    throw new ModelError(`${where} decodes as protobuf but is not an ONNX ModelProto (it lacks ${lacks.join(', ')})`);
  }
  recordNodeBytes(proto, bytes);
  return proto;
}

/**
 * Loads a model file; external data is resolved relative to the model's folder and may not leave it.
 * Reads run in parallel on libuv's thread pool: on large models the cost is not the disk but faulting in fresh
 * memory, and several threads fault pages at once (383 MB: 1.2 s → 0.7 s on a 2-vCPU machine).
 */
export async function loadModel(file: string, options: LoadOptions = {}): Promise<OnnxModel> {
  const steps = loadSteps(file, options);
  let step = steps.next();
  while (!step.done) {
    try {
      if (isStreamRead(step.value)) step.value.bytes = await readStream(step.value);
      else await readRanges(step.value);
    } catch (e) {
      steps.return(undefined as never); // closes the files the step opened
      throw e;
    }
    step = steps.next();
  }
  return step.value;
}

/** `loadModel` on the calling thread, one read at a time: for scripts and tests that cannot await. */
export function loadModelSync(file: string, options: LoadOptions = {}): OnnxModel {
  const steps = loadSteps(file, options);
  let step = steps.next();
  while (!step.done) {
    try {
      if (isStreamRead(step.value)) step.value.bytes = readStreamSync(step.value);
      else step.value.forEach(readRangeSync);
    } catch (e) {
      steps.return(undefined as never);
      throw e;
    }
    step = steps.next();
  }
  return step.value;
}

/**
 * The largest model file or stream read: 2 GiB, protobuf's own limit for one message (a larger model keeps its
 * weights in external data). A file past it is refused by its size before it is read; a pipe (`<(cat m.onnx)`,
 * /dev/stdin), whose size is not known before its end, is read up to it.
 */
export const MAX_MODEL_BYTES = 2 ** 31;

/**
 * A load as its steps, written once for both loaders: each `yield` hands out reads to do (the model file, then
 * every external payload), and the files stay open until the loader resumes or returns the generator.
 */
function* loadSteps(file: string, options: LoadOptions): Generator<ReadRange[] | StreamRead, OnnxModel, void> {
  const inherited = inheritedFd(file);
  const limit = options.maxModelBytes ?? MAX_MODEL_BYTES;
  const source = modelSource(file, inherited, limit);
  const namedFifo = inherited === null && source.stream && source.kind === 'a pipe';
  const fd = inherited ?? openForReading(file, namedFifo);
  let bytes: Uint8Array;
  try {
    if (source.stream) {
      const read: StreamRead = { fd, what: file, kind: source.kind, limit, namedFifo, bytes: null };
      yield read;
      bytes = read.bytes!;
    } else {
      bytes = Buffer.allocUnsafe(source.size);
      yield [{ fd, target: bytes, position: 0, what: file }];
    }
  } finally {
    if (inherited === null) effects.fs.closeSync(fd);
  }
  const { model, externals } = decodeFile(bytes, file);
  if (options.loadExternalData !== false && externals.length > 0) {
    if (source.stream) {
      throw new ModelError(
        `${file} is ${source.kind} and its model keeps ${externals.length} tensor(s) in external data files, which are found beside the model's file; give the .onnx file's path instead`,
      );
    }
    const reads = openExternal(model.externalData, externals, path.dirname(file));
    try {
      yield reads.ranges;
    } finally {
      reads.close();
    }
  }
  return model;
}

/**
 * A regular file is read by size; a pipe (`<(cat m.onnx)`, a FIFO, /dev/stdin from a pipe) is read to its end as a
 * stream, up to `limit`. A directory, socket, character device (a terminal, /dev/zero) or block device is refused.
 */
function modelSource(file: string, inherited: number | null, limit: number): { stream: false; size: number } | { stream: true; kind: string } {
  let stat: fs.Stats;
  try {
    stat = inherited === null ? effects.fs.statSync(file) : effects.fs.fstatSync(inherited);
  } catch {
    throw new ModelError(`${file}: no such file; check the path`);
  }
  const kind = nonRegularKind(stat);
  if (kind === null) {
    if (stat.size > limit) {
      throw new ModelError(
        `${file} is ${stat.size} bytes, more than the ${limit} (MAX_MODEL_BYTES, protobuf's 2 GiB limit) an ONNX file can be; a model this large keeps its weights in external data (onnx's save_as_external_data)`,
      );
    }
    return { stream: false, size: stat.size };
  }
  if (stat.isDirectory()) throw new ModelError(`${file} is a directory, not an .onnx file`);
  if (stat.isFIFO()) return { stream: true, kind: 'a pipe' };
  // A terminal would wait for typing and /dev/zero never ends: a model comes by file or by pipe, never from a device.
  if (stat.isCharacterDevice()) throw new ModelError(`${file} is ${kind} (a terminal or device), not a model; give the model's file, or pipe it in`);
  // A socket cannot be opened by its path, but one this process holds (stdin from a parent's socketpair) reads as a pipe.
  if (stat.isSocket() && inherited !== null) return { stream: true, kind: 'a pipe' };
  throw new ModelError(`${file} is ${kind}, not an .onnx file; give the model's file (a pipe is read too)`);
}

/** /dev/stdin, /dev/fd/N or /proc/self/fd/N: a descriptor this process already holds, read as it is. */
function inheritedFd(file: string): number | null {
  if (file === '/dev/stdin') return 0;
  const m = /^\/(?:dev\/fd|proc\/self\/fd)\/(\d+)$/.exec(file);
  return m ? Number(m[1]) : null;
}

function openForReading(file: string, nonBlocking = false): number {
  try {
    // O_NONBLOCK: a FIFO opens at once even with no writer (a blocking open would wait for one forever).
    return effects.fs.openSync(file, nonBlocking ? effects.fs.constants.O_RDONLY | effects.fs.constants.O_NONBLOCK : effects.fs.constants.O_RDONLY);
  } catch (e) {
    throw cannotRead(file, e);
  }
}

function decodeFile(bytes: Uint8Array, file: string): { model: OnnxModel; externals: TensorProto[] } {
  const proto = decodeModel(bytes, file);
  const externals = [...allGraphs(proto.graph)].flatMap((g) => g.initializer.filter(isExternal));
  return { model: { proto, path: file, externalData: new Map(), hadExternalData: externals.length > 0 }, externals };
}
