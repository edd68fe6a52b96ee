import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Unzip, UnzipInflate, unzipSync } from 'fflate';
import { BuildError, DataFileError, UsageError } from '../errors.js';
import {
  MAX_NESTING_DEPTH,
  MAX_NPZ_INFLATED_BYTES,
  MAX_NPZ_MEMBER_BYTES,
  MAX_NPZ_MEMBERS,
  MAX_WEIGHTS_FILE_BYTES,
  MAX_WEIGHTS_JSON_BYTES,
  mib,
  placeOf,
  tooDeep,
} from '../limits.js';
import type { ParamSpec } from './types.js';
import { float16Value } from '../onnx/float16.js';
import { readCheckpointTensorFile } from '../weights/torch-checkpoint.js';
import { editDistance, nearestFirst } from '../nearest.js';

/**
 * Module weights: reading a reference state_dict from `--weights FILE` (.safetensors, .npz, .json), matching it to
 * a module's `ParamSpec`s, and the seeded `--init torch|random` weights used when no file is given.
 *
 * Reading never trusts the file: a path that names no regular file is a `UsageError` (exit 2); every malformed,
 * too deep or too large content is a one-line `DataFileError` (exit 4) that names the file and what is wrong, found
 * before the content is walked or inflated (limits in src/limits.ts). Matching a well-formed file to a module is a
 * `BuildError` (exit 4): a missing key, a wrong shape, or keys the module does not use (someone else's module's file).
 */

/** One tensor as stored in a weights file. */
export interface NamedTensor {
  /**
   * The dtype in the file, in safetensors spelling: F32, F64, F16, BF16, I64 or I32 (JSON numbers read as F64).
   * F16 and BF16 values are widened to a Float32Array.
   */
  dtype: string;
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array;
}

export interface TensorFile {
  tensors: Map<string, NamedTensor>;
  /** safetensors `__metadata__`, or a JSON file's `__metadata__` object; empty otherwise. */
  metadata: Record<string, string>;
}

/** The largest safetensors header we parse (the format's own reference reader refuses 100 MB as well). */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

const ITEM_SIZE: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 };

/** .npy `descr` (without the byte-order character) to our dtype. */
const NPY_DTYPE: Record<string, string> = { f4: 'F32', f8: 'F64', f2: 'F16', i8: 'I64', i4: 'I32' };

export interface ReadTensorOptions {
  /**
   * The state_dict keys the reader will ask for (without a point prefix `0.`, `1.`, ...), and the module's name
   * for messages: an `.npz` member named otherwise is refused before anything is inflated. With `shapes` (by key),
   * an unprefixed member that declares more inflated bytes than its shape can need (a .npy header and 8-byte
   * values) is refused too; members of other points (`1.`) are held to the size limits alone.
   */
  expect?: { keys: ReadonlySet<string>; module?: string; shapes?: ReadonlyMap<string, readonly number[]> };
}

/**
 * Reads a weights file by its extension: `.safetensors`, `.npz` (numpy `savez`/`savez_compressed`) or `.json`
 * (`{key: nested arrays}` or `{key: {shape: [...], data: [...]}}`).
 *
 * Raises: UsageError for a missing or unreadable path or an unknown extension; DataFileError for any truncated,
 * corrupt, inconsistent, too deep or too large content; BuildError for `.npz` members outside `expect`.
 * Cost: one read of the file, one copy of each tensor's bytes; `.npz` members are inflated one at a time, each
 * into a buffer of its declared size.
 */
