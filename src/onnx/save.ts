import { effects } from '../effects.js';
import * as path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { UsageError } from '../errors.js';
import { checkOutputPath, tempName, writeFileSynced } from './write.js';

export { checkOutputPath, writeFileAtomic } from './write.js';
import { modelChunks, total } from './chunks.js';
import { numberIn, oneOf } from '../options.js';
import { allGraphs, externalRef, isExternal, type OnnxModel } from './load.js';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation } from './proto.js';
import { rawPayload } from './tensor.js';
import type { TensorProto } from './proto.js';

export type ExternalDataMode = 'auto' | 'always' | 'never';

export interface SaveOptions {
  /** `auto` (default): as the input was stored; `always`: tensors of `threshold` bytes or more go to `<out>.data`; `never`: all inline. */
  externalData?: ExternalDataMode;
  /** Smallest raw payload moved to the external file (default 1024 bytes, as the onnx package does). */
  threshold?: number;
  /** Replace an existing output file (default false: refused). */
  force?: boolean;
  /** Allow the output to be the input model or its data file (default false: refused). */
  inPlace?: boolean;
}

/** What a save wrote. */
export interface SaveResult {
  path: string;
  /** The external data file, or null when everything is inline. */
  dataPath: string | null;
  bytes: number;
  externalBytes: number;
}

/** A protobuf message may not exceed 2 GiB; leave room for the graph itself. */
export const PROTOBUF_LIMIT = 2 ** 31 - 2 ** 20;

interface Placement {
  tensor: TensorProto;
  payload: Uint8Array;
  offset: number;
}

/** Snapshot of the fields a save touches, so the in-memory model is unchanged afterwards. */
interface TensorState {
  tensor: TensorProto;
  own: { rawData: boolean; dataLocation: boolean };
  rawData: Uint8Array;
  dataLocation: number;
  externalData: TensorProto['externalData'];
}

function snapshot(t: TensorProto): TensorState {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(t, k);
  return {
    tensor: t,
    own: { rawData: has('rawData'), dataLocation: has('dataLocation') },
    rawData: t.rawData,
    dataLocation: t.dataLocation,
    externalData: t.externalData,
  };
}

function restore(s: TensorState): void {
  const t = s.tensor as unknown as Record<string, unknown>;
  if (s.own.rawData) t.rawData = s.rawData;
  else delete t.rawData;
  if (s.own.dataLocation) t.dataLocation = s.dataLocation;
  else delete t.dataLocation;
  t.externalData = s.externalData;
}

/** Bytes of a tensor's raw payload wherever it lives, or null if it uses typed fields (float_data, ...). */
// Kept importable from here as before; it lives with the other tensor readers (ARCHITECTURE.md: onnx does not import save).
export { rawPayload };

/** Total payload bytes: what decides the 2 GiB rule. */
export function payloadBytes(model: OnnxModel): number {
  let n = 0;
  for (const g of allGraphs(model.proto.graph)) for (const t of g.initializer) n += rawPayload(model, t)?.length ?? 0;
  return n;
}

/**
 * Serializes the model to bytes with every tensor inline. Fails (ModelError from the codec) past 2 GiB;
 * use `saveModel` with external data for such models.
 */
export function encodeModel(model: OnnxModel): Uint8Array {
  const states: TensorState[] = [];
  try {
    for (const g of allGraphs(model.proto.graph)) {
      for (const t of g.initializer) {
        if (!isExternal(t)) continue;
        const payload = model.externalData.get(t);
        if (!payload) throw new UsageError(`tensor '${t.name}' is external and its data was not loaded; load the model with its data`);
        states.push(snapshot(t));
        inline(t, payload);
      }
    }
    return toBinary(ModelProtoSchema, model.proto);
  } finally {
    states.forEach(restore);
  }
}

function inline(t: TensorProto, payload: Uint8Array): void {
  // As onnx's load_external_data_for_tensor: raw_data set, data_location set to DEFAULT, entries cleared.
  t.rawData = payload as Uint8Array<ArrayBuffer>;
  t.dataLocation = TensorProto_DataLocation.DEFAULT;
  t.externalData = [];
}

/** What a save would write, in memory: the model file's chunks and the external data file's (or null). */
export interface RenderedModel {
  path: string;
  dataPath: string | null;
  /** Concatenated, the model file's bytes (large payloads are referenced, not copied). */
  modelChunks: Uint8Array[];
  /** Concatenated, the external data file's bytes, or null when everything is inline. */
  dataChunks: Uint8Array[] | null;
  bytes: number;
  externalBytes: number;
}

