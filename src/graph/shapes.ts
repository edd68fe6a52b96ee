/**
 * Static shape inference with constant propagation.
 *
 * Exporters compute Reshape/Expand/Resize/Pad/Slice parameters at run time (Shape → Gather → Unsqueeze →
 * Concat chains), so shapes alone are not enough: small integer tensors are evaluated along the way. Their
 * elements are `Dim`s too, so the value of `Shape(x)` for x = ['batch', 3, 64, 64] is ['batch', 3, 64, 64] and a
 * symbolic batch survives a round trip through Reshape.
 *
 * Inference never throws: a rule that fails leaves its outputs to the declared value_info, and a dim nobody can
 * know is null. Nothing is guessed.
 */
import type { OnnxModel } from '../onnx/load.js';
import { AttributeProto_AttributeType as AT, TensorProto_DataType as DT } from '../onnx/proto.js';
import type { TensorProto } from '../onnx/proto.js';
import { readFloats } from '../onnx/tensor.js';
import type { Dim, Graph, Node, TensorType, Value } from './graph.js';

export interface InferOptions {
  /** Concrete sizes for graph inputs, by input name; they replace the declared (possibly symbolic) dims. */
  inputShapes?: Record<string, number[]>;
  /**
   * Infer only what these values need: the nodes they depend on, back to graph inputs, initializers and `given`
   * values. Every other value keeps its declared type. (Shapes flow forward only, so the values asked for come out
   * as a whole-graph inference would give them, when `given` holds what that inference gives too.)
   */
  only?: readonly Value[];
  /** Types already known by value name (an earlier inference of the same tensors): taken as they are, values unread. */
  given?: ReadonlyMap<string, TensorType>;
}

const MAX_RANK = 32;
/** Largest constant read from a tensor or computed by a rule; anything bigger is shape-only. */
const MAX_DATA = 1 << 16;
/** Ends at or past this mean "to the end" in Slice (torch writes INT64_MAX, others INT32_MAX). */
const TO_END = 2 ** 31 - 1;

/** What is known about one tensor: type, shape and, when small, its values (row-major; elements may be symbolic). */
interface Known {
  elemType: number;
  shape: Dim[] | null;
  /** undefined: not read yet from `src` (read lazily, so big weights are never decoded). */
  data?: Dim[] | null;
  src?: TensorProto;
}
type Out = Known;
type Rule = (c: Ctx) => Out | (Out | null)[] | null;

// ---------------------------------------------------------------------------------------------- dims

const isNum = (d: unknown): d is number => typeof d === 'number';
const INT_TYPES = new Set<number>([DT.UINT8, DT.INT8, DT.UINT16, DT.INT16, DT.INT32, DT.INT64, DT.UINT32, DT.UINT64]);

function cleanDim(d: unknown): Dim {
  if (typeof d === 'bigint') d = Number(d);
  if (typeof d === 'number') return Number.isSafeInteger(d) && d >= 0 ? d : null;
  return typeof d === 'string' && d !== '' ? d : null;
}

function cleanShape(s: unknown): Dim[] | null {
  return Array.isArray(s) && s.length <= MAX_RANK ? s.map(cleanDim) : null;
}

