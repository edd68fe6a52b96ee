/**
 * Per-part output metrics. A detector's raw output mixes box coordinates (hundreds of pixels) with class scores
 * (0..1), so whole-tensor metrics are dominated by the boxes: YOLOv8n with NAM at the head moves `output0` by a
 * relative L2 of 3.7e-5 but its 80 score rows by 1.9e-3. Each known layout (detections.ts decodes the same ones)
 * is split into its parts, and each part gets its own max abs, relative L2 and cosine:
 *
 * - `yolov5` [N, A, 5+nc]: boxes = columns 0..3, objectness = column 4, scores = columns 5..
 * - `yolov8` (YOLO11 too) [N, 4+nc, A]: boxes = rows 0..3, scores = rows 4..
 * - `rtdetr` (ultralytics) [N, 300, 4+nc]: boxes = columns 0..3, scores = columns 4..
 * - `rtdetr-official`: the outputs `labels`, `boxes` and `scores` are each a part.
 */
import { detectFormat, fitsLayout, type Format } from './detections.js';
import { compareTensors, type NumericArray } from './metrics.js';

export type PartName = 'boxes' | 'objectness' | 'scores' | 'labels';

export interface PartMetrics {
  part: PartName;
  maxAbs: number;
  relL2: number;
  cosine: number;
}

/** One part of one output: along `axis` (1 = rows, 2 = columns of [N, R, C]) the indexes [from, to); axis 0 = all. */
export interface PartSpec {
  part: PartName;
  axis: 0 | 1 | 2;
  from: number;
  to: number;
}

interface Named {
  name: string;
  dims: readonly number[];
}

/**
 * The layout to split outputs by: the detector format of a known family (as compare and validate decode it), or
 * null for an unknown model (its outputs keep whole-output metrics only; shapes alone could misread it).
 */
export function partsFormat(family: string | undefined, outputs: readonly Named[]): Format | null {
  if (!family || family === 'unknown') return null;
  return detectFormat(outputs, family);
}

/** Each output's parts in `format`: the one output the format decodes (the first that fits), or the official three. */
export function outputParts(format: Format, outputs: readonly Named[]): Map<string, PartSpec[]> {
  const parts = new Map<string, PartSpec[]>();
  if (format === 'rtdetr-official') {
    for (const o of outputs)
      if (o.name === 'labels' || o.name === 'boxes' || o.name === 'scores') parts.set(o.name, [{ part: o.name, axis: 0, from: 0, to: 0 }]);
    return parts;
  }
  const o = outputs.find((x) => fitsLayout(format, x.dims));
  if (!o) return parts;
  const [, rows, cols] = o.dims as [number, number, number];
  if (format === 'yolov5')
    parts.set(o.name, [
      { part: 'boxes', axis: 2, from: 0, to: 4 },
      { part: 'objectness', axis: 2, from: 4, to: 5 },
      { part: 'scores', axis: 2, from: 5, to: cols },
    ]);
  else if (format === 'yolov8')
    parts.set(o.name, [
      { part: 'boxes', axis: 1, from: 0, to: 4 },
      { part: 'scores', axis: 1, from: 4, to: rows },
    ]);
  else
    parts.set(o.name, [
      { part: 'boxes', axis: 2, from: 0, to: 4 },
      { part: 'scores', axis: 2, from: 4, to: cols },
    ]);
  return parts;
}

/** The values of one part of a tensor [N, R, C] (row-major), as float64. */
export function partValues(spec: PartSpec, dims: readonly number[], data: NumericArray): Float64Array {
  if (spec.axis === 0) return Float64Array.from(data as ArrayLike<number>, Number);
  const [n, r, c] = dims as [number, number, number];
  const width = spec.to - spec.from;
  const out = new Float64Array(spec.axis === 1 ? n * width * c : n * r * width);
  let k = 0;
  for (let b = 0; b < n; b++) {
    if (spec.axis === 1) {
      // Rows from..to of image b are one contiguous block.
      for (let i = (b * r + spec.from) * c, end = (b * r + spec.to) * c; i < end; i++) out[k++] = Number(data[i]);
    } else {
      for (let row = 0; row < r; row++) {
        const base = (b * r + row) * c;
        for (let j = spec.from; j < spec.to; j++) out[k++] = Number(data[base + j]);
      }
    }
  }
  return out;
}

const round8 = (x: number) => Number(x.toFixed(8));

/**
 * Metrics of each part of `name`, b against the reference a, over every input set (the parts of all sets are
 * measured as one vector, as compare accumulates its whole-output metrics).
 */
export function partMetrics(specs: readonly PartSpec[], a: readonly Named[][], b: readonly Named[][], name: string): PartMetrics[] {
  const tensors = (runs: readonly Named[][]) => runs.map((outs) => outs.find((o) => o.name === name) as (Named & { data: NumericArray }) | undefined);
  const ta = tensors(a);
  const tb = tensors(b);
  if (ta.some((t) => !t) || tb.some((t) => !t)) return [];
  // A set whose shapes differ has no error to measure (compare reports it); its parts neither.
  if (ta.some((t, i) => JSON.stringify(t!.dims) !== JSON.stringify(tb[i]?.dims))) return [];
  return specs.map((spec) => {
    const concat = (ts: (Named & { data: NumericArray })[]) => {
      const pieces = ts.map((t) => partValues(spec, t.dims, t.data));
      const all = new Float64Array(pieces.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of pieces) {
        all.set(p, at);
        at += p.length;
      }
      return all;
    };
    const c = compareTensors(concat(ta as (Named & { data: NumericArray })[]), concat(tb as (Named & { data: NumericArray })[]));
    return { part: spec.part, maxAbs: c.maxAbs, relL2: c.relL2, cosine: round8(c.cosine) };
  });
}

/**
 * Adds `parts` to each compared output of a known family (an empty list for the others, and for outputs whose
 * shapes differ between a and b: there is nothing to split). `runsA`/`runsB` are the outputs of each input set.
 */
export function withParts<T extends { name: string; shape: readonly number[]; shapeB: readonly number[] }>(
  outputs: readonly T[],
  runsA: readonly Named[][],
  runsB: readonly Named[][],
  family: string | undefined,
): (T & { parts: PartMetrics[] })[] {
  const first = runsA[0] ?? [];
  const format = partsFormat(family, first);
  const specs = format ? outputParts(format, first) : new Map<string, PartSpec[]>();
  return outputs.map((o) => {
    const s = specs.get(o.name);
    const comparable = JSON.stringify(o.shape) === JSON.stringify(o.shapeB);
    return { ...o, parts: s && comparable ? partMetrics(s, runsA, runsB, o.name) : [] };
  });
}

/** The relative L2 of the scores part (the worst over outputs), or null when no output has one. */
export function scoreChange(outputs: readonly { parts?: readonly PartMetrics[] }[]): number | null {
  const values = outputs.flatMap((o) => (o.parts ?? []).filter((p) => p.part === 'scores').map((p) => p.relL2));
  return values.length > 0 ? Math.max(...values) : null;
}