/**
 * The bytes `saveModel(model, out, options)` writes, without writing them: `apply --check` compares them with
 * the files on disk. The in-memory model is unchanged afterwards.
 */
export function renderModel(model: OnnxModel, out: string, options: Pick<SaveOptions, 'externalData' | 'threshold'> = {}): RenderedModel {
  const mode = oneOf('externalData', options.externalData, ['auto', 'always', 'never'] as const) ?? 'auto';
  const threshold = numberIn('threshold', options.threshold, 0, Number.MAX_SAFE_INTEGER, true) ?? 1024;
  const outAbs = path.resolve(out);
  const dataName = `${path.basename(outAbs)}.data`;
  const dataAbs = path.join(path.dirname(outAbs), dataName);
  const placements = planExternal(model, mode, threshold);
  const states: TensorState[] = [];
  try {
    let externalBytes = 0;
    for (const p of placements) {
      states.push(snapshot(p.tensor));
      setExternal(p.tensor, dataName, p.offset, p.payload.length);
      externalBytes = Math.max(externalBytes, p.offset + p.payload.length);
    }
    // Tensors that were external but now go inline.
    for (const g of allGraphs(model.proto.graph)) {
      for (const t of g.initializer) {
        if (!isExternal(t) || placements.some((p) => p.tensor === t)) continue;
        const payload = model.externalData.get(t);
        if (!payload) throw new UsageError(`tensor '${t.name}' is external and its data was not loaded; load the model with its data`);
        states.push(snapshot(t));
        inline(t, payload);
      }
    }
    // Payloads go to the file by reference: no copy of the weights is made (issue: large-model save path).
    const chunks = modelChunks(model.proto);
    return {
      path: outAbs,
      dataPath: placements.length > 0 ? dataAbs : null,
      modelChunks: chunks,
      dataChunks: placements.length > 0 ? dataFileChunks(placements) : null,
      bytes: total(chunks),
      externalBytes,
    };
  } finally {
    states.forEach(restore);
  }
}

/**
 * Writes the model atomically (temp file + rename): either the whole new file appears or nothing changes.
 * External data goes to `<basename(out)>.data` beside it. Existing outputs and the input itself are refused
 * unless `force` / `inPlace` say otherwise.
 */
export function saveModel(model: OnnxModel, out: string, options: SaveOptions = {}): SaveResult {
  return stageModel(model, out, options).publish();
}

/**
 * A model written beside its output under temporary names, fsynced, not yet published: `publish` renames it into
 * place, `discard` removes it. `insert` stages before its check run, so onnxruntime reads the patched model from the
 * staged file (no second rendering and write) and this process need not keep the model while the sessions run.
 */
export interface StagedModel {
  /** The staged model file; with external data its references name the final data file, not yet there. */
  readonly stagedPath: string;
  /** Whether the staged model reads an external data file (then onnxruntime cannot load it before `publish`). */
  readonly hasExternalData: boolean;
  publish(): SaveResult;
  discard(): void;
}

function writeFailure(out: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new UsageError(`cannot write ${out}: no space left on the device (${code}); free some space or write elsewhere`, { cause: e });
  }
  if (code) return new UsageError(`cannot write ${out}: ${code}; check that the folder exists and is writable`, { cause: e });
  return e;
}

export function stageModel(model: OnnxModel, out: string, options: SaveOptions = {}): StagedModel {
  const outAbs = path.resolve(out);
  const dataAbs = path.join(path.dirname(outAbs), `${path.basename(outAbs)}.data`);
  checkWritable(model, outAbs, dataAbs, options);
  const tmpFiles: string[] = [];
  const discard = () => {
    for (const f of tmpFiles) effects.fs.rmSync(f, { force: true });
    tmpFiles.length = 0;
  };
  try {
    const rendered = renderModel(model, out, options);
    if (rendered.dataPath && !options.force && !options.inPlace && effects.fs.existsSync(rendered.dataPath)) {
      throw new UsageError(`${rendered.dataPath} already exists (the output's external data file); pass --force to replace it`);
    }
    let tmpData: string | null = null;
    if (rendered.dataChunks) {
      tmpData = tempName(dataAbs);
      tmpFiles.push(tmpData);
      writeFileSynced(tmpData, rendered.dataChunks);
    }
    const tmpModel = tempName(outAbs);
    tmpFiles.push(tmpModel);
    writeFileSynced(tmpModel, rendered.modelChunks);
    const result: SaveResult = { path: outAbs, dataPath: rendered.dataPath, bytes: rendered.bytes, externalBytes: rendered.externalBytes };
    return {
      stagedPath: tmpModel,
      hasExternalData: rendered.dataPath !== null,
      publish() {
        try {
          // Data first: a model file never points at a data file that is not there yet.
          if (tmpData) effects.fs.renameSync(tmpData, dataAbs);
          effects.fs.renameSync(tmpModel, outAbs);
          tmpFiles.length = 0;
          return result;
        } catch (e) {
          discard();
          throw writeFailure(out, e);
        }
      },
      discard,
    };
  } catch (e) {
    discard();
    throw writeFailure(out, e);
  }
}

