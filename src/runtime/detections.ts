/**
 * Detector outputs as boxes: which layout a model's outputs have, and one decoder per head family. Raw tensors can
 * differ a little while the detections stay the same (or differ a lot while one box flips), so the comparison a
 * user cares about for a patched detector is at this level; NMS, top-k and how two sets of boxes agree are in
 * boxes.ts.
 *
 * Output formats (N = batch, A = anchors/candidates, nc = classes; all row-major):
 *
 * - `yolov5`: one output [N, A, 5+nc]; each row is (cx, cy, w, h, objectness, class scores…), in input pixels.
 *   score = objectness × max class score (YOLOv5's `non_max_suppression`).
 * - `yolov8` (also YOLO11 and other ultralytics anchor-free heads): one output [N, 4+nc, A], channel-major:
 *   channel c of anchor a is at [c·A + a]. Channels are (cx, cy, w, h, class scores…); score = max class score.
 * - `rtdetr` (ultralytics RT-DETR): one output [N, 300, 4+nc]; (cx, cy, w, h) normalised to [0, 1] and kept
 *   normalised, class scores already sigmoided; score = max class score. The decoder's queries do not duplicate
 *   each other, so there is no NMS.
 * - `rtdetr-official` (lyuwenyu/RT-DETR export with its postprocessor): outputs named `labels` [N, 300] (int64),
 *   `boxes` [N, 300, 4] (x1, y1, x2, y2, already in the units of `orig_target_sizes`) and `scores` [N, 300]. No NMS.
 *
 * Scores are kept when strictly greater than the threshold, as ultralytics and YOLOv5 do, so the counts here match
 * what their `predict` prints for the same threshold. Ties in score keep the lower candidate index first.
 */

import { nms, topK, xywhToXyxy, type Box, type Detection } from './boxes.js';

export type { Box, Detection };

export type Format = 'yolov5' | 'yolov8' | 'rtdetr' | 'rtdetr-official';

/** Tensor data as onnxruntime hands it back; integer kinds are read as numbers. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | ArrayLike<number> | ArrayLike<bigint>;

export interface OutputTensor {
  dims: readonly number[];
  data: TensorData;
}

export interface DecodeOptions {
  /** Keep detections scoring above this (default 0.25, ultralytics' `conf`). */
  scoreThreshold?: number;
  /** NMS suppresses a same-class box overlapping a kept one by more than this (default 0.45, YOLOv5's `iou_thres`). */
  iouThreshold?: number;
  /** At most this many detections, best first (default 300, ultralytics' `max_det`). */
  maxDetections?: number;
  /** Which image of the batch (default 0). */
  batchIndex?: number;
  /**
   * YOLO formats: one candidate per class scoring above the threshold, not just the best class (default false), as
   * ultralytics' and YOLOv5's `val` decode (`multi_label=True`); RT-DETR keeps its best class either way.
   */
  multiLabel?: boolean;
}

const OFFICIAL_NAMES = ['labels', 'boxes', 'scores'] as const;
/** RT-DETR's decoder always emits this many queries; shape detection uses it to tell RT-DETR from YOLO. */
const RTDETR_QUERIES = 300;

// ----------------------------------------------------------------------------------------------------------------
// Format detection

/** Does one [N, ·, ·] output fit the format's layout? Dims ≤ 0 (dynamic) are accepted as unknown. */
export function fitsLayout(format: Exclude<Format, 'rtdetr-official'>, dims: readonly number[]): boolean {
  if (dims.length !== 3) return false;
  const [, rows, cols] = dims as [number, number, number];
  const known = (d: number) => d > 0;
  switch (format) {
    case 'yolov5': // at least one class after (box, objectness)
      return !known(cols) || cols >= 6;
    case 'yolov8': // at least one class after the box
      return !known(rows) || rows >= 5;
    case 'rtdetr':
      return !known(cols) || cols >= 5;
  }
}

function hasOfficialOutputs(outputs: readonly { name: string }[]): boolean {
  const names = new Set(outputs.map((o) => o.name));
  return OFFICIAL_NAMES.every((n) => names.has(n));
}

/**
 * The output format of a detector. A known `family` (as `inspect` reports it) decides, as long as the outputs fit
 * that layout; otherwise shapes decide: the three official RT-DETR names, then a rank-3 output [N, 300, K] (RT-DETR),
 * [N, A, K] with A > K (YOLOv5: thousands of anchor rows of 5+nc values) or [N, K, A] with K < A (YOLOv8/YOLO11).
 * Shapes alone cannot tell a YOLOv5 output from a transposed YOLOv8 one; that is what `family` is for.
 * Returns null when nothing fits.
 */
