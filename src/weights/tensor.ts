import * as os from 'node:os';
import { MAX_NESTING_DEPTH, placeOf, tooDeep } from '../limits.js';
import { float16Value } from '../onnx/float16.js';

/**
 * What every weights reader returns (`NamedTensor`, `TensorFile`) and the decoding they share: bytes of a dtype to a
 * typed array, shapes, and the depth check run on a parsed header or document before anything walks it.
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

export interface ReadTensorOptions {
  /**
   * The state_dict keys the reader will ask for (without a point prefix `0.`, `1.`, ...), and the module's name
   * for messages: an `.npz` member named otherwise is refused before anything is inflated. With `shapes` (by key),
   * an unprefixed member that declares more inflated bytes than its shape can need (a .npy header and 8-byte
   * values) is refused too; members of other points (`1.`) are held to the size limits alone.
   */
  expect?: { keys: ReadonlySet<string>; module?: string; shapes?: ReadonlyMap<string, readonly number[]> };
}

/** Bytes per element of the dtypes the file readers decode. */
export const ITEM_SIZE: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 };

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/** Refuses data nested deeper than MAX_NESTING_DEPTH before anything recursive walks it. */
export function checkDepth(doc: unknown, bad: (what: string) => Error): void {
  const deep = tooDeep(doc);
  if (deep) throw bad(`${placeOf('', deep, 6) || 'the top level'} nests deeper than ${MAX_NESTING_DEPTH} levels of arrays and objects (the limit)`);
}

/**
 * Little-endian (or, with `bigEndian`, big-endian) bytes to a typed array. Copies, so the result is aligned and
 * does not keep the file buffer alive.
 */
export function decode(bytes: Uint8Array, dtype: string, count: number, bigEndian = false): NamedTensor['data'] {
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