function numel(s: readonly Dim[] | null | undefined): number | null {
  if (!s) return null;
  let n = 1;
  for (const d of s) {
    if (!isNum(d)) return null;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : null;
}

function normAxis(a: number | undefined, rank: number): number | null {
  if (a === undefined || !Number.isInteger(a)) return null;
  const x = a < 0 ? a + rank : a;
  return x >= 0 && x < rank ? x : null;
}

/** Product of dims: a number, one symbol times 1s, 0 if any is 0, else null. */
function mulDims(ds: readonly Dim[]): Dim {
  if (ds.some((d) => d === 0)) return 0;
  let n = 1;
  const syms: Dim[] = [];
  for (const d of ds) {
    if (isNum(d)) n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return cleanDim(n);
  return syms.length === 1 && n === 1 ? syms[0]! : null;
}

/** Numpy broadcasting. A size > 1 wins over 1, symbols and unknowns (a valid model must agree with it). */
function broadcast(shapes: readonly (readonly Dim[] | null)[]): Dim[] | null {
  if (shapes.length === 0 || shapes.some((s) => !s)) return null;
  const rank = Math.max(...shapes.map((s) => s!.length));
  if (rank > MAX_RANK) return null;
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    const ds: Dim[] = shapes.map((s) => (k - rank + s!.length >= 0 ? s![k - rank + s!.length]! : 1));
    const sizes = new Set(ds.filter((d): d is number => isNum(d) && d !== 1));
    const syms = new Set(ds.filter((d): d is string => typeof d === 'string'));
    if (sizes.size > 1) out.push(null);
    else if (sizes.size === 1) out.push([...sizes][0]!);
    else if (ds.includes(null) || syms.size > 1) out.push(null);
    else out.push(syms.size === 1 ? [...syms][0]! : 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- values

function strides(shape: readonly number[]): number[] {
  const st = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1]! * shape[i + 1]!;
  return st;
}

const flat = (idx: readonly number[], st: readonly number[]) => idx.reduce((s, x, i) => s + x * st[i]!, 0);

/** Data of `shape` from `pick(multi-index)`; null when too large or when pick gives up (undefined). */
function build(shape: readonly Dim[] | null, pick: (idx: number[]) => Dim | undefined): Dim[] | null {
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
interface Tensor {
  shape: number[];
  data: Dim[];
  st: number[];
}

function broadcastData(shape: Dim[], ins: Tensor[], f: (xs: Dim[]) => Dim): Dim[] | null {
  const r = shape.length;
  return build(shape, (o) => f(ins.map((t) => t.data[t.shape.reduce((s, d, i) => s + (d === 1 ? 0 : o[r - t.shape.length + i]!) * t.st[i]!, 0)] ?? null)));
}

/** Rounds a computed value to what the element type can hold. */
function fix(x: number | null, elem: number): Dim {
  if (x === null || !Number.isFinite(x)) return null;
  if (elem === DT.BOOL) return x ? 1 : 0;
  if (INT_TYPES.has(elem)) return Math.trunc(x);
  return elem === DT.FLOAT ? Math.fround(x) : x;
}

function dataOf(k: Known, model: OnnxModel): Dim[] | null {
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

function fromTensor(t: TensorProto): Known {
  return { elemType: t.dataType, shape: cleanShape(t.dims.map(Number)), src: t };
}

function fromDeclared(t: TensorType | null): Known | null {
  return t ? { elemType: Number.isInteger(t.elemType) ? t.elemType : 0, shape: cleanShape(t.shape), data: null } : null;
}

/** Inferred knowledge refined by the declared type: known sizes beat symbols, symbols beat unknowns. */
function merge(o: Out | null, dec: Known | null): Known {
  if (!o) return dec ?? { elemType: 0, shape: null, data: null };
  let shape = cleanShape(o.shape);
  if (dec?.shape) {
    if (!shape) shape = dec.shape;
    else if (shape.length === dec.shape.length) {
      shape = shape.map((d, i) => (isNum(d) ? d : isNum(dec.shape![i]) ? dec.shape![i] : (d ?? dec.shape![i]!)));
    }
  }
  const k: Known = { elemType: (Number.isInteger(o.elemType) && o.elemType > 0 ? o.elemType : 0) || dec?.elemType || 0, shape };
  const n = numel(shape);
  if (Array.isArray(o.data) && o.data.length === n && n <= MAX_DATA) {
    k.data = o.data.map((x) => (typeof x === 'string' ? x : isNum(x) && Number.isFinite(x) ? x : null));
  } else if (o.data === undefined && o.src) k.src = o.src;
  else k.data = null;
  return k;
}

// ---------------------------------------------------------------------------------------------- rule context

class Ctx {
  constructor(
    readonly node: Node,
    readonly opset: number,
    readonly model: OnnxModel,
    private readonly known: Map<Value, Known>,
  ) {}

  present(i: number): boolean {
    return !!this.node.inputs[i];
  }
  in(i: number): Known | null {
    const v = this.node.inputs[i];
    return v ? (this.known.get(v) ?? null) : null;
  }
  shape(i: number): Dim[] | null {
    return this.in(i)?.shape ?? null;
  }
  elem(i: number): number {
    return this.in(i)?.elemType ?? 0;
  }
  data(i: number): Dim[] | null {
    const k = this.in(i);
    return k ? dataOf(k, this.model) : null;
  }
  /** Values, when every one is a known integer. */
  ints(i: number): number[] | null {
    const d = this.data(i);
    return d && d.every((x) => Number.isInteger(x)) ? (d as number[]) : null;
  }
  tensor(i: number): Tensor | null {
    const k = this.in(i);
    const data = k ? dataOf(k, this.model) : null;
    return data ? { shape: k!.shape as number[], data, st: strides(k!.shape as number[]) } : null;
  }
  /** Input i's data, unread (for ops that only move values around). */
  pass(i: number): Pick<Known, 'data' | 'src'> {
    const k = this.in(i);
    return k ? { data: k.data, src: k.src } : { data: null };
  }
  int(name: string, fallback: number): number {
    return this.node.attrInt(name, fallback);
  }
  /**
   * An int list that moved from an attribute to input i at opset `since` (Squeeze axes, Split sizes, ...):
   * undefined when not given, null when given but unknown.
   */
  arg(i: number, attr: string, since: number): number[] | null | undefined {
    const fromInput = this.opset > 0 ? this.opset >= since : this.present(i);
    if (fromInput) return this.present(i) ? this.ints(i) : undefined;
    return this.node.attrInts(attr) ?? undefined;
  }
  floats(name: string): number[] | null {
    const a = this.node.attr(name);
    return a && a.type === AT.FLOATS ? [...a.floats] : null;
  }
}

const unknownDims = (s: readonly Dim[] | null): Dim[] | null => (s ? s.map(() => null) : null);

// ---------------------------------------------------------------------------------------------- rule makers

type Fn = (xs: Dim[], elem: number) => Dim;

/** Same shape as input 0; `fn` maps known values; `elemType` overrides the element type. */
function unary(fn?: (x: number) => number | null, elemType?: number): Rule {
  return (c) => {
    const elem = elemType ?? c.elem(0);
    const d = fn ? c.data(0) : null;
    return { elemType: elem, shape: c.shape(0), data: d ? d.map((x) => (isNum(x) ? fix(fn!(x), elem) : null)) : null };
  };
}

/** Broadcasting ops; `fn` evaluates known values. Element type from input `from`, or `elemType`. */
function elementwise(fn?: Fn, opts: { elemType?: number; from?: number } = {}): Rule {
  return (c) => {
    const n = c.node.inputs.length;
    const idx = [...Array(n).keys()];
    const shape = broadcast(idx.map((i) => c.shape(i)));
    const elem = opts.elemType ?? (c.elem(opts.from ?? 0) || c.elem(n - 1));
    let data: Dim[] | null = null;
    const size = numel(shape);
    if (fn && size !== null && size <= MAX_DATA) {
      const ts = idx.map((i) => c.tensor(i));
      if (ts.every(Boolean)) data = broadcastData(shape!, ts as Tensor[], (xs) => fn(xs, elem));
    }
    return { elemType: elem, shape, data };
  };
}

const num2 =
  (f: (a: number, b: number) => number | null): Fn =>
  ([a, b], e) =>
    isNum(a) && isNum(b) ? fix(f(a, b), e) : null;
const fold =
  (f: (a: number, b: number) => number): Fn =>
  (xs, e) =>
    xs.every(isNum) ? fix(xs.reduce(f), e) : null;
const cmp = (f: (a: number, b: number) => boolean): Fn => num2((a, b) => (f(a, b) ? 1 : 0));

// Symbols survive the identities x+0, x-0, x*1, x/1: enough for shape arithmetic in exports.
const ADD: Fn = ([a = null, b = null], e) => (isNum(a) && isNum(b) ? fix(a + b, e) : b === 0 ? a : a === 0 ? b : null);
const SUB: Fn = ([a = null, b = null], e) => (isNum(a) && isNum(b) ? fix(a - b, e) : b === 0 ? a : null);
const MUL: Fn = ([a = null, b = null], e) =>
  isNum(a) && isNum(b) ? fix(a * b, e) : b === 1 ? a : a === 1 ? b : (a === 0 && b !== null) || (b === 0 && a !== null) ? 0 : null;
const DIV: Fn = ([a = null, b = null], e) => {
  if (isNum(a) && isNum(b)) return b === 0 && INT_TYPES.has(e) ? null : fix(INT_TYPES.has(e) ? Math.trunc(a / b) : a / b, e);
  return b === 1 ? a : a !== null && a === b ? 1 : null;
};
const EQUAL: Fn = ([a = null, b = null]) => (a !== null && a === b ? 1 : isNum(a) && isNum(b) ? 0 : null);

/** Spatial output sizes of Conv and the pools (NOTSET pads, SAME_*, VALID; ceil_mode for pools). */
function windowDims(c: Ctx, x: Dim[] | null, kernel: (number | null)[], pool: boolean): Dim[] {
  const sp = kernel.length;
  const pads = c.node.attrInts('pads') ?? new Array<number>(2 * sp).fill(0);
  const str = c.node.attrInts('strides') ?? [];
  const dil = c.node.attrInts('dilations') ?? [];
  const auto = c.node.attrString('auto_pad') ?? 'NOTSET';
  const ceil = pool && c.int('ceil_mode', 0) !== 0;
  return kernel.map((k, i) => {
    const d = x?.[2 + i] ?? null;
    const s = str[i] ?? 1;
    const ek = k === null ? null : (k - 1) * (dil[i] ?? 1) + 1;
    const pb = pads[i] ?? 0;
    const pe = pads[i + sp] ?? 0;
    if (s <= 0 || ek === null || ek <= 0) return null;
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return isNum(d) ? Math.ceil(d / s) : s === 1 ? d : null;
    const same = ek === 1 && s === 1 && (auto === 'VALID' || pb + pe === 0);
    if (!isNum(d)) return same ? d : null;
    const span = auto === 'VALID' ? d - ek : d + pb + pe - ek;
    if (span < 0) return null;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // As onnxruntime and PyTorch: with ceil_mode the last window must start inside the input or left padding.
    if (ceil && (o - 1) * s >= d + pb) o--;
    return o;
  });
}

function conv(c: Ctx): Out {
  const x = c.shape(0);
  const w = c.shape(1);
  const ks = c.node.attrInts('kernel_shape') ?? w?.slice(2).map((d) => (isNum(d) ? d : null));
  const sp = ks?.length ?? (x ? x.length - 2 : w ? w.length - 2 : -1);
  if (sp < 0) return { elemType: c.elem(0), shape: null };
  const kernel = ks ?? new Array<null>(sp).fill(null);
  return { elemType: c.elem(0), shape: [x?.[0] ?? null, w?.[0] ?? null, ...windowDims(c, x, kernel, false)] };
}

function convTranspose(c: Ctx): Out {
  const x = c.shape(0);
  const w = c.shape(1);
  const elem = c.elem(0);
  if (!x || x.length < 3) return { elemType: elem, shape: null };
  const sp = x.length - 2;
  const ks = c.node.attrInts('kernel_shape') ?? w?.slice(2) ?? [];
  const pads = c.node.attrInts('pads') ?? [];
  const str = c.node.attrInts('strides') ?? [];
  const dil = c.node.attrInts('dilations') ?? [];
  const outPad = c.node.attrInts('output_padding') ?? [];
  const given = c.node.attrInts('output_shape');
  const auto = c.node.attrString('auto_pad') ?? 'NOTSET';
  const dims = [...Array(sp).keys()].map((i): Dim => {
    if (given) return cleanDim(given[given.length - sp + i]);
    const d = x[2 + i];
    const k = ks[i];
    const s = str[i] ?? 1;
    if (!isNum(d) || !isNum(k)) return null;
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return d * s;
    const ek = (k - 1) * (dil[i] ?? 1) + 1;
    return cleanDim(s * (d - 1) + (outPad[i] ?? 0) + ek - (auto === 'VALID' ? 0 : (pads[i] ?? 0) + (pads[i + sp] ?? 0)));
  });
  return { elemType: elem, shape: [x[0]!, mulDims([w?.[1] ?? null, c.int('group', 1)]), ...dims] };
}

function pool(c: Ctx): (Out | null)[] {
  const x = c.shape(0);
  const ks = c.node.attrInts('kernel_shape');
  const shape = x && ks && x.length === ks.length + 2 ? [x[0]!, x[1]!, ...windowDims(c, x, ks, true)] : unknownDims(x);
  return [
    { elemType: c.elem(0), shape },
    { elemType: DT.INT64, shape },
  ];
}

const globalPool: Rule = (c) => ({ elemType: c.elem(0), shape: c.shape(0)?.map((d, i) => (i < 2 ? d : 1)) ?? null });

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

const same: Rule = unary();
const toBool: Rule = unary(undefined, DT.BOOL);

// ---------------------------------------------------------------------------------------------- op table

const RULES: Record<string, Rule> = {
  // Values and identities.
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

  // Element-wise.
  Add: elementwise(ADD),
  Sub: elementwise(SUB),
  Mul: elementwise(MUL),
  Div: elementwise(DIV),
  Pow: elementwise(num2((a, b) => a ** b)),
  Mod: (c) => elementwise(num2(c.int('fmod', 0) ? (a, b) => (b === 0 ? null : a % b) : (a, b) => (b === 0 ? null : ((a % b) + b) % b)))(c),
  Max: elementwise(fold(Math.max)),
  Min: elementwise(fold(Math.min)),
  Sum: elementwise(fold((a, b) => a + b)),
  Mean: elementwise(),
  PRelu: elementwise(),
  BitShift: elementwise(),
  Equal: elementwise(EQUAL, { elemType: DT.BOOL }),
  Greater: elementwise(
    cmp((a, b) => a > b),
    { elemType: DT.BOOL },
  ),
  Less: elementwise(
    cmp((a, b) => a < b),
    { elemType: DT.BOOL },
  ),
  GreaterOrEqual: elementwise(
    cmp((a, b) => a >= b),
    { elemType: DT.BOOL },
  ),
  LessOrEqual: elementwise(
    cmp((a, b) => a <= b),
    { elemType: DT.BOOL },
  ),
  And: elementwise(
    cmp((a, b) => !!a && !!b),
    { elemType: DT.BOOL },
  ),
  Or: elementwise(
    cmp((a, b) => !!a || !!b),
    { elemType: DT.BOOL },
  ),
  Xor: elementwise(
    cmp((a, b) => !!a !== !!b),
    { elemType: DT.BOOL },
  ),
  Where: elementwise(([cond, x = null, y = null]) => (cond === 1 ? x : cond === 0 ? y : null), { from: 1 }),
  Not: unary((x) => (x ? 0 : 1), DT.BOOL),
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => (x === 0 ? null : 1 / x)),
  IsNaN: toBool,
  IsInf: toBool,
  ...Object.fromEntries(
    [
      'Relu',
      'Sigmoid',
      'Tanh',
      'Exp',
      'Log',
      'Sin',
      'Cos',
      'Tan',
      'Erf',
      'Sign',
      'Round',
      'Softplus',
      'Softsign',
      'HardSwish',
      'HardSigmoid',
      'LeakyRelu',
      'Elu',
      'Selu',
      'Celu',
      'Gelu',
      'Mish',
      'ThresholdedRelu',
      'Clip',
      'Softmax',
      'LogSoftmax',
      'Hardmax',
      'BatchNormalization',
      'InstanceNormalization',
      'LpNormalization',
      'GroupNormalization',
      'MeanVarianceNormalization',
      'CumSum',
      'Trilu',
      'Asin',
      'Acos',
      'Atan',
      'Sinh',
      'Cosh',
      'LRN',
      'ReverseSequence',
      'ScatterElements',
      'ScatterND',
    ].map((op) => [op, same]),
  ),
  Dropout: (c) => [
    { elemType: c.elem(0), shape: c.shape(0) },
    { elemType: DT.BOOL, shape: c.shape(0) },
  ],
  LayerNormalization: (c) => {
    const s = c.shape(0);
    const axis = s ? normAxis(c.int('axis', -1), s.length) : null;
    const stats = s && axis !== null ? s.map((d, i) => (i < axis ? d : 1)) : null;
    const stash = c.int('stash_type', DT.FLOAT);
    return [
      { elemType: c.elem(0), shape: s },
      { elemType: stash, shape: stats },
      { elemType: stash, shape: stats },
    ];
  },

  // Convolutions, pools, matrix products.
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  MatMul: (c) => {
    const a = c.shape(0);
    const b = c.shape(1);
    const elem = c.elem(0);
    if (!a || !b || a.length === 0 || b.length === 0) return { elemType: elem, shape: null };
    const a2 = a.length === 1 ? [1, a[0]!] : a;
    const b2 = b.length === 1 ? [b[0]!, 1] : b;
    const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)]);
    if (!batch) return { elemType: elem, shape: null };
    return { elemType: elem, shape: [...batch, ...(a.length > 1 ? [a2[a2.length - 2]!] : []), ...(b.length > 1 ? [b2[b2.length - 1]!] : [])] };
  },
  Gemm: (c) => {
    const a = c.shape(0);
    const b = c.shape(1);
    const m = a?.length === 2 ? a[c.int('transA', 0) ? 1 : 0]! : null;
    const n = b?.length === 2 ? b[c.int('transB', 0) ? 0 : 1]! : null;
    return { elemType: c.elem(0), shape: [m, n] };
  },
  GridSample: (c) => {
    const x = c.shape(0);
    const g = c.shape(1);
    if (!g || g.length < 3) return { elemType: c.elem(0), shape: null };
    return { elemType: c.elem(0), shape: [x?.[0] ?? g[0]!, x?.[1] ?? null, ...g.slice(1, -1)] };
  },

  // Reductions.
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

  // Data movement.
  Reshape: (c) => {
    const s = c.shape(0);
    const target = c.opset > 0 && c.opset < 5 ? c.node.attrInts('shape') : c.data(1);
    const elem = c.elem(0);
    if (!target) {
      const len = c.shape(1)?.[0];
      return { elemType: elem, shape: isNum(len) && len <= MAX_RANK ? new Array<Dim>(len).fill(null) : null };
    }
    const allowZero = c.int('allowzero', 0) !== 0;
    // -1 marks the one dim to infer; a symbol, since a symbolic dim may be any string.
    const INFER = Symbol('infer');
    const out = target.map((t, i): Dim | typeof INFER =>
      t === -1 ? INFER : t === 0 && !allowZero ? (s?.[i] ?? null) : typeof t === 'string' ? t : cleanDim(t),
    );
    const at = out.indexOf(INFER);
    if (at >= 0 && out.lastIndexOf(INFER) === at) out[at] = inferDim(s, out.filter((_, i) => i !== at) as Dim[]);
    return { elemType: elem, shape: out.map((d) => (d === INFER ? null : d)), ...c.pass(0) };
  },
  Flatten: (c) => {
    const s = c.shape(0);
    const axis = s ? (c.int('axis', 1) < 0 ? c.int('axis', 1) + s.length : c.int('axis', 1)) : null;
    if (!s || axis === null || axis < 0 || axis > s.length) return { elemType: c.elem(0), shape: [null, null] };
    return { elemType: c.elem(0), shape: [mulDims(s.slice(0, axis)), mulDims(s.slice(axis))], ...c.pass(0) };
  },
  Squeeze: (c) => {
    const s = c.shape(0);
    const axes = c.arg(1, 'axes', 13);
    const elem = c.elem(0);
    if (!s || axes === null) return { elemType: elem, shape: null };
    if (axes === undefined) return { elemType: elem, shape: s.every(isNum) ? s.filter((d) => d !== 1) : null, ...c.pass(0) };
    const norm = axes.map((a) => normAxis(a, s.length));
    if (norm.includes(null)) return { elemType: elem, shape: null };
    return { elemType: elem, shape: s.filter((_, i) => !norm.includes(i)), ...c.pass(0) };
  },
  Unsqueeze: (c) => {
    const s = c.shape(0);
    const axes = c.arg(1, 'axes', 13);
    const elem = c.elem(0);
    if (!s || !axes) return { elemType: elem, shape: null };
    const r = s.length + axes.length;
    const norm = axes.map((a) => normAxis(a, r));
    if (norm.includes(null) || new Set(norm).size !== norm.length) return { elemType: elem, shape: null };
    let j = 0;
    return { elemType: elem, shape: [...Array(r).keys()].map((k) => (norm.includes(k) ? 1 : s[j++]!)), ...c.pass(0) };
  },
  Transpose: (c) => {
    const s = c.shape(0);
    if (!s) return { elemType: c.elem(0), shape: null };
    const perm = c.node.attrInts('perm') ?? s.map((_, i) => s.length - 1 - i);
    if (perm.length !== s.length || perm.some((p) => normAxis(p, s.length) !== p) || new Set(perm).size !== perm.length) {
      return { elemType: c.elem(0), shape: unknownDims(s) };
    }
    const shape = perm.map((p) => s[p]!);
    const t = c.tensor(0);
    const data = t
      ? build(shape, (o) => {
          const idx: number[] = [];
          perm.forEach((p, i) => (idx[p] = o[i]!));
          return t.data[flat(idx, t.st)];
        })
      : null;
    return { elemType: c.elem(0), shape, data };
  },
  Concat: (c) => {
    const shapes = c.node.inputs.map((_, i) => c.shape(i));
    const elem = c.node.inputs.map((_, i) => c.elem(i)).find((e) => e > 0) ?? 0;
    const ref = shapes.find((s) => s);
    const axis = ref ? normAxis(c.int('axis', 0), ref.length) : null;
    if (!ref || axis === null || shapes.some((s) => s && s.length !== ref.length)) return { elemType: elem, shape: null };
    // Inputs agree on every other axis in a valid model, so any known size is the size.
    const shape = ref.map((_, k) => {
      const ds = shapes.map((s) => (s ? s[k]! : null));
      if (k === axis) {
        if (ds.every(isNum)) return cleanDim(ds.reduce((a, b) => a + b, 0));
        const nonzero = ds.filter((d) => d !== 0);
        return nonzero.length === 1 ? nonzero[0]! : null;
      }
      return ds.find(isNum) ?? ds.find((d) => typeof d === 'string') ?? null;
    });
    const ts = c.node.inputs.map((_, i) => c.tensor(i));
    let data: Dim[] | null = null;
    if (ts.every(Boolean) && ts.length > 0) {
      const starts: number[] = [];
      let offset = 0;
      for (const t of ts) {
        starts.push(offset);
        offset += t!.shape[axis]!;
      }
      data = build(shape, (o) => {
        let j = starts.length - 1;
        while (j > 0 && starts[j]! > o[axis]!) j--;
        const idx = o.slice();
        idx[axis] = o[axis]! - starts[j]!;
        return ts[j]!.data[flat(idx, ts[j]!.st)];
      });
    }
    return { elemType: elem, shape, data };
  },
  Split: (c) => {
    const s = c.shape(0);
    const n = c.node.proto.output.length;
    const elem = c.elem(0);
    const axis = s ? normAxis(c.int('axis', 0), s.length) : null;
    if (!s || axis === null) return Array.from({ length: n }, () => ({ elemType: elem, shape: null }));
    const d = s[axis]!;
    let sizes: Dim[] | null | undefined = c.arg(1, 'split', 13);
    if (sizes === undefined && isNum(d)) {
      if (c.opset >= 18 && c.node.attr('num_outputs')) {
        // Opset 18: chunks of ceil(d / n), the last one smaller.
        const chunk = Math.ceil(d / n);
        sizes = Array.from({ length: n }, (_, i) => cleanDim(i < n - 1 ? chunk : d - chunk * (n - 1)));
      } else sizes = d % n === 0 ? new Array<Dim>(n).fill(d / n) : null;
    }
    const t = c.tensor(0);
    let start = 0;
    return Array.from({ length: n }, (_, i) => {
      const size = sizes?.[i] ?? null;
      const shape = s.map((x, k) => (k === axis ? cleanDim(size) : x));
      const from = start;
      start += isNum(size) ? size : NaN;
      const data =
        t && Number.isFinite(from)
          ? build(
              shape,
              (o) =>
                t.data[
                  flat(
                    o.map((x, k) => (k === axis ? x + from : x)),
                    t.st,
                  )
                ],
            )
          : null;
      return { elemType: elem, shape, data };
    });
  },
  Slice: (c) => {
    const s = c.shape(0);
    const elem = c.elem(0);
    if (!s) return { elemType: elem, shape: null };
    const old = c.opset > 0 ? c.opset < 10 : !c.present(1);
    const starts = old ? c.node.attrInts('starts') : c.ints(1);
    const ends = old ? c.node.attrInts('ends') : c.ints(2);
    const axes = old ? (c.node.attrInts('axes') ?? undefined) : c.present(3) ? c.ints(3) : undefined;
    const steps = old || !c.present(4) ? undefined : c.ints(4);
    if (!starts || !ends || axes === null || steps === null || starts.length !== ends.length) return { elemType: elem, shape: unknownDims(s) };
    const shape = s.slice();
    const begin = s.map(() => 0);
    const step = s.map(() => 1);
    for (let j = 0; j < starts.length; j++) {
      const ax = normAxis(axes ? axes[j] : j, s.length);
      const st = steps?.[j] ?? 1;
      if (ax === null || st === 0) return { elemType: elem, shape: unknownDims(s) };
      const d = s[ax]!;
      let b = starts[j]!;
      let e = ends[j]!;
      if (!isNum(d)) {
        shape[ax] = b === 0 && e >= TO_END && st === 1 ? d : null;
        continue;
      }
      if (b < 0) b += d;
      if (e < 0) e += d;
      const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
      [b, e] = st > 0 ? [clamp(b, 0, d), clamp(e, 0, d)] : [clamp(b, 0, d - 1), clamp(e, -1, d - 1)];
      shape[ax] = Math.max(0, Math.ceil((e - b) / st));
      begin[ax] = b;
      step[ax] = st;
    }
    const t = c.tensor(0);
    const data = t
      ? build(
          shape,
          (o) =>
            t.data[
              flat(
                o.map((x, k) => begin[k]! + x * step[k]!),
                t.st,
              )
            ],
        )
      : null;
    return { elemType: elem, shape, data };
  },
  Gather: (c) => {
    const s = c.shape(0);
    const is = c.shape(1);
    const elem = c.elem(0);
    const axis = s ? normAxis(c.int('axis', 0), s.length) : null;
    if (!s || !is || axis === null) return { elemType: elem, shape: null };
    const shape = [...s.slice(0, axis), ...is, ...s.slice(axis + 1)];
    const t = c.tensor(0);
    const ind = t ? c.tensor(1) : null;
    const data =
      t && ind
        ? build(shape, (o) => {
            const i = ind.data[flat(o.slice(axis, axis + is.length), ind.st)];
            const at = isNum(i) ? normAxis(i, t.shape[axis]!) : null;
            if (at === null) return undefined;
            return t.data[flat([...o.slice(0, axis), at, ...o.slice(axis + is.length)], t.st)];
          })
        : null;
    return { elemType: elem, shape, data };
  },
  GatherElements: (c) => ({ elemType: c.elem(0), shape: c.shape(1) }),
  Expand: (c) => {
    const s = c.shape(0);
    const target = c.data(1);
    const elem = c.elem(0);
    if (!target) {
      const len = c.shape(1)?.[0];
      return { elemType: elem, shape: s && isNum(len) && len <= MAX_RANK ? new Array<Dim>(Math.max(s.length, len)).fill(null) : null };
    }
    const shape = broadcast([s, target.map(cleanDim)]);
    const t = c.tensor(0);
    return { elemType: elem, shape, data: t && shape ? broadcastData(shape, [t], ([x = null]) => x) : null };
  },
  Tile: (c) => {
    const s = c.shape(0);
    const r = c.data(1);
    if (!s) return { elemType: c.elem(0), shape: null };
    return { elemType: c.elem(0), shape: s.map((d, i) => mulDims([d, cleanDim(r?.[i])])) };
  },
  Pad: (c) => {
    const s = c.shape(0);
    if (!s) return { elemType: c.elem(0), shape: null };
    const pads = c.opset >= 11 || (c.opset === 0 && c.present(1)) ? c.data(1) : (c.node.attrInts('pads') ?? c.node.attrInts('paddings'));
    const axes = c.present(3) ? c.ints(3) : s.map((_, i) => i);
    if (!pads || !axes || pads.length !== 2 * axes.length) return { elemType: c.elem(0), shape: unknownDims(s) };
    const shape = s.slice();
    axes.forEach((a, j) => {
      const ax = normAxis(a, s.length);
      const pb = pads[j];
      const pe = pads[j + axes.length];
      if (ax === null) return;
      shape[ax] = !isNum(pb) || !isNum(pe) ? null : isNum(s[ax]) ? cleanDim(s[ax] + pb + pe) : pb === 0 && pe === 0 ? s[ax]! : null;
    });
    return { elemType: c.elem(0), shape };
  },
  Resize: (c) => resize(c, c.opset === 10 ? 1 : 2, c.opset === 10 ? -1 : 3),
  Upsample: (c) => resize(c, c.opset >= 9 || (c.opset === 0 && c.present(1)) ? 1 : -1, -1),
  NonZero: (c) => ({ elemType: DT.INT64, shape: [c.shape(0)?.length ?? null, null] }),
  NonMaxSuppression: () => ({ elemType: DT.INT64, shape: [null, 3] }),
};

/** The -1 of a Reshape: input elements over the other target dims, cancelling symbols that appear on both sides. */
function inferDim(input: Dim[] | null, others: Dim[]): Dim {
  if (!input || input.includes(null) || others.includes(null)) return null;
  const syms = input.filter((d): d is string => typeof d === 'string');
  let num = 1;
  let den = 1;
  for (const d of input) if (isNum(d)) num *= d;
  for (const d of others) {
    if (isNum(d)) den *= d;
    else {
      const at = syms.indexOf(d as string);
      if (at < 0) return null;
      syms.splice(at, 1);
    }
  }
  if (den === 0) return null;
  if (syms.length === 0) return num % den === 0 ? cleanDim(num / den) : null;
  return syms.length === 1 && num === den ? syms[0]! : null;
}

/** Resize (scales at input `si`, sizes at `zi`; -1: the `scales` attribute of old Upsample). */
function resize(c: Ctx, si: number, zi: number): Out {
  const s = c.shape(0);
  const elem = c.elem(0);
  if (!s) return { elemType: elem, shape: null };
  const axes = (c.opset >= 18 ? c.node.attrInts('axes') : null)?.map((a) => normAxis(a, s.length)) ?? s.map((_, i) => i);
  const sizes = zi >= 0 && c.present(zi) ? c.data(zi) : null;
  const scales = si >= 0 ? (c.present(si) ? c.data(si) : null) : c.floats('scales');
  const shape = s.slice();
  const policy = c.node.attrString('keep_aspect_ratio_policy') ?? 'stretch';
  if (zi >= 0 && c.present(zi) && (!sizes || sizes.length > 0)) {
    // Sizes given (their values may still be unknown); aspect-ratio policies other than stretch are not modelled.
    axes.forEach((ax, j) => ax !== null && (shape[ax] = sizes && policy === 'stretch' ? cleanDim(sizes[j]) : null));
  } else if (scales && scales.length === axes.length) {
    axes.forEach((ax, j) => {
      if (ax === null) return;
      const d = s[ax]!;
      const f = scales[j];
      // onnxruntime multiplies in float32 and truncates.
      shape[ax] = !isNum(f) ? null : isNum(d) ? cleanDim(Math.floor(Math.fround(d * Math.fround(f)))) : f === 1 ? d : null;
    });
  } else return { elemType: elem, shape: unknownDims(s) };
  return { elemType: elem, shape };
}

// ---------------------------------------------------------------------------------------------- driver

/**
 * Types every value it can: graph inputs (with `inputShapes` applied), initializers, node outputs. Declared
 * value_info fills in what inference cannot reach; inferred sizes refine declared unknown dims. Never throws.
 */
export function inferShapes(graph: Graph, options: InferOptions = {}): Map<Value, TensorType> {
  const known = new Map<Value, Known>();
  try {
    run(graph, options, known);
  } catch {
    // Keep what was inferred so far; the rest falls back to declarations below.
  }
  const result = new Map<Value, TensorType>();
  try {
    for (const v of graph.values.values()) {
      if (!v.name) continue;
      const k = known.get(v) ?? fromDeclared(v.declared);
      if (k && (k.elemType > 0 || k.shape)) result.set(v, { elemType: k.elemType, shape: k.shape ? [...k.shape] : null });
    }
  } catch {
    // A graph so damaged its values cannot be listed: return what there is.
  }
  return result;
}

/** The nodes `targets` depend on, walking producers back and stopping at `stop` values. */
function coneOf(targets: readonly Value[], stop: ReadonlySet<Value>): Set<Node> {
  const cone = new Set<Node>();
  const stack = targets.filter((v) => !stop.has(v)).map((v) => v.producer);
  while (stack.length > 0) {
    const n = stack.pop();
    if (!n || cone.has(n)) continue;
    cone.add(n);
    for (const v of n.inputs) if (v?.producer && !stop.has(v)) stack.push(v.producer);
  }
  return cone;
}

function run(graph: Graph, options: InferOptions, known: Map<Value, Known>): void {
  for (const v of graph.values.values()) {
    // A sparse initializer's stand-in has no values: its type and shape are known, its data is not read.
    if (v.initializer) known.set(v, v.sparse ? { ...fromTensor(v.initializer), src: undefined, data: null } : fromTensor(v.initializer));
  }
  const given = options.inputShapes ?? {};
  for (const v of graph.inputs) {
    const dec = fromDeclared(v.declared);
    const dims = Object.hasOwn(given, v.name) ? given[v.name] : undefined;
    if (Array.isArray(dims)) {
      const shape = cleanShape(dims.map((d, i) => cleanDim(d) ?? dec?.shape?.[i] ?? null));
      known.set(v, { elemType: dec?.elemType ?? known.get(v)?.elemType ?? 0, shape, data: null });
    } else if (!v.initializer && dec) known.set(v, dec);
  }
  const seeded = new Set<Value>();
  for (const [name, t] of options.given ?? []) {
    const v = graph.value(name);
    if (!v || v.initializer) continue;
    known.set(v, { elemType: Number.isInteger(t.elemType) ? t.elemType : 0, shape: cleanShape(t.shape), data: null });
    seeded.add(v);
  }
  let order: Node[];
  try {
    order = graph.topologicalOrder();
  } catch {
    order = graph.nodes; // a cycle: file order still types the acyclic part
  }
  if (options.only) {
    const needed = coneOf(options.only, seeded);
    order = order.filter((n) => needed.has(n));
  }
  const opset = graph.opset('');
  for (const node of order) {
    let outs: (Out | null)[] = [];
    const op = node.opType;
    if ((node.domain === '' || node.domain === 'ai.onnx') && Object.hasOwn(RULES, op)) {
      try {
        const r = RULES[op]!(new Ctx(node, opset, graph.model, known));
        outs = Array.isArray(r) ? r : [r];
      } catch {
        outs = []; // wrong attribute types, inconsistent inputs: leave these outputs to their declarations
      }
    }
    for (const v of node.outputs) {
      if (v.producer !== node) continue;
      let k: Known;
      try {
        k = merge(outs[v.producerIndex] ?? null, fromDeclared(v.declared));
      } catch {
        k = fromDeclared(v.declared) ?? { elemType: 0, shape: null, data: null };
      }
      known.set(v, k);
    }
  }
}
