/** Rules for constants, casts and the ops that produce shapes and index ranges as values. */
import { TensorProto_DataType as DT } from '../../../onnx/proto.js';
import { readFloats } from '../../../onnx/tensor.js';
import type { Dim } from '../../graph.js';
import type { Rule } from '../context.js';
import { cleanDim, isNum, MAX_RANK, mulDims, numel } from '../dims.js';
import { fix, fromTensor, MAX_DATA } from '../fold.js';

/** Values and identities. */
export const VALUE_RULES: Record<string, Rule> = {
  Constant: (c) => {
    const t = c.node.attrTensor('value');
    if (t) return fromTensor(t);
    const i = c.int('value_int', NaN);
    if (!Number.isNaN(i)) return { elemType: DT.INT64, shape: [], data: [i] };
    const ints = c.node.attrInts('value_ints');
    if (ints) return { elemType: DT.INT64, shape: [ints.length], data: ints };
    const f = c.node.attrFloat('value_float', NaN);
    if (!Number.isNaN(f)) return { elemType: DT.FLOAT, shape: [], data: [f] };
    const fs = c.floats('value_floats');
    return fs ? { elemType: DT.FLOAT, shape: [fs.length], data: fs } : null;
  },
  Identity: (c) => c.in(0) && { ...c.in(0)! },
  Cast: (c) => {
    const to = c.int('to', 0);
    const d = c.data(0);
    const conv = (x: Dim): Dim => (!isNum(x) ? (to === DT.BOOL ? null : x) : fix(x, to));
    return { elemType: to, shape: c.shape(0), data: d ? d.map(conv) : null };
  },
  CastLike: (c) => ({ elemType: c.elem(1), shape: c.shape(0) }),
  Shape: (c) => {
    const s = c.shape(0);
    if (!s) return { elemType: DT.INT64, shape: [null] };
    // Opset 15 start/end, clamped as the spec says.
    const clamp = (a: number) => Math.min(Math.max(a < 0 ? a + s.length : a, 0), s.length);
    const d = s.slice(clamp(c.int('start', 0)), clamp(c.int('end', s.length)));
    return { elemType: DT.INT64, shape: [d.length], data: d };
  },
  Size: (c) => ({ elemType: DT.INT64, shape: [], data: [mulDims(c.shape(0) ?? [null])] }),
  ConstantOfShape: (c) => {
    const t = c.node.attrTensor('value');
    const dims = c.data(0);
    const len = c.shape(0)?.[0];
    const shape = dims ? dims.map(cleanDim) : isNum(len) && len <= MAX_RANK ? new Array<Dim>(len).fill(null) : null;
    const n = numel(shape);
    const v = t ? readFloats(t, c.model)?.[0] : 0;
    return { elemType: t ? t.dataType : DT.FLOAT, shape, data: n !== null && n <= MAX_DATA && isNum(v) ? new Array<Dim>(n).fill(v) : null };
  },
  Range: (c) => {
    const [a, l, d] = [0, 1, 2].map((i) => c.data(i)?.[0]);
    const elem = c.elem(0);
    if (!isNum(a) || !isNum(l) || !isNum(d) || d === 0) return { elemType: elem, shape: [null] };
    const n = cleanDim(Math.max(Math.ceil((l - a) / d), 0));
    return { elemType: elem, shape: [n], data: isNum(n) && n <= MAX_DATA ? Array.from({ length: n }, (_, i) => fix(a + i * d, elem)) : null };
  },
};
