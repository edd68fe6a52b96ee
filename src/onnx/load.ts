import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelError } from '../errors.js';
import { ModelProtoSchema, TensorProto_DataLocation } from './proto.js';
import { dtypeBytes, dtypeName } from './dtype.js';
import type { GraphProto, ModelProto, TensorProto } from './proto.js';

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

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === TensorProto_DataLocation.EXTERNAL;
}

export interface ExternalRef {
  location: string;
  offset: number;
  length: number | null;
}

export function externalRef(t: TensorProto): ExternalRef {
  let location = '';
  let offset = 0;
  let length: number | null = null;
  for (const e of t.externalData) {
    if (e.key === 'location') location = e.value;
    else if (e.key === 'offset') offset = parseIntStrict(e.value, t, 'offset');
    else if (e.key === 'length') length = parseIntStrict(e.value, t, 'length');
  }
  if (!location) throw new ModelError(`tensor '${t.name}' is marked external but has no location: the model is damaged; re-export it`);
  return { location, offset, length };
}

function parseIntStrict(v: string, t: TensorProto, key: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ModelError(`tensor '${t.name}' has an invalid external-data ${key} '${v}': the model is damaged; re-export it`);
  }
  return n;
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

/** A model read to its end from a pipe; the loader fills `bytes`. */
interface StreamRead {
  fd: number;
  what: string;
  /** The file's kind for messages ('a pipe'). */
  kind: string;
  limit: number;
  /**
   * A named FIFO, opened without blocking: until a writer shows up its reads say end-of-file, so an empty read
   * before any byte means "no writer yet", waited for at most FIFO_WRITER_WAIT_MS.
   */
  namedFifo: boolean;
  bytes: Uint8Array | null;
}

/**
 * How long a named FIFO given as the model may have no writer: opening it blocks forever otherwise (a FIFO planted
 * where a model is expected must not hang a CI job). A writer that is there but slow is waited for without limit.
 */
export const FIFO_WRITER_WAIT_MS = 5000;

function isStreamRead(step: ReadRange[] | StreamRead): step is StreamRead {
  return !Array.isArray(step);
}

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
    if (inherited === null) fs.closeSync(fd);
  }
  const { model, externals } = decodeFile(bytes, file);
  if (options.loadExternalData !== false && externals.length > 0) {
    if (source.stream) {
      throw new ModelError(
        `${file} is ${source.kind} and its model keeps ${externals.length} tensor(s) in external data files, which are found beside the model's file; give the .onnx file's path instead`,
      );
    }
    const reads = openExternal(model, externals, path.dirname(file));
    try {
      yield reads.ranges;
    } finally {
      reads.close();
    }
  }
  return model;
}

