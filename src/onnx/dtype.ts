import { TensorProto_DataType as DT } from './proto.js';

/** Names as onnxruntime-node spells them (`float32`, `int64`, ...), indexed by TensorProto.DataType. */
const DTYPE_NAMES: Record<number, string> = {
  [DT.FLOAT]: 'float32',
  [DT.UINT8]: 'uint8',
  [DT.INT8]: 'int8',
  [DT.UINT16]: 'uint16',
  [DT.INT16]: 'int16',
  [DT.INT32]: 'int32',
  [DT.INT64]: 'int64',
  [DT.STRING]: 'string',
  [DT.BOOL]: 'bool',
  [DT.FLOAT16]: 'float16',
  [DT.DOUBLE]: 'float64',
  [DT.UINT32]: 'uint32',
  [DT.UINT64]: 'uint64',
  [DT.BFLOAT16]: 'bfloat16',
};

const DTYPE_BYTES: Record<number, number> = {
  [DT.FLOAT]: 4,
  [DT.UINT8]: 1,
  [DT.INT8]: 1,
  [DT.UINT16]: 2,
  [DT.INT16]: 2,
  [DT.INT32]: 4,
  [DT.INT64]: 8,
  [DT.BOOL]: 1,
  [DT.FLOAT16]: 2,
  [DT.DOUBLE]: 8,
  [DT.UINT32]: 4,
  [DT.UINT64]: 8,
  [DT.BFLOAT16]: 2,
};

export function dtypeName(elemType: number): string {
  return DTYPE_NAMES[elemType] ?? `dtype${elemType}`;
}

/** Bytes per element, or undefined for strings and sub-byte types. */
export function dtypeBytes(elemType: number): number | undefined {
  return DTYPE_BYTES[elemType];
}
