import { BuildError, DataFileError } from '../errors.js';
import { MAX_NPZ_INFLATED_BYTES, MAX_NPZ_MEMBER_BYTES, MAX_NPZ_MEMBERS, mib } from '../limits.js';
import { cut, fmtShape, listKeys } from './messages.js';
import { decode, ITEM_SIZE, numel, type NamedTensor, type ReadTensorOptions, type TensorFile } from './tensor.js';
import { zipReader } from './zip.js';

/** npz: a zip of `<key>.npy` files (numpy's savez forces zip64 headers; fflate reads them). */

/** .npy `descr` (without the byte-order character) to our dtype. */
const NPY_DTYPE: Record<string, string> = { f4: 'F32', f8: 'F64', f2: 'F16', i8: 'I64', i4: 'I32' };

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
export function parseNpz(file: string, u8: Uint8Array, expect?: ReadTensorOptions['expect']): TensorFile {
  const invalid = (why: string) => new DataFileError(`${file}: not a valid .npz (zip) file: ${why}`);
  const members = new Map<string, NpzMember>();
  const { Unzip, UnzipInflate, unzipSync } = zipReader();
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