export function readTensorFile(file: string, options: ReadTensorOptions = {}): TensorFile {
  const ext = path.extname(file).toLowerCase();
  // PyTorch checkpoints: an inert pickle reader, src/weights/torch-checkpoint.ts.
  if (ext === '.pt' || ext === '.pth') return readCheckpointTensorFile(file);
  if (!['.safetensors', '.npz', '.json'].includes(ext)) {
    const hint = ['.bin', '.ckpt'].includes(ext) ? '; save the state_dict with safetensors.torch.save_file or numpy.savez first' : '';
    throw new UsageError(
      `${file}: unknown weights format '${ext || '(no extension)'}' (expected .safetensors, .npz, .json, or a PyTorch checkpoint .pt or .pth)${hint}`,
    );
  }
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    // A FIFO or a device would block the read or never end.
    if (!stat.isFile()) throw new UsageError(`${file}: not a regular file; give a .safetensors, .npz or .json file`);
    const limit = ext === '.json' ? MAX_WEIGHTS_JSON_BYTES : MAX_WEIGHTS_FILE_BYTES;
    if (stat.size > limit)
      throw new DataFileError(
        `${file}: ${stat.size} bytes, over the ${mib(limit)} limit for a ${ext} weights file${ext === '.json' ? '; save large weights as .safetensors or .npz' : ''}`,
      );
    if (ext === '.safetensors' && options.expect) checkSafetensorsHeader(file, stat.size, options.expect);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError || e instanceof DataFileError || e instanceof BuildError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? String(e)})`;
    throw new UsageError(`${file}: ${why}`);
  }
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (ext === '.safetensors') return parseSafetensors(file, u8);
  if (ext === '.npz') return parseNpz(file, u8, options.expect);
  return parseJson(file, bytes.toString('utf8'), options.expect);
}

// ---------------------------------------------------------------------------------------------------------------
// Shared decoding

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const fmtShape = (shape: readonly number[]) =>
  shape.length > 16 ? `[${shape.slice(0, 16).join(', ')}, … (${shape.length} dims)]` : `[${shape.join(', ')}]`;
/** A key or name from the file, cut short for a message: a damaged file's key can be megabytes. */
const cut = (s: string, max = 120) => (s.length > max ? `${s.slice(0, max)}…` : s);

/** A value as JSON for a message, cut short: a shape of a million numbers is not a message. */
function preview(v: unknown, max = 80): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Refuses data nested deeper than MAX_NESTING_DEPTH before anything recursive walks it. */
function checkDepth(doc: unknown, bad: (what: string) => Error): void {
  const deep = tooDeep(doc);
  if (deep) throw bad(`${placeOf('', deep, 6) || 'the top level'} nests deeper than ${MAX_NESTING_DEPTH} levels of arrays and objects (the limit)`);
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/**
 * Little-endian (or, with `bigEndian`, big-endian) bytes to a typed array. Copies, so the result is aligned and
 * does not keep the file buffer alive.
 */
function decode(bytes: Uint8Array, dtype: string, count: number, bigEndian = false): NamedTensor['data'] {
  const size = ITEM_SIZE[dtype]!;
  const copy = bytes.slice(0, count * size);
  if (bigEndian !== (os.endianness() === 'BE')) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf, 0, count);
    case 'F64':
      return new Float64Array(buf, 0, count);
    case 'I64':
      return new BigInt64Array(buf, 0, count);
    case 'I32':
      return new Int32Array(buf, 0, count);
    case 'F16': {
      const h = new Uint16Array(buf, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = float16Value(h[i]!);
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(buf, 0, count);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = h[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new Error(`unreachable dtype ${dtype}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors: u64 LE header length N, N bytes of JSON, then the data section the offsets index into.

/**
 * Reads only a safetensors file's header, before the file is read whole: a key the module does not have, a tensor
 * larger than its key's shape, or bytes no tensor owns are refused here, so what is then read is what the module
 * can use. Anything malformed is left to parseSafetensors, which says what is wrong with it.
 */
function checkSafetensorsHeader(file: string, size: number, expect: NonNullable<ReadTensorOptions['expect']>): void {
  const fd = fs.openSync(file, 'r');
  let header: unknown;
  let headerLen: number;
  try {
    const lead = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, lead, 0, 8, 0) !== 8) return;
    const n = lead.readBigUInt64LE(0);
    if (n > BigInt(MAX_SAFETENSORS_HEADER) || 8n + n > BigInt(size)) return;
    headerLen = Number(n);
    const text = Buffer.alloc(headerLen);
    if (fs.readSync(fd, text, 0, headerLen, 8) !== headerLen) return;
    header = JSON.parse(text.toString('utf8'));
  } catch {
    return;
  } finally {
    fs.closeSync(fd);
  }
  if (tooDeep(header) || typeof header !== 'object' || header === null || Array.isArray(header)) return;
  let lastEnd = 0;
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') continue;
    if (!expect.keys.has(key.replace(/^\d+\./, ''))) {
      throw new BuildError(
        `${file}: ${cut(key)} is not a tensor of ${expect.module ?? 'the module'} (another module's or variant's weights?); expected: ${listKeys([...expect.keys])}; nothing was read past the header`,
      );
    }
    const { shape, data_offsets: offsets } = (entry ?? {}) as { shape?: unknown; data_offsets?: unknown };
    const expected = expect.shapes?.get(key);
    if (expected && isShape(shape) && numel(shape) > numel(expected)) {
      throw new BuildError(`${file}: ${cut(key)} has shape ${fmtShape(shape)}, expected ${fmtShape(expected)}; nothing was read past the header`);
    }
    if (Array.isArray(offsets) && Number.isSafeInteger(offsets[1])) lastEnd = Math.max(lastEnd, offsets[1] as number);
  }
  const dataLen = size - 8 - headerLen;
  // The format indexes its whole byte buffer (the reference reader refuses bytes past the last tensor too).
  if (dataLen > lastEnd)
    throw new DataFileError(
      `${file}: not a valid safetensors file: ${dataLen - lastEnd} bytes after its last tensor belong to none; nothing was read past the header`,
    );
}

