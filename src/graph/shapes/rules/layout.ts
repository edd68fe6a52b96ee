/** Rules for ops that change a tensor's layout or rank, not its elements: Reshape, Flatten, (Un)Squeeze, Transpose, Expand, Tile. */
import type { Dim } from '../../graph.js';
import type { Rule } from '../context.js';
import { broadcast, cleanDim, inferDim, isNum, MAX_RANK, mulDims, normAxis, unknownDims } from '../dims.js';
import { broadcastData, build, flat } from '../fold.js';

export const LAYOUT_RULES: Record<string, Rule> = {
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
};
