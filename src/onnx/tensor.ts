import { create } from '@bufbuild/protobuf';
import {
  TensorProtoSchema,
  TensorProto_DataType as DT,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from './proto.js';
import type { TensorProto, ValueInfoProto } from './proto.js';
import { isExternal, type OnnxModel } from './load.js';

/** A tensor's raw bytes: its external payload when stored outside the file, else raw_data; null when absent. */
export function rawPayload(model: OnnxModel, t: TensorProto): Uint8Array | null {
  if (isExternal(t)) return model.externalData.get(t) ?? null;
  return Object.prototype.hasOwnProperty.call(t, 'rawData') ? t.rawData : null;
}

/** Number of elements a tensor's dims describe. */
export function elementCount(dims: readonly bigint[] | readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= Number(d);
  return n;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Integer values of a (small) tensor: Reshape shapes, Split sizes, axes, Constant scalars.
 * Returns null for dtypes that are not integers or when the data is not available.
 */
export function readInts(t: TensorProto, model?: OnnxModel): number[] | null {
  const raw = model ? rawPayload(model, t) : Object.prototype.hasOwnProperty.call(t, 'rawData') ? t.rawData : null;
  const n = elementCount(t.dims);
  switch (t.dataType) {
    case DT.INT64:
      if (raw) return Array.from({ length: raw.length / 8 }, (_, i) => Number(view(raw).getBigInt64(i * 8, true)));
      return t.int64Data.map(Number);
    case DT.INT32:
      if (raw) return Array.from({ length: raw.length / 4 }, (_, i) => view(raw).getInt32(i * 4, true));
      return [...t.int32Data];
    case DT.UINT8:
    case DT.INT8:
    case DT.BOOL:
      if (raw) return Array.from(t.dataType === DT.INT8 ? new Int8Array(raw.buffer, raw.byteOffset, raw.length) : raw);
      return [...t.int32Data];
    default:
      return n === 0 ? [] : null;
  }
}

/** Float values of a tensor (float32/float64), or null. */
export function readFloats(t: TensorProto, model?: OnnxModel): number[] | null {
  const raw = model ? rawPayload(model, t) : Object.prototype.hasOwnProperty.call(t, 'rawData') ? t.rawData : null;
  switch (t.dataType) {
    case DT.FLOAT:
      if (raw) return Array.from({ length: raw.length / 4 }, (_, i) => view(raw).getFloat32(i * 4, true));
      return [...t.floatData];
    case DT.DOUBLE:
      if (raw) return Array.from({ length: raw.length / 8 }, (_, i) => view(raw).getFloat64(i * 8, true));
      return [...t.doubleData];
    default:
      return readInts(t, model);
  }
}

/** A float32 tensor with raw little-endian data, as the torch exporter writes them. */
export function float32Tensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  const data = new Float32Array(values.length);
  data.set(Array.from(values));
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DT.FLOAT,
    rawData: new Uint8Array(data.buffer),
  });
}

/** An int64 tensor with raw little-endian data (axes, shapes). */
export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const data = new BigInt64Array(values.map((v) => BigInt(v)));
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DT.INT64,
    rawData: new Uint8Array(data.buffer),
  });
}

/** A tensor ValueInfo (float unless told): a string dim is symbolic, a null dim unnamed, null dims no shape at all. */
export function tensorInfo(name: string, dims: readonly (number | string | null)[] | null, elemType = 1): ValueInfoProto {
  const shape =
    dims &&
    create(TensorShapeProtoSchema, {
      dim: dims.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : typeof d === 'string' ? { case: 'dimParam', value: d } : { case: undefined },
        }),
      ),
    });
  const type = create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType, ...(shape ? { shape } : {}) }) } });
  return create(ValueInfoProtoSchema, { name, type });
}
