/**
 * The constant evaluator of shape inference. Small integer tensors (Shape → Gather → Concat chains and the like) are
 * evaluated along the way so that Reshape/Expand/Resize/Slice parameters computed at run time are known; their
 * elements are `Dim`s, so a symbolic size survives the arithmetic. Anything over MAX_DATA elements is shape-only.
 */
import type { OnnxModel } from '../../onnx/load.js';
import { TensorProto_DataType as DT } from '../../onnx/proto.js';
import type { TensorProto } from '../../onnx/proto.js';
import { readFloats } from '../../onnx/tensor.js';
import type { Dim } from '../graph.js';
import { cleanShape, isNum, numel } from './dims.js';

/** Largest constant read from a tensor or computed by a rule; anything bigger is shape-only. */
export const MAX_DATA = 1 << 16;

/** Integer element types: values computed in them are truncated, and division by zero is unknown. */
export const INT_TYPES = new Set<number>([DT.UINT8, DT.INT8, DT.UINT16, DT.INT16, DT.INT32, DT.INT64, DT.UINT32, DT.UINT64]);

/** What is known about one tensor: type, shape and, when small, its values (row-major; elements may be symbolic). */
export interface Known {
  elemType: number;
  shape: Dim[] | null;
  /** undefined: not read yet from `src` (read lazily, so big weights are never decoded). */
  data?: Dim[] | null;
  src?: TensorProto;
}

/** Row-major strides of a numeric shape. */
export function strides(shape: readonly number[]): number[] {
  const st = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1]! * shape[i + 1]!;
  return st;
}

/** Flat offset of a multi-index. */
export const flat = (idx: readonly number[], st: readonly number[]) => idx.reduce((s, x, i) => s + x * st[i]!, 0);

/** Data of `shape` from `pick(multi-index)`; null when too large or when pick gives up (undefined). */
export function build(shape: readonly Dim[] | null, pick: (idx: number[]) => Dim | undefined): Dim[] | null {
  const n = numel(shape);
  if (n === null || n > MAX_DATA) return null;
  const s = shape as number[];
  const idx = s.map(() => 0);
  const out: Dim[] = [];
  for (let k = 0; k < n; k++) {
    const v = pick(idx);
    if (v === undefined) return null;
    out.push(v);
    for (let j = s.length - 1; j >= 0; j--) {
      if (++idx[j]! < s[j]!) break;
      idx[j] = 0;
    }
  }
  return out;
}

/** A tensor whose values are known: numeric shape, data and strides. */
export interface Tensor {
  shape: number[];
  data: Dim[];
  st: number[];
}

/** Data of the broadcast `shape`, each element `f` of the inputs' elements at that index. */
export function broadcastData(shape: Dim[], ins: Tensor[], f: (xs: Dim[]) => Dim): Dim[] | null {
  const r = shape.length;
  return build(shape, (o) => f(ins.map((t) => t.data[t.shape.reduce((s, d, i) => s + (d === 1 ? 0 : o[r - t.shape.length + i]!) * t.st[i]!, 0)] ?? null)));
}

/** Rounds a computed value to what the element type can hold. */
export function fix(x: number | null, elem: number): Dim {
  if (x === null || !Number.isFinite(x)) return null;
  if (elem === DT.BOOL) return x ? 1 : 0;
  if (INT_TYPES.has(elem)) return Math.trunc(x);
  return elem === DT.FLOAT ? Math.fround(x) : x;
}

/** The values of `k`, read from its tensor the first time they are asked for (null when unknown or too many). */
export function dataOf(k: Known, model: OnnxModel): Dim[] | null {
  if (k.data === undefined) {
    k.data = null;
    const n = numel(k.shape);
    if (k.src && n !== null && n <= MAX_DATA) {
      try {
        const xs = readFloats(k.src, model);
        if (xs && xs.length === n) k.data = xs.map((x) => (Number.isFinite(x) ? x : null));
      } catch {
        // Damaged payload: the values stay unknown.
      }
    }
  }
  return k.data;
}

/** An initializer or Constant tensor: its type and shape now, its values when first asked for. */
export function fromTensor(t: TensorProto): Known {
  return { elemType: t.dataType, shape: cleanShape(t.dims.map(Number)), src: t };
}

/** Evaluates one element of an element-wise op from its inputs' elements, in element type `elem`. */
export type Fn = (xs: Dim[], elem: number) => Dim;

/** A binary op on known numbers. */
export const num2 =
  (f: (a: number, b: number) => number | null): Fn =>
  ([a, b], e) =>
    isNum(a) && isNum(b) ? fix(f(a, b), e) : null;
/** A variadic op (Max, Min, Sum) folding known numbers pairwise. */
export const variadic =
  (f: (a: number, b: number) => number): Fn =>
  (xs, e) =>
    xs.every(isNum) ? fix(xs.reduce(f), e) : null;
/** A comparison, 1 or 0. */
export const cmp = (f: (a: number, b: number) => boolean): Fn => num2((a, b) => (f(a, b) ? 1 : 0));

// Symbols survive the identities x+0, x-0, x*1, x/1: enough for shape arithmetic in exports.
export const ADD: Fn = ([a = null, b = null], e) => (isNum(a) && isNum(b) ? fix(a + b, e) : b === 0 ? a : a === 0 ? b : null);
export const SUB: Fn = ([a = null, b = null], e) => (isNum(a) && isNum(b) ? fix(a - b, e) : b === 0 ? a : null);
export const MUL: Fn = ([a = null, b = null], e) =>
  isNum(a) && isNum(b) ? fix(a * b, e) : b === 1 ? a : a === 1 ? b : (a === 0 && b !== null) || (b === 0 && a !== null) ? 0 : null;
export const DIV: Fn = ([a = null, b = null], e) => {
  if (isNum(a) && isNum(b)) return b === 0 && INT_TYPES.has(e) ? null : fix(INT_TYPES.has(e) ? Math.trunc(a / b) : a / b, e);
  return b === 1 ? a : a !== null && a === b ? 1 : null;
};
export const EQUAL: Fn = ([a = null, b = null]) => (a !== null && a === b ? 1 : isNum(a) && isNum(b) ? 0 : null);
