/** Rules for reductions: Reduce*, ArgMax/ArgMin, TopK. */
import { TensorProto_DataType as DT } from '../../../onnx/proto.js';
import type { Dim } from '../../graph.js';
import type { Rule } from '../context.js';
import { cleanDim, isNum, mulDims, normAxis, numel, unknownDims } from '../dims.js';
import { build, flat, strides } from '../fold.js';

/** Reduce ops: axes attribute before `since`, input after; keepdims; noop_with_empty_axes. */
function reduce(since: number, combine?: (xs: Dim[]) => Dim, elemType?: number): Rule {
  return (c) => {
    const s = c.shape(0);
    const elem = elemType ?? c.elem(0);
    const keep = c.int('keepdims', 1) !== 0;
    const axesArg = c.arg(1, 'axes', since);
    if (!s) return { elemType: elem, shape: null };
    if (axesArg === null) return { elemType: elem, shape: keep ? unknownDims(s) : null };
    if ((!axesArg || axesArg.length === 0) && c.int('noop_with_empty_axes', 0) !== 0) return { elemType: elem, shape: s, ...c.pass(0) };
    const axes = axesArg && axesArg.length > 0 ? axesArg.map((a) => normAxis(a, s.length)) : s.map((_, i) => i);
    if (axes.includes(null)) return { elemType: elem, shape: null };
    const kept = s.map((d, i) => (axes.includes(i) ? 1 : d));
    const shape = keep ? kept : s.filter((_, i) => !axes.includes(i));
    const t = combine ? c.tensor(0) : null;
    let data: Dim[] | null = null;
    const n = numel(kept);
    if (t && n !== null) {
      // Gather each output's inputs, then combine them (small tensors only).
      const groups: Dim[][] = Array.from({ length: n }, () => []);
      const kst = strides(kept as number[]);
      build(t.shape, (idx) => {
        const v = t.data[flat(idx, t.st)] ?? null;
        groups[
          flat(
            idx.map((x, i) => (axes.includes(i) ? 0 : x)),
            kst,
          )
        ]!.push(v);
        return v;
      });
      data = groups.map(combine!);
    }
    return { elemType: elem, shape, data };
  };
}

const argReduce: Rule = (c) => {
  const s = c.shape(0);
  const axis = s ? normAxis(c.int('axis', 0), s.length) : null;
  if (!s || axis === null) return { elemType: DT.INT64, shape: null };
  return { elemType: DT.INT64, shape: c.int('keepdims', 1) ? s.map((d, i) => (i === axis ? 1 : d)) : s.filter((_, i) => i !== axis) };
};

export const REDUCE_RULES: Record<string, Rule> = {
  ReduceSum: reduce(13, (xs) => (xs.every(isNum) ? xs.reduce<number>((s, x) => s + x, 0) : null)),
  ReduceProd: reduce(18, (xs) => (xs.every(isNum) ? xs.reduce<number>((p, x) => p * x, 1) : mulDims(xs))),
  ReduceMax: reduce(18, (xs) => (xs.length > 0 && xs.every(isNum) ? xs.reduce((a, b) => Math.max(a, b)) : null)),
  ReduceMin: reduce(18, (xs) => (xs.length > 0 && xs.every(isNum) ? xs.reduce((a, b) => Math.min(a, b)) : null)),
  ...Object.fromEntries(['ReduceMean', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'].map((op) => [op, reduce(18)])),
  ArgMax: argReduce,
  ArgMin: argReduce,
  TopK: (c) => {
    const s = c.shape(0);
    const k = c.opset >= 10 || c.present(1) ? c.ints(1)?.[0] : c.int('k', NaN);
    const axis = s ? normAxis(c.int('axis', -1), s.length) : null;
    const shape = s && axis !== null ? s.map((d, i) => (i === axis ? cleanDim(k) : d)) : unknownDims(s);
    return [
      { elemType: c.elem(0), shape },
      { elemType: DT.INT64, shape },
    ];
  },
};