function parseSafetensors(file: string, u8: Uint8Array): TensorFile {
  const bad = (what: string) => new DataFileError(`${file}: not a valid safetensors file: ${what}`);
  if (u8.length < 8) throw bad(`truncated (${u8.length} bytes, the header length alone takes 8)`);
  const n = new DataView(u8.buffer, u8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_SAFETENSORS_HEADER)) throw bad(`header length ${n} exceeds the ${MAX_SAFETENSORS_HEADER}-byte limit`);
  const headerLen = Number(n);
  if (8 + headerLen > u8.length) throw bad(`truncated (header of ${headerLen} bytes runs past the end of the ${u8.length}-byte file)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(u8.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  checkDepth(header, (what) => bad(`header: ${what}`));
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header is not a JSON object');
  const data = u8.subarray(8 + headerLen);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, NamedTensor>();
  let lastEnd = 0;
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${cut(k)} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null) throw bad(`entry ${cut(key)} is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
      throw bad(`${cut(key)} has dtype ${preview(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`);
    }
    if (!isShape(shape)) throw bad(`${cut(key)} has shape ${preview(shape)}, not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`${cut(key)} has data_offsets ${preview(offsets)}, not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > data.length) {
      throw bad(`${cut(key)} data_offsets [${begin}, ${end}] lie outside the ${data.length}-byte data section (truncated?)`);
    }
    const count = numel(shape);
    if (end - begin !== count * ITEM_SIZE[dtype]!) {
      throw bad(`${cut(key)} holds ${end - begin} bytes, but ${dtype} ${fmtShape(shape)} needs ${count * ITEM_SIZE[dtype]!}`);
    }
    tensors.set(key, { dtype, shape: [...shape], data: decode(data.subarray(begin, end), dtype, count) });
    lastEnd = Math.max(lastEnd, end);
  }
  if (data.length > lastEnd) throw bad(`${data.length - lastEnd} bytes after its last tensor belong to none`);
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// npz: a zip of `<key>.npy` files (numpy's savez forces zip64 headers; fflate reads them).

/** The largest .npy header a member may carry, for the size an expected shape can take (numpy writes ~128 bytes). */
const NPY_HEADER_MAX = 64 * 1024;

interface NpzMember {
  name: string;
  /** Compressed size and inflated size as the zip's central directory declares them. */
  size: number;
  originalSize: number;
  compression: number;
}

/**
 * The zip's directory is read first (fflate's unzipSync with a filter that inflates nothing): member names, counts
 * and declared sizes are checked against the limits and `expect` before a byte is inflated. Members are then
 * inflated by fflate's streaming Unzip, 64 KiB of input at a time, each into a buffer of its declared size: one
 * that inflates past it is stopped there, so a zip bomb costs at most its declared sizes (which are capped). What
 * is inflated must then agree with its .npy header's shape (parseNpy).
 */