/** What a path is when it is not a regular file ('a FIFO (named pipe)'), or null for a regular file. */
export function nonRegularKind(stat: fs.Stats): string | null {
  if (stat.isFile()) return null;
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * A regular file is read by size; a pipe (`<(cat m.onnx)`, a FIFO, /dev/stdin from a pipe) is read to its end as a
 * stream, up to `limit`. A directory, socket, character device (a terminal, /dev/zero) or block device is refused.
 */
function modelSource(file: string, inherited: number | null, limit: number): { stream: false; size: number } | { stream: true; kind: string } {
  let stat: fs.Stats;
  try {
    stat = inherited === null ? fs.statSync(file) : fs.fstatSync(inherited);
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

function cannotRead(file: string, e: unknown): ModelError {
  return new ModelError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)}); check its permissions`, { cause: e });
}

function openForReading(file: string, nonBlocking = false): number {
  try {
    // O_NONBLOCK: a FIFO opens at once even with no writer (a blocking open would wait for one forever).
    return fs.openSync(file, nonBlocking ? fs.constants.O_RDONLY | fs.constants.O_NONBLOCK : fs.constants.O_RDONLY);
  } catch (e) {
    throw cannotRead(file, e);
  }
}

function decodeFile(bytes: Uint8Array, file: string): { model: OnnxModel; externals: TensorProto[] } {
  const proto = decodeModel(bytes, file);
  const externals = [...allGraphs(proto.graph)].flatMap((g) => g.initializer.filter(isExternal));
  return { model: { proto, path: file, externalData: new Map(), hadExternalData: externals.length > 0 }, externals };
}

/** `target.length` bytes of the file open as `fd`, starting at `position`. */
interface ReadRange {
  fd: number;
  target: Uint8Array;
  position: number;
  /** The file, for messages. */
  what: string;
}

/** Ranges are cut into pieces of this size so that a few large tensors still spread over every thread. */
const PIECE = 8 << 20;
/** libuv's default thread-pool size: more concurrent reads would only queue. */
const CONCURRENT_READS = 4;

function truncated(r: ReadRange, at: number): ModelError {
  return new ModelError(`${r.what} ended at byte ${at} while being read (it changed on disk?); read it again once it is complete`);
}

async function readRanges(ranges: readonly ReadRange[]): Promise<void> {
  const pieces: ReadRange[] = [];
  for (const r of ranges) {
    for (let at = 0; at < r.target.length; at += PIECE) {
      pieces.push({ ...r, target: r.target.subarray(at, Math.min(at + PIECE, r.target.length)), position: r.position + at });
    }
  }
  let next = 0;
  // Declared through `as`: TypeScript would narrow it to null for good, not seeing the workers set it.
  let failure = null as ModelError | null;
  // Each worker stops at the first failure anywhere, and all have settled before the caller closes the files.
  const worker = async () => {
    while (next < pieces.length && !failure) {
      const p = pieces[next++]!;
      let done = 0;
      while (done < p.target.length && !failure) {
        let n: number;
        try {
          n = await readAsync(p.fd, p.target, done, p.position + done);
        } catch (e) {
          failure ??= cannotRead(p.what, e);
          return;
        }
        if (n === 0) {
          failure ??= truncated(p, p.position + done);
          return;
        }
        done += n;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, pieces.length) }, worker));
  if (failure) throw failure;
}

function readAsync(fd: number, target: Uint8Array, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, target, offset, target.length - offset, position, (e, n) => (e ? reject(e) : resolve(n)));
  });
}

/** A stream that gave more than its limit (`MAX_MODEL_BYTES` unless told). */
function streamLimit(r: StreamRead): ModelError {
  return new ModelError(
    `${r.what} is ${r.kind} that gave more than ${r.limit} bytes (MAX_MODEL_BYTES, protobuf's 2 GiB limit for a model); save the model to a file and give its path`,
  );
}

function noWriter(r: StreamRead): ModelError {
  return new ModelError(
    `${r.what} is a FIFO (named pipe) that no process wrote to within ${FIFO_WRITER_WAIT_MS / 1000} s (FIFO_WRITER_WAIT_MS); start its writer first, or give the model's file`,
  );
}

/**
 * What one read of a stream means: bytes, the end, or wait and read again (EAGAIN from a writer with nothing yet,
 * or a named FIFO's end-of-file before its writer has opened it).
 */
class StreamState {
  readonly pieces: Buffer[] = [];
  total = 0;
  private writerSeen = false;
  private readonly since = Date.now();
  constructor(private readonly r: StreamRead) {}

  /** The next piece to read into: one byte past the limit, so that passing it is seen. */
  buffer(): Buffer {
    return Buffer.allocUnsafe(Math.min(PIECE, this.r.limit - this.total + 1));
  }

  /** After a read of `n` bytes (or an error): 'more', 'wait' or 'done'. */
  next(piece: Buffer, n: number | null, error?: unknown): 'more' | 'wait' | 'done' {
    if (error !== undefined) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw cannotRead(this.r.what, error);
      this.writerSeen = true;
      return 'wait';
    }
    if (n === 0) {
      if (!this.r.namedFifo || this.writerSeen || this.total > 0) return 'done';
      if (Date.now() - this.since > FIFO_WRITER_WAIT_MS) throw noWriter(this.r);
      return 'wait';
    }
    this.writerSeen = true;
    this.total += n!;
    if (this.total > this.r.limit) throw streamLimit(this.r);
    this.pieces.push(piece.subarray(0, n!));
    return 'more';
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.pieces, this.total);
  }
}

