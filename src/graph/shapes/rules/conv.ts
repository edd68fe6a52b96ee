/** Rules for convolutions, pools and matrix products. */
import { TensorProto_DataType as DT } from '../../../onnx/proto.js';
import type { Dim } from '../../graph.js';
import type { Rule, RuleContext, RuleOutput } from '../context.js';
import { broadcast, cleanDim, isNum, mulDims, unknownDims } from '../dims.js';

/** Spatial output sizes of Conv and the pools (NOTSET pads, SAME_*, VALID; ceil_mode for pools). */
function windowDims(c: RuleContext, x: Dim[] | null, kernel: (number | null)[], pool: boolean): Dim[] {
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

function conv(c: RuleContext): RuleOutput {
  const x = c.shape(0);
  const w = c.shape(1);
  const ks = c.node.attrInts('kernel_shape') ?? w?.slice(2).map((d) => (isNum(d) ? d : null));
  const sp = ks?.length ?? (x ? x.length - 2 : w ? w.length - 2 : -1);
  if (sp < 0) return { elemType: c.elem(0), shape: null };
  const kernel = ks ?? new Array<null>(sp).fill(null);
  return { elemType: c.elem(0), shape: [x?.[0] ?? null, w?.[0] ?? null, ...windowDims(c, x, kernel, false)] };
}

function convTranspose(c: RuleContext): RuleOutput {
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

function pool(c: RuleContext): (RuleOutput | null)[] {
  const x = c.shape(0);
  const ks = c.node.attrInts('kernel_shape');
  const shape = x && ks && x.length === ks.length + 2 ? [x[0]!, x[1]!, ...windowDims(c, x, ks, true)] : unknownDims(x);
  return [
    { elemType: c.elem(0), shape },
    { elemType: DT.INT64, shape },
  ];
}

const globalPool: Rule = (c) => ({ elemType: c.elem(0), shape: c.shape(0)?.map((d, i) => (i < 2 ? d : 1)) ?? null });

export const CONV_RULES: Record<string, Rule> = {
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
};