function parseNpz(file: string, u8: Uint8Array, expect?: ReadTensorOptions['expect']): TensorFile {
  const invalid = (why: string) => new DataFileError(`${file}: not a valid .npz (zip) file: ${why}`);
  const members = new Map<string, NpzMember>();
  try {
    unzipSync(u8, {
      filter: (m) => {
        if (members.size >= MAX_NPZ_MEMBERS) throw new DataFileError(`${file}: more than ${MAX_NPZ_MEMBERS} members (the limit for a .npz); not inflated`);
        if (members.has(m.name)) throw new DataFileError(`${file}: member ${cut(m.name)} appears twice in the .npz; not inflated`);
        members.set(m.name, { name: m.name, size: m.size, originalSize: m.originalSize, compression: m.compression });
        return false;
      },
    });
  } catch (e) {
    if (e instanceof DataFileError) throw e;
    throw invalid((e as Error).message);
  }
  let total = 0;
  for (const m of members.values()) {
    if (m.name.endsWith('/')) continue; // a directory entry
    if (!m.name.endsWith('.npy')) throw new DataFileError(`${file}: member ${cut(m.name)} of the .npz is not a .npy array`);
    if (expect) {
      const key = m.name.slice(0, -4).replace(/^\d+\./, '');
      if (!expect.keys.has(key)) {
        throw new BuildError(
          `${file}: member ${cut(m.name)} is not a tensor of ${expect.module ?? 'the module'} (another module's or variant's weights?); expected: ${listKeys([...expect.keys])}; nothing was inflated`,
        );
      }
    }
    const shape = expect?.shapes?.get(m.name.slice(0, -4));
    if (shape && m.originalSize > NPY_HEADER_MAX + numel(shape) * 8) {
      throw new DataFileError(
        `${file}: member ${cut(m.name)} declares ${m.originalSize} bytes inflated, more than a ${fmtShape(shape)} array can take (${NPY_HEADER_MAX + numel(shape) * 8} with its header); not inflated`,
      );
    }
    if (m.compression !== 0 && m.compression !== 8)
      throw new DataFileError(`${file}: member ${cut(m.name)} uses zip compression method ${m.compression}; numpy writes 0 (savez) or 8 (savez_compressed)`);
    if (m.originalSize > MAX_NPZ_MEMBER_BYTES) {
      throw new DataFileError(
        `${file}: member ${cut(m.name)} declares ${m.originalSize} bytes inflated, over the ${mib(MAX_NPZ_MEMBER_BYTES)} limit for one .npz member; not inflated`,
      );
    }
    total += m.originalSize;
    if (total > MAX_NPZ_INFLATED_BYTES)
      throw new DataFileError(`${file}: its members declare over ${mib(MAX_NPZ_INFLATED_BYTES)} inflated, the limit for a .npz; not inflated`);
  }

  const inflated = new Map<string, Uint8Array>();
  let failure: Error | null = null;
  const unzip = new Unzip();
  unzip.register(UnzipInflate);
  unzip.onfile = (f) => {
    const m = members.get(f.name);
    if (!m) {
      failure ??= invalid(`member ${cut(f.name)} is not in the zip's directory`);
      return;
    }
    if (m.name.endsWith('/')) return;
    const out = new Uint8Array(m.originalSize);
    let n = 0;
    f.ondata = (err, chunk, final) => {
      if (failure) return;
      if (err) {
        failure = invalid(`member ${cut(f.name)}: ${err.message}`);
        return;
      }
      if (n + chunk.length > out.length) {
        failure = new DataFileError(`${file}: member ${cut(f.name)} inflates past the ${out.length} bytes its zip entry declares; stopped there`);
        f.terminate();
        return;
      }
      out.set(chunk, n);
      n += chunk.length;
      if (final) {
        if (n !== out.length)
          failure = new DataFileError(`${file}: member ${cut(f.name)} inflates to ${n} bytes, not the ${out.length} its zip entry declares`);
        else inflated.set(f.name, out);
      }
    };
    f.start();
  };
  const STEP = 64 * 1024;
  try {
    for (let i = 0; i < u8.length && !failure; i += STEP) unzip.push(u8.subarray(i, Math.min(i + STEP, u8.length)), i + STEP >= u8.length);
  } catch (e) {
    failure ??= invalid((e as Error).message);
  }
  if (failure) throw failure;

  const tensors = new Map<string, NamedTensor>();
  for (const m of members.values()) {
    if (m.name.endsWith('/')) continue;
    const bytes = inflated.get(m.name);
    if (!bytes) throw invalid(`member ${cut(m.name)} is in the zip's directory but its data was not found`);
    tensors.set(m.name.slice(0, -4), parseNpy(`${file}: ${cut(m.name)}`, bytes));
  }
  return { tensors, metadata: {} };
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * One .npy array (format versions 1.0, 2.0 and 3.0). `where` prefixes every error message.
 * The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
 */
export function parseNpy(where: string, u8: Uint8Array): NamedTensor {
  const bad = (what: string) => new DataFileError(`${where}: not a valid .npy array: ${what}`);
  if (u8.length < 10 || !NPY_MAGIC.every((b, i) => u8[i] === b)) throw bad('missing the \\x93NUMPY magic');
  const major = u8[6]!;
  if (major < 1 || major > 3) throw bad(`unsupported format version ${major}.${u8[7]}`);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const lenSize = major === 1 ? 2 : 4;
  if (u8.length < 8 + lenSize) throw bad('truncated header');
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenSize;
  if (start + headerLen > u8.length) throw bad(`truncated (header of ${headerLen} bytes runs past the end)`);
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(u8.subarray(start, start + headerLen));
  } catch {
    throw bad('header is not text');
  }
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!header.trim().startsWith('{') || descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(`header ${JSON.stringify(header.trim().slice(0, 120))} lacks 'descr', 'fortran_order' or 'shape'`);
  }
  if (fortran === 'True') throw bad('fortran_order is True (save a C-contiguous array: numpy.ascontiguousarray)');
  const order = descr[0];
  const dtype = NPY_DTYPE[descr.slice(1)];
  if (!dtype || !['<', '>', '|', '='].includes(order!)) {
    throw bad(`dtype '${descr}' is not supported (float32, float64, float16, int64 or int32)`);
  }
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const shape = dims.map((s) => (/^\d+L?$/.test(s) ? Number.parseInt(s, 10) : NaN));
  if (!shape.every((d) => Number.isSafeInteger(d))) throw bad(`shape (${shapeText}) is not a tuple of integers`);
  const count = numel(shape);
  const payload = u8.subarray(start + headerLen);
  const need = count * ITEM_SIZE[dtype]!;
  if (payload.length !== need) {
    throw bad(`${descr} ${fmtShape(shape)} needs ${need} data bytes, found ${payload.length}${payload.length < need ? ' (truncated)' : ''}`);
  }
  return { dtype, shape, data: decode(payload, dtype, count, order === '>') };
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