function checkWritable(model: OnnxModel, outAbs: string, dataAbs: string, options: SaveOptions): void {
  const real = (p: string) => {
    try {
      return effects.fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  if (model.path && !options.inPlace) {
    const inputs = new Set([real(model.path)]);
    const inDir = path.dirname(real(model.path));
    for (const t of model.externalData.keys()) inputs.add(real(path.resolve(inDir, externalRef(t).location)));
    for (const p of [outAbs, dataAbs]) {
      if (inputs.has(real(p))) {
        throw new UsageError(`refusing to overwrite the input ${p}; choose another output or pass --in-place`);
      }
    }
  }
  checkOutputPath(outAbs, options);
}

/** Which tensors go to the external file, and where. */
function planExternal(model: OnnxModel, mode: ExternalDataMode, threshold: number): Placement[] {
  const forced = mode !== 'never' && payloadBytes(model) > PROTOBUF_LIMIT;
  if (mode === 'never') {
    if (payloadBytes(model) > PROTOBUF_LIMIT) {
      throw new UsageError('the model is over 2 GiB, which protobuf cannot hold inline; use --external-data always or auto');
    }
    return [];
  }
  const keepLayout = mode === 'auto' && model.hadExternalData;
  if (mode === 'auto' && !model.hadExternalData && !forced) return [];
  const chosen: { tensor: TensorProto; payload: Uint8Array }[] = [];
  for (const g of allGraphs(model.proto.graph)) {
    for (const t of g.initializer) {
      const payload = rawPayload(model, t);
      if (!payload) continue;
      if (isExternal(t) || payload.length >= threshold) chosen.push({ tensor: t, payload });
    }
  }
  // Keep each tensor at its old offset where the order allows, so an unedited model's data file comes out
  // byte-identical; everything else is appended.
  const sources = new Set(chosen.filter((c) => isExternal(c.tensor)).map((c) => externalRef(c.tensor).location));
  const reuseOffsets = keepLayout || (mode === 'always' && sources.size === 1);
  let cursor = 0;
  return chosen.map(({ tensor, payload }) => {
    let offset = cursor;
    if (reuseOffsets && sources.size === 1 && isExternal(tensor)) {
      const old = externalRef(tensor).offset;
      if (old >= cursor) offset = old;
    }
    cursor = offset + payload.length;
    return { tensor, payload, offset };
  });
}

function setExternal(t: TensorProto, location: string, offset: number, length: number): void {
  const values: Record<string, string> = { location, offset: String(offset), length: String(length) };
  const entries = isExternal(t) ? t.externalData.map((e) => create(StringStringEntryProtoSchema, { key: e.key, value: e.value })) : [];
  for (const [key, value] of Object.entries(values)) {
    const e = entries.find((x) => x.key === key);
    if (e) e.value = value;
    else entries.push(create(StringStringEntryProtoSchema, { key, value }));
  }
  delete (t as unknown as Record<string, unknown>).rawData;
  t.dataLocation = TensorProto_DataLocation.EXTERNAL;
  t.externalData = entries;
}

/** The external data file: every payload at its offset, zero-filled gaps between them. */
function dataFileChunks(placements: Placement[]): Uint8Array[] {
  const sorted = [...placements].sort((a, b) => a.offset - b.offset);
  const chunks: Uint8Array[] = [];
  let cursor = 0;
  for (const p of sorted) {
    if (p.offset > cursor) chunks.push(new Uint8Array(p.offset - cursor));
    chunks.push(p.payload);
    cursor = p.offset + p.payload.length;
  }
  return chunks;
}