export function detectFormat(outputs: readonly { name: string; dims: readonly number[] }[], family?: string): Format | null {
  const fam = family?.toLowerCase();
  const rank3 = outputs.filter((o) => o.dims.length === 3);
  switch (fam) {
    case 'yolov5':
      return rank3.some((o) => fitsLayout('yolov5', o.dims)) ? 'yolov5' : null;
    case 'yolov8':
    case 'yolo11':
      return rank3.some((o) => fitsLayout('yolov8', o.dims)) ? 'yolov8' : null;
    case 'rtdetr':
    case 'rtdetr-official':
      // The family names the model, not its export: an ultralytics RT-DETR and the official one share the family
      // `rtdetr` in some callers, so the outputs pick the layout.
      if (hasOfficialOutputs(outputs)) return 'rtdetr-official';
      if (fam === 'rtdetr' && rank3.some((o) => fitsLayout('rtdetr', o.dims))) return 'rtdetr';
      return null;
  }
  if (hasOfficialOutputs(outputs)) return 'rtdetr-official';
  for (const o of rank3) {
    const [, rows, cols] = o.dims as [number, number, number];
    if (rows <= 0 || cols <= 0) continue; // dynamic dims: the shape says nothing
    if (rows === RTDETR_QUERIES && cols < rows && fitsLayout('rtdetr', o.dims)) return 'rtdetr';
    if (rows > cols && fitsLayout('yolov5', o.dims)) return 'yolov5';
    if (rows < cols && fitsLayout('yolov8', o.dims)) return 'yolov8';
  }
  return null;
}

// ----------------------------------------------------------------------------------------------------------------
// Decoding

/** An accessor for one tensor, checked against its dims so a wrong layout fails loudly instead of reading junk. */
function reader(name: string, t: OutputTensor): (i: number) => number {
  const size = t.dims.reduce((p, d) => p * d, 1);
  if (t.dims.some((d) => !Number.isInteger(d) || d < 0) || size !== t.data.length) {
    throw new Error(`output '${name}': dims [${t.dims.join(', ')}] do not match ${t.data.length} values`);
  }
  const data = t.data;
  return (i) => Number(data[i]);
}

/** The single rank-3 output a YOLO or ultralytics RT-DETR decode reads: the first one that fits the layout. */
function singleOutput(format: Exclude<Format, 'rtdetr-official'>, outputs: ReadonlyMap<string, OutputTensor>): [string, OutputTensor] {
  for (const entry of outputs) if (fitsLayout(format, entry[1].dims)) return entry;
  const shapes = [...outputs].map(([n, t]) => `${n} [${t.dims.join(', ')}]`).join(', ') || 'none';
  throw new Error(`no output fits the ${format} layout; outputs: ${shapes}`);
}

function checkBatch(name: string, dims: readonly number[], batchIndex: number): void {
  const n = dims[0] ?? 0;
  if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= n) {
    throw new Error(`batch index ${batchIndex} is outside output '${name}' with batch ${n}`);
  }
}

/** First index of the largest of `count` scores read from `at(c)`; ties keep the lower class, like argmax. */
function bestClass(count: number, at: (c: number) => number): { classId: number; score: number } {
  let classId = 0;
  let score = -Infinity;
  for (let c = 0; c < count; c++) {
    const s = at(c);
    if (s > score) {
      score = s;
      classId = c;
    }
  }
  return { classId, score };
}

function decodeYolov5(outputs: ReadonlyMap<string, OutputTensor>, o: Required<DecodeOptions>): Detection[] {
  const [name, t] = singleOutput('yolov5', outputs);
  checkBatch(name, t.dims, o.batchIndex);
  const [, anchors, width] = t.dims as [number, number, number];
  const at = reader(name, t);
  const out: Detection[] = [];
  for (let a = 0; a < anchors; a++) {
    const row = (o.batchIndex * anchors + a) * width;
    const obj = at(row + 4);
    // YOLOv5 drops rows by objectness first; a row that fails it cannot pass obj × cls either (cls ≤ 1).
    if (!(obj > o.scoreThreshold)) continue;
    if (o.multiLabel) {
      for (let c = 0; c < width - 5; c++) {
        const score = obj * at(row + 5 + c);
        if (score > o.scoreThreshold) out.push({ box: xywhToXyxy(at(row), at(row + 1), at(row + 2), at(row + 3)), score, classId: c });
      }
      continue;
    }
    const best = bestClass(width - 5, (c) => at(row + 5 + c));
    const score = obj * best.score;
    if (!(score > o.scoreThreshold)) continue;
    out.push({ box: xywhToXyxy(at(row), at(row + 1), at(row + 2), at(row + 3)), score, classId: best.classId });
  }
  return nms(out, o.iouThreshold, o.maxDetections);
}

