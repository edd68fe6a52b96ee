/** Tensor types as the graph IR and shape inference see them: an element type and dims that may be symbolic. */
import type { ValueInfoProto } from '../onnx/proto.js';

/** One dimension: a size, a symbolic name (`batch`), or null when nothing is known. */
export type Dim = number | string | null;

/** Element type (TensorProto.DataType) and shape; `shape` null = rank unknown. */
export interface TensorType {
  elemType: number;
  shape: Dim[] | null;
}

/** The tensor type a ValueInfoProto declares, or null if it declares none. */
export function typeOf(vi: ValueInfoProto): TensorType | null {
  const tt = vi.type?.value.case === 'tensorType' ? vi.type.value.value : null;
  if (!tt) return null;
  const shape = tt.shape
    ? tt.shape.dim.map((d): Dim => {
        if (d.value.case === 'dimValue') return Number(d.value.value);
        if (d.value.case === 'dimParam') return d.value.value;
        return null;
      })
    : null;
  return { elemType: tt.elemType, shape };
}