/** With `expect`, a key the module does not have, or more values than its shape takes, is refused before it is copied. */
function parseJson(file: string, text: string, expect?: ReadTensorOptions['expect']): TensorFile {
  const bad = (what: string) => new DataFileError(`${file}: not a valid weights JSON file: ${what}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`${(e as Error).message.split('\n')[0]}`);
  }
  checkDepth(doc, bad);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('the top level is not an object {key: array}');
  const tensors = new Map<string, NamedTensor>();
  const metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (key === '__metadata__' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [k, s] of Object.entries(v)) metadata[k] = typeof s === 'string' ? s : JSON.stringify(s);
      continue;
    }
    if (expect && !expect.keys.has(key.replace(/^\d+\./, ''))) {
      throw new BuildError(
        `${file}: ${cut(key)} is not a tensor of ${expect.module ?? 'the module'} (another module's or variant's weights?); expected: ${listKeys([...expect.keys])}`,
      );
    }
    const expected = expect?.shapes?.get(key);
    const tooMany = (n: number) => {
      if (expected && n > numel(expected))
        throw new BuildError(`${file}: ${cut(key)} holds ${n} values, more than the ${numel(expected)} of ${fmtShape(expected)}`);
    };
    let shape: number[];
    let flat: unknown[];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const { shape: s, data } = v as { shape?: unknown; data?: unknown };
      if (!isShape(s)) throw bad(`${cut(key)}.shape is ${preview(s)}, not a list of non-negative integers`);
      if (!Array.isArray(data) && typeof data !== 'number') throw bad(`${cut(key)}.data is not an array of numbers`);
      shape = s;
      if (Array.isArray(data)) tooMany(data.length);
      flat = Array.isArray(data) ? data.flat(Infinity) : [data];
      if (flat.length !== numel(shape)) throw bad(`${cut(key)} has ${flat.length} values, but shape ${fmtShape(shape)} needs ${numel(shape)}`);
    } else {
      const inferred = nestedShape(v);
      if (inferred === null) throw bad(`${cut(key)} is not a number, a rectangular nested array of numbers, or {shape, data}`);
      tooMany(numel(inferred));
      shape = inferred;
      flat = Array.isArray(v) ? v.flat(Infinity) : [v];
    }
    const data = new Float64Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const x = flat[i];
      if (typeof x !== 'number') throw bad(`${cut(key)} holds ${preview(x)}, not a number`);
      data[i] = x;
    }
    tensors.set(key, { dtype: 'F64', shape, data });
  }
  return { tensors, metadata };
}

/** The shape of a rectangular nested array of numbers, or null. */
function nestedShape(v: unknown): number[] | null {
  if (typeof v === 'number') return [];
  if (!Array.isArray(v)) return null;
  if (v.length === 0) return [0];
  const inner = nestedShape(v[0]);
  if (inner === null) return null;
  for (let i = 1; i < v.length; i++) {
    const s = nestedShape(v[i]);
    if (s === null || s.length !== inner.length || s.some((d, j) => d !== inner[j])) return null;
  }
  return [v.length, ...inner];
}

// ---------------------------------------------------------------------------------------------------------------
// Matching a file to a module

export interface ResolveOptions {
  /** Key prefix of this insertion point in a multi-point file: `0.`, `1.`, ... (default none). */
  prefix?: string;
  /** Module name for messages, e.g. `NAM`. */
  module?: string;
  /** Context for shape messages, e.g. `C=64`, appended as ` (C=64)`. */
  context?: string;
}

/** A point prefix (`0.`, `12.`): no reference state_dict key starts with a digit. */
const POINT_PREFIX = /^(\d+)\./;

/** The point indices a multi-point file's keys carry (`0.`, `1.`, ...), sorted; empty for a single-point file. */
export function pointPrefixes(tensors: ReadonlyMap<string, unknown>): number[] {
  const found = new Set<number>();
  for (const key of tensors.keys()) {
    const m = POINT_PREFIX.exec(key);
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/** `a, b, c` nearest to `target` first, at most `limit` of them. */
function nearestList(target: string, keys: readonly string[], limit = 8): string {
  if (keys.length === 0) return '(none)';
  // Each distance once; keys far longer than any state_dict key are not worth an O(|a|·|b|) comparison.
  const sorted = nearestFirst(target, keys, (t, k) => (k.length > 256 ? Infinity : editDistance(t, k)));
  const shown = sorted
    .slice(0, limit)
    .map((k) => cut(k))
    .join(', ');
  return keys.length > limit ? `${shown}, ... (${keys.length - limit} more)` : shown;
}

function listKeys(keys: readonly string[], limit = 8): string {
  const shown = keys
    .slice(0, limit)
    .map((k) => cut(k))
    .join(', ');
  return keys.length > limit ? `${shown}, ... (${keys.length - limit} more)` : shown;
}

function toFloat32(t: NamedTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  return Float32Array.from(t.data);
}

/**
 * Picks each param's tensor from a read file (`prefix` + key) and converts it to float32.
 * `num_batches_tracked` (init `count`) is optional and never returned.
 *
 * Raises: BuildError when a key is missing (naming the key and the file's keys, nearest first), a shape differs
 * (`w.safetensors: Channel_Att.bn2.weight has shape [32], expected [64] (C=64)`), a value is not finite, or the file
 * holds keys the module does not use (keys of other points, `<k>.`, are allowed when `prefix` is given).
 */
export function resolveWeights(
  params: readonly ParamSpec[],
  file: string,
  tensors: ReadonlyMap<string, NamedTensor>,
  options: ResolveOptions = {},
): Map<string, Float32Array> {
  const prefix = options.prefix ?? '';
  const context = options.context ? ` (${options.context})` : '';
  const fileKeys = [...tensors.keys()];
  const wanted = new Set(params.map((p) => prefix + p.key));

  const missing = params.filter((p) => p.init.kind !== 'count' && !tensors.has(prefix + p.key)).map((p) => prefix + p.key);
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more missing: ${listKeys(missing.slice(1), 4)})` : '';
    throw new BuildError(
      `${file}: no tensor ${missing[0]}${more}${options.module ? ` for ${options.module}` : ''}; the file has: ${nearestList(missing[0]!, fileKeys)}`,
    );
  }

  const out = new Map<string, Float32Array>();
  for (const p of params) {
    const key = prefix + p.key;
    const t = tensors.get(key);
    if (!t) continue; // an absent num_batches_tracked
    if (p.init.kind === 'count') {
      if (numel(t.shape) !== 1) throw new BuildError(`${file}: ${key} has shape ${fmtShape(t.shape)}, expected [] (a counter)`);
      continue;
    }
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new BuildError(`${file}: ${key} has shape ${fmtShape(t.shape)}, expected ${fmtShape(p.shape)}${context}`);
    }
    const values = toFloat32(t);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new BuildError(`${file}: ${key} holds ${values[bad]} at flat index ${bad}; weights must be finite`);
    const negative = key.endsWith('running_var') ? values.findIndex((v) => v < 0) : -1;
    if (negative >= 0) throw new BuildError(`${file}: ${key} holds ${values[negative]} at flat index ${negative}; a variance cannot be negative`);
    out.set(p.key, values);
  }

  const extra = fileKeys.filter((k) => {
    if (wanted.has(k)) return false;
    if (prefix !== '') {
      const m = POINT_PREFIX.exec(k);
      if (m && `${m[1]}.` !== prefix) return false; // another point's key
    }
    return true;
  });
  if (extra.length > 0) {
    throw new BuildError(
      `${file}: ${extra.length} key(s) the ${options.module ?? 'module'}${prefix ? ` at point ${prefix.slice(0, -1)}` : ''} does not use: ${listKeys(extra)} (another module's or variant's weights?); expected: ${listKeys([...wanted])}`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded initialisation

/**
 * xoshiro128** (Blackman and Vigna, 2018): a small, fast 32-bit generator with a 2^128 − 1 period, seeded through
 * splitmix32. It does NOT reproduce torch's RNG stream: `--init torch` gives values from the same distributions as
 * PyTorch's default initialisation, not the same values as `torch.manual_seed(seed)` would.
 */
export class Xoshiro128 {
  private s: Uint32Array;

  /** State from splitmix32, with each seed word folded into the splitmix counter in turn. */
  constructor(...seeds: number[]) {
    let x = 0;
    const splitmix32 = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (const s of seeds) x = (splitmix32() ^ s) | 0;
    this.s = new Uint32Array([splitmix32(), splitmix32(), splitmix32(), splitmix32()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** The next 32 random bits. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller, one value per call). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a of a string, so each key gets its own stream (values do not shift when params are added or reordered). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The two 32-bit halves of a (safe-integer) seed. */
function seedWords(seed: number): [number, number] {
  const s = Math.trunc(seed);
  return [s >>> 0, Math.floor(s / 4294967296) >>> 0];
}

/**
 * Weights when no file is given. `torch`: PyTorch's default initialisation per `InitRule` (BN γ=1, β=0, mean 0,
 * var 1; Conv/Linear weights kaiming_uniform(a=√5) = U(±1/√fan_in), biases U(±1/√fan_in)). `random`: the same
 * Conv/Linear draws, but BN affine parameters and statistics randomized (γ ~ ±U(0.5, 1.5) with random signs,
 * β ~ N(0, 0.1), running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5)) so that the module is not identity-like.
 * `num_batches_tracked` (`count`) is skipped. Each key draws from its own stream seeded by (seed, key), so the same
 * seed always gives the same values. For several points use a different seed per point (e.g. seed + k).
 */
export function initWeights(params: readonly ParamSpec[], init: 'torch' | 'random', seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const [lo, hi] = seedWords(seed);
  for (const p of params) {
    const rule = p.init;
    if (rule.kind === 'count') continue;
    const n = numel(p.shape);
    const v = new Float32Array(n);
    const rng = new Xoshiro128(lo, hi, fnv1a(p.key));
    const leaf = p.key.slice(p.key.lastIndexOf('.') + 1);
    switch (rule.kind) {
      case 'kaiming':
      case 'bias': {
        const bound = 1 / Math.sqrt(rule.fanIn);
        // Float32 rounding can land a value just inside the bound on it, never past it.
        for (let i = 0; i < n; i++) v[i] = rng.uniform(-bound, bound);
        break;
      }
      case 'ones':
        if (init === 'torch') v.fill(1);
        else if (leaf === 'running_var') for (let i = 0; i < n; i++) v[i] = rng.uniform(0.5, 1.5);
        else for (let i = 0; i < n; i++) v[i] = rng.uniform(0.5, 1.5) * (rng.next() < 0.5 ? -1 : 1);
        break;
      case 'zeros':
        if (init === 'random') for (let i = 0; i < n; i++) v[i] = 0.1 * rng.normal();
        break;
    }
    out.set(p.key, v);
  }
  return out;
}
