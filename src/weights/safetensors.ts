import { effects } from '../effects.js';
import { BuildError, DataFileError } from '../errors.js';
import { tooDeep } from '../limits.js';
import { cut, fmtShape, listKeys, preview } from './messages.js';
import { checkDepth, decode, isShape, ITEM_SIZE, numel, type NamedTensor, type ReadTensorOptions, type TensorFile } from './tensor.js';

/** safetensors: u64 LE header length N, N bytes of JSON, then the data section the offsets index into. */

/** The largest safetensors header we parse (the format's own reference reader refuses 100 MB as well). */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

/**
 * Reads only a safetensors file's header, before the file is read whole: a key the module does not have, a tensor
 * larger than its key's shape, or bytes no tensor owns are refused here, so what is then read is what the module
 * can use. Anything malformed is left to parseSafetensors, which says what is wrong with it.
 */
export function checkSafetensorsHeader(file: string, size: number, expect: NonNullable<ReadTensorOptions['expect']>): void {
  const fd = effects.fs.openSync(file, 'r');
  let header: unknown;
  let headerLen: number;
  try {
    const lead = Buffer.alloc(8);
    if (size < 8 || effects.fs.readSync(fd, lead, 0, 8, 0) !== 8) return;
    const n = lead.readBigUInt64LE(0);
    if (n > BigInt(MAX_SAFETENSORS_HEADER) || 8n + n > BigInt(size)) return;
    headerLen = Number(n);
    const text = Buffer.alloc(headerLen);
    if (effects.fs.readSync(fd, text, 0, headerLen, 8) !== headerLen) return;
    header = JSON.parse(text.toString('utf8'));
  } catch {
    return;
  } finally {
    effects.fs.closeSync(fd);
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

export function parseSafetensors(file: string, u8: Uint8Array): TensorFile {
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