/** A stream read to its end in pieces, joined once; more than `limit` bytes is refused as soon as it is seen. */
async function readStream(r: StreamRead): Promise<Uint8Array> {
  const state = new StreamState(r);
  for (;;) {
    const piece = state.buffer();
    let step: 'more' | 'wait' | 'done';
    try {
      step = state.next(piece, await readAsync(r.fd, piece, 0, -1));
    } catch (e) {
      if (e instanceof ModelError) throw e;
      step = state.next(piece, null, e);
    }
    if (step === 'done') return state.bytes();
    if (step === 'wait') await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function readStreamSync(r: StreamRead): Uint8Array {
  const state = new StreamState(r);
  for (;;) {
    const piece = state.buffer();
    let n: number | null = null;
    let error: unknown;
    try {
      n = fs.readSync(r.fd, piece, 0, piece.length, null);
    } catch (e) {
      error = e;
    }
    const step = state.next(piece, n, error);
    if (step === 'done') return state.bytes();
    if (step === 'wait') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

function readRangeSync(r: ReadRange): void {
  let done = 0;
  while (done < r.target.length) {
    let n: number;
    try {
      n = fs.readSync(r.fd, r.target, done, r.target.length - done, r.position + done);
    } catch (e) {
      throw cannotRead(r.what, e);
    }
    if (n === 0) throw truncated(r, r.position + done);
    done += n;
  }
}

interface ExternalReads {
  ranges: ReadRange[];
  close(): void;
}

/** Opens every external data file once, checks each tensor's range against its size, and allocates its payload. */
function openExternal(model: OnnxModel, tensors: readonly TensorProto[], dir: string): ExternalReads {
  const baseDir = fs.realpathSync(dir);
  const fds = new Map<string, { fd: number; size: number }>();
  const close = () => fds.forEach(({ fd }) => fs.closeSync(fd));
  try {
    const ranges = tensors.map((t): ReadRange => {
      const ref = externalRef(t);
      const file = resolveInside(baseDir, ref.location, t);
      let entry = fds.get(file);
      if (!entry) {
        const notFound = () =>
          new ModelError(`external data file '${ref.location}' of tensor '${t.name}' not found next to the model (${file}); copy it beside the .onnx file`);
        let kind: string | null;
        try {
          kind = nonRegularKind(fs.statSync(file));
        } catch {
          throw notFound();
        }
        // Reading a FIFO waits for a writer forever, a device may never end: only regular files hold weights.
        const refuse = (k: string) =>
          new ModelError(
            `external data file '${ref.location}' of tensor '${t.name}' is ${k}, not a regular file (${file}); refused: weights are read from regular files only`,
          );
        if (kind !== null) throw refuse(kind);
        let fd: number;
        try {
          // O_NONBLOCK: if the path became a FIFO since the stat, opening it still returns at once.
          fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
        } catch {
          throw notFound();
        }
        const stat = fs.fstatSync(fd);
        entry = { fd, size: stat.size };
        fds.set(file, entry);
        kind = nonRegularKind(stat);
        if (kind !== null) throw refuse(kind);
      }
      const length = ref.length ?? entry.size - ref.offset;
      if (ref.offset + length > entry.size || length < 0) {
        throw new ModelError(
          `external data file '${ref.location}' is ${entry.size} bytes, but tensor '${t.name}' needs bytes ${ref.offset}..${ref.offset + length}; the data file is truncated or belongs to another model`,
        );
      }
      // The payload must be what the tensor's dims and dtype say: a length that disagrees is a damaged or hostile
      // file, and it is checked before the bytes are allocated.
      const width = dtypeBytes(t.dataType);
      const expected = width === undefined ? null : t.dims.reduce((n, d) => n * Number(d), 1) * width;
      if (expected !== null && expected !== length) {
        throw new ModelError(
          `tensor '${t.name}' ([${t.dims.join(',')}] ${dtypeName(t.dataType)}, ${expected} bytes) points to ${length} bytes of external data file '${ref.location}'; the model is damaged`,
        );
      }
      let target: Buffer;
      try {
        target = Buffer.allocUnsafe(length);
      } catch (e) {
        throw new ModelError(
          `tensor '${t.name}' needs ${length} bytes of external data ('${ref.location}'), more than can be allocated here (${(e as Error).message.split('.')[0]})`,
          { cause: e },
        );
      }
      model.externalData.set(t, target);
      return { fd: entry.fd, target, position: ref.offset, what: file };
    });
    return { ranges, close };
  } catch (e) {
    close();
    model.externalData.clear();
    throw e;
  }
}

/** Resolves an external-data location, refusing absolute paths and anything that escapes `baseDir`. */
function resolveInside(baseDir: string, location: string, t: TensorProto): string {
  const escapes = (p: string) => {
    const rel = path.relative(baseDir, p);
    return rel === '' || rel.startsWith('..') || path.isAbsolute(rel);
  };
  if (path.isAbsolute(location) || escapes(path.resolve(baseDir, location))) {
    throw new ModelError(
      `tensor '${t.name}' points to external data '${location}' outside the model's folder; refused (move the data beside the model and fix the location)`,
    );
  }
  const resolved = path.resolve(baseDir, location);
  // A symlink inside the folder may still lead out of it.
  let real = resolved;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    return resolved; // missing: reported by the caller with the tensor's name
  }
  if (escapes(real)) {
    throw new ModelError(`tensor '${t.name}' external data '${location}' links outside the model's folder; refused`);
  }
  return real;
}