function decodeYolov8(outputs: ReadonlyMap<string, OutputTensor>, o: Required<DecodeOptions>): Detection[] {
  const [name, t] = singleOutput('yolov8', outputs);
  checkBatch(name, t.dims, o.batchIndex);
  const [, channels, anchors] = t.dims as [number, number, number];
  const at = reader(name, t);
  const base = o.batchIndex * channels * anchors;
  const ch = (c: number, a: number) => at(base + c * anchors + a);
  const out: Detection[] = [];
  for (let a = 0; a < anchors; a++) {
    if (o.multiLabel) {
      for (let c = 0; c < channels - 4; c++) {
        const score = ch(4 + c, a);
        if (score > o.scoreThreshold) out.push({ box: xywhToXyxy(ch(0, a), ch(1, a), ch(2, a), ch(3, a)), score, classId: c });
      }
      continue;
    }
    const best = bestClass(channels - 4, (c) => ch(4 + c, a));
    if (!(best.score > o.scoreThreshold)) continue;
    out.push({ box: xywhToXyxy(ch(0, a), ch(1, a), ch(2, a), ch(3, a)), score: best.score, classId: best.classId });
  }
  return nms(out, o.iouThreshold, o.maxDetections);
}

function decodeRtdetr(outputs: ReadonlyMap<string, OutputTensor>, o: Required<DecodeOptions>): Detection[] {
  const [name, t] = singleOutput('rtdetr', outputs);
  checkBatch(name, t.dims, o.batchIndex);
  const [, queries, width] = t.dims as [number, number, number];
  const at = reader(name, t);
  const out: Detection[] = [];
  for (let q = 0; q < queries; q++) {
    const row = (o.batchIndex * queries + q) * width;
    const best = bestClass(width - 4, (c) => at(row + 4 + c));
    if (!(best.score > o.scoreThreshold)) continue;
    out.push({ box: xywhToXyxy(at(row), at(row + 1), at(row + 2), at(row + 3)), score: best.score, classId: best.classId });
  }
  return topK(out, o.maxDetections);
}

function decodeRtdetrOfficial(outputs: ReadonlyMap<string, OutputTensor>, o: Required<DecodeOptions>): Detection[] {
  const get = (n: (typeof OFFICIAL_NAMES)[number]) => {
    const t = outputs.get(n);
    if (!t) throw new Error(`rtdetr-official needs outputs labels, boxes and scores; '${n}' is missing`);
    return t;
  };
  const labels = get('labels');
  const boxes = get('boxes');
  const scores = get('scores');
  checkBatch('scores', scores.dims, o.batchIndex);
  const queries = scores.dims[1] ?? 0;
  if (scores.dims.length !== 2 || labels.dims.length !== 2 || labels.dims[1] !== queries) {
    throw new Error(`rtdetr-official: labels [${labels.dims.join(', ')}] and scores [${scores.dims.join(', ')}] must both be [N, Q]`);
  }
  if (boxes.dims.length !== 3 || boxes.dims[1] !== queries || boxes.dims[2] !== 4) {
    throw new Error(`rtdetr-official: boxes [${boxes.dims.join(', ')}] must be [N, ${queries}, 4]`);
  }
  const label = reader('labels', labels);
  const box = reader('boxes', boxes);
  const score = reader('scores', scores);
  const out: Detection[] = [];
  for (let q = 0; q < queries; q++) {
    const i = o.batchIndex * queries + q;
    const s = score(i);
    if (!(s > o.scoreThreshold)) continue;
    out.push({ box: [box(i * 4), box(i * 4 + 1), box(i * 4 + 2), box(i * 4 + 3)], score: s, classId: label(i) });
  }
  return topK(out, o.maxDetections);
}

/** Decodes one image of the batch into detections, best first (see the header for each format). */
export function decodeDetections(format: Format, outputs: ReadonlyMap<string, OutputTensor>, opts: DecodeOptions = {}): Detection[] {
  const o: Required<DecodeOptions> = {
    scoreThreshold: opts.scoreThreshold ?? 0.25,
    iouThreshold: opts.iouThreshold ?? 0.45,
    maxDetections: opts.maxDetections ?? 300,
    batchIndex: opts.batchIndex ?? 0,
    multiLabel: opts.multiLabel ?? false,
  };
  switch (format) {
    case 'yolov5':
      return decodeYolov5(outputs, o);
    case 'yolov8':
      return decodeYolov8(outputs, o);
    case 'rtdetr':
      return decodeRtdetr(outputs, o);
    case 'rtdetr-official':
      return decodeRtdetrOfficial(outputs, o);
  }
}

/** One named output of a model run, as onnxruntime hands it back. */
export interface NamedOutput {
  name: string;
  dims: readonly number[];
  data: TensorData | ArrayLike<number | bigint>;
}

/**
 * Decodes every image of every run. Each run is one input set's outputs, holding a batch of images (dim 0 of its
 * first output); the result is per run, then per image of its batch, the image's detections best first.
 * validate counts these per input set; compare pairs them image by image.
 */
export function decodeRuns(format: Format, runs: readonly (readonly NamedOutput[])[], opts: Omit<DecodeOptions, 'batchIndex'> = {}): Detection[][][] {
  return runs.map((outputs) => {
    const map = new Map<string, OutputTensor>(outputs.map((o) => [o.name, { dims: o.dims, data: o.data as TensorData }]));
    const batch = outputs[0]?.dims[0] ?? 1;
    return Array.from({ length: batch }, (_, i) => decodeDetections(format, map, { ...opts, batchIndex: i }));
  });
}
