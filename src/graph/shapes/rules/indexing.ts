/** Rules for ops that pick, join or split along axes: Concat, Split, Slice, Gather, NonZero, NonMaxSuppression. */
import { TensorProto_DataType as DT } from '../../../onnx/proto.js';
import type { Dim } from '../../graph.js';
import type { Rule } from '../context.js';
import { cleanDim, isNum, normAxis, unknownDims } from '../dims.js';
import { build, flat } from '../fold.js';

/** Ends at or past this mean "to the end" in Slice (torch writes INT64_MAX, others INT32_MAX). */
const TO_END = 2 ** 31 - 1;

export const INDEXING_RULES: Record<string, Rule> = {
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
  NonZero: (c) => ({ elemType: DT.INT64, shape: [c.shape(0)?.length ?? null, null] }),
  NonMaxSuppression: () => ({ elemType: DT.INT64, shape: [null, 3] }),
};
