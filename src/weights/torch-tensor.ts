import { CheckpointError } from '../errors.js';
import { float16Value } from '../onnx/float16.js';
import { kindOf, Opaque, PickleError, PyGlobal, PyTuple, type PickleValue } from './pickle-values.js';
import type { NamedTensor } from './tensor.js';

/**
 * A checkpoint's tensors: the storages they view, the tensor-rebuild calls a pickle makes to build them (checked
 * against their storage), and decoding a view to values.
 */

/** An element type of a PyTorch storage. */
export type TorchDtype = 'F16' | 'BF16' | 'F32' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const STORAGE_TYPES: Record<string, { dtype: TorchDtype; size: number }> = {
  HalfStorage: { dtype: 'F16', size: 2 },
  BFloat16Storage: { dtype: 'BF16', size: 2 },
  FloatStorage: { dtype: 'F32', size: 4 },
  DoubleStorage: { dtype: 'F64', size: 8 },
  LongStorage: { dtype: 'I64', size: 8 },
  IntStorage: { dtype: 'I32', size: 4 },
  ShortStorage: { dtype: 'I16', size: 2 },
  CharStorage: { dtype: 'I8', size: 1 },
  ByteStorage: { dtype: 'U8', size: 1 },
  BoolStorage: { dtype: 'BOOL', size: 1 },
};

export interface Storage {
  key: string;
  dtype: TorchDtype;
  itemSize: number;
  numel: number;
  bytes: Uint8Array;
  bigEndian: boolean;
}

/** A tensor as the checkpoint stores it: a view (offset, sizes, strides in elements) of a storage. */
export interface TensorRef {
  dtype: TorchDtype;
  shape: number[];
  stride: number[];
  offset: number;
  storage: Storage;
}

/** A malformed checkpoint (errors.ts); parseTorchCheckpoint turns it into a DataFileError naming the file. */
export { CheckpointError };

/** The tensor-rebuild functions a checkpoint calls; anything else is refused by the pickle reader. */
export function rebuild(fn: PyGlobal, args: PickleValue[]): PickleValue | undefined {
  switch (fn.qualified) {
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      return tensorOf(args);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      const t = args[0];
      if (!(t instanceof Opaque && t.what === 'tensor')) throw new PickleError(`${fn.qualified} of a ${kindOf(t)}, not a tensor`);
      return t;
    }
    case 'torch._tensor._rebuild_from_type':
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): a tensor subclass (nn.Parameter); only func runs, and only if allowed.
      const [inner, , innerArgs] = args;
      if (!(inner instanceof PyGlobal) || !(innerArgs instanceof PyTuple)) throw new PickleError(`${fn.qualified} with malformed arguments`);
      const t = rebuild(inner, innerArgs.items);
      if (t === undefined)
        throw new PickleError(`the pickle calls ${inner.qualified} (through ${fn.qualified}), which is not a tensor-rebuild function; refusing to load it`);
      return t;
    }
    default:
      return undefined;
  }
}

function tensorOf(args: PickleValue[]): Opaque {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Opaque && storage.what === 'storage')) throw new PickleError(`a tensor rebuilt from a ${kindOf(storage)}, not a storage`);
  const s = storage.payload as Storage;
  const ints = (v: PickleValue | undefined, what: string): number[] => {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
    if (!items || items.length > 32 || !items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`a tensor on storage ${s.key} has ${what} ${kindOf(v)} that is not a tuple of non-negative integers`);
    }
    return items as number[];
  };
  const shape = ints(size, 'sizes');
  const strides = ints(stride, 'strides');
  if (strides.length !== shape.length) throw new CheckpointError(`a tensor on storage ${s.key} has ${shape.length} sizes and ${strides.length} strides`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw new CheckpointError(`a tensor on storage ${s.key} has offset ${String(offset)}`);
  const numel = shape.reduce((a, b) => a * b, 1);
  // Views may repeat elements (stride 0), but not without bound: decoding allocates numel values.
  if (!Number.isSafeInteger(numel) || numel > Math.max(16 * s.numel, 1 << 20)) {
    throw new CheckpointError(`a tensor [${shape.join(', ')}] on storage ${s.key} of ${s.numel} elements has too many elements`);
  }
  if (numel > 0) {
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * strides[i]!;
    if (!(last < s.numel)) {
      throw new CheckpointError(
        `a tensor view [${shape.join(', ')}] (offset ${offset}, strides [${strides.join(', ')}]) runs past its storage ${s.key} of ${s.numel} elements`,
      );
    }
  }
  const ref: TensorRef = { dtype: s.dtype, shape, stride: strides, offset, storage: s };
  return new Opaque('tensor', ref);
}

/**
 * A tensor's values in row-major order, gathered through its strides and offset: F16 and BF16 widened to float32
 * (exactly), F32 and F64 as they are, I64 as BigInt64, smaller integers and bools as I32.
 */
export function decodeTensor(t: TensorRef): NamedTensor {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const s = t.storage;
  const dv = new DataView(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength);
  const le = !s.bigEndian;
  const read = (i: number): number | bigint => {
    const at = i * s.itemSize;
    switch (s.dtype) {
      case 'F16':
        return float16Value(dv.getUint16(at, le));
      case 'BF16':
        return new Float32Array(new Uint32Array([dv.getUint16(at, le) << 16]).buffer)[0]!;
      case 'F32':
        return dv.getFloat32(at, le);
      case 'F64':
        return dv.getFloat64(at, le);
      case 'I64':
        return dv.getBigInt64(at, le);
      case 'I32':
        return dv.getInt32(at, le);
      case 'I16':
        return dv.getInt16(at, le);
      case 'I8':
        return dv.getInt8(at);
      case 'U8':
      case 'BOOL':
        return dv.getUint8(at);
    }
  };
  const dtype = t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F32' || t.dtype === 'F64' || t.dtype === 'I64' ? t.dtype : 'I32';
  const data =
    dtype === 'F64' ? new Float64Array(numel) : dtype === 'I64' ? new BigInt64Array(numel) : dtype === 'I32' ? new Int32Array(numel) : new Float32Array(numel);
  // Row-major walk over the view: an index counter per dim, the storage position moved by strides.
  const idx = new Array<number>(t.shape.length).fill(0);
  let at = t.offset;
  for (let n = 0; n < numel; n++) {
    (data as unknown as (number | bigint)[])[n] = read(at);
    for (let d = t.shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      at += t.stride[d]!;
      if (idx[d]! < t.shape[d]!) break;
      at -= idx[d]! * t.stride[d]!;
      idx[d] = 0;
    }
  }
  return { dtype, shape: [...t.shape], data };
}
