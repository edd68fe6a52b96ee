/**
 * COCO's bounding-box evaluation, step for step as pycocotools' `COCOeval` (evaluate → accumulate → summarize)
 * does it for `iouType='bbox'`, `useCats=1`:
 *
 * - IoU thresholds 0.50:0.05:0.95 and recall thresholds 0:0.01:1 (101 points), built as numpy's `linspace` builds
 *   them (i·step + start, the last one exactly the stop), so `searchsorted` sees the same floats.
 * - Per image and category: detections sorted by score (stable, so ties keep their order), at most `maxDets`
 *   (100) of them; ground truths with `iscrowd` (or outside the area range) are ignored and sorted last.
 * - Greedy matching per IoU threshold, detections in score order: each takes the unmatched ground truth of
 *   highest IoU ≥ t (a later one of equal IoU wins, as in `evaluateImg`), a crowd ground truth can be matched again,
 *   and once a detection holds a regular ground truth it never moves to an ignored one. IoU with a crowd ground
 *   truth is intersection over the detection's area (maskUtils' `iou` with `iscrowd`).
 * - Per category over all images: detections by score (stable across images in image order), cumulative TP and
 *   FP, precision made monotone from the right, read at the 101 recall thresholds (`searchsorted` left).
 * - AP = the mean of the precisions that exist (a category without ground truth has none, -1 in pycocotools).
 *
 * One deliberate difference: pycocotools records matches by annotation id and treats id 0 as "unmatched"; here a
 * match is a flag, so a ground truth with id 0 is matched like any other.
 */

/** A ground-truth box: [x, y, w, h] in image pixels, as COCO's `bbox`. */
export interface GroundTruth {
  imageId: number;
  categoryId: number;
  bbox: readonly [number, number, number, number];
  /** COCO's `area` (a segment's area in COCO files; w·h for boxes from YOLO labels). Only the area range reads it. */
  area: number;
  iscrowd: boolean;
}

/** A detection: [x, y, w, h] in image pixels, as COCO's results format. */
export interface DetectionBox {
  imageId: number;
  categoryId: number;
  bbox: readonly [number, number, number, number];
  score: number;
}

export interface CocoEvalOptions {
  /** Most detections per image and category (default 100, COCO's last `maxDets`). */
  maxDets?: number;
  /** Area range [lo, hi] (default 'all': [0, 1e10]). */
  areaRange?: readonly [number, number];
  /** Images to evaluate (default: every image id of the ground truths and detections, ascending). */
  imageIds?: readonly number[];
  /** Categories to evaluate (default: every category id of the ground truths and detections, ascending). */
  categoryIds?: readonly number[];
}

export interface CocoEvalResult {
  iouThresholds: number[];
  recallThresholds: number[];
  categoryIds: number[];
  /** precision[t][k][r]: interpolated precision at IoU threshold t, category k, recall threshold r; -1 when category k has no ground truth. */
  precision: number[][][];
  /** recall[t][k]: the recall reached at IoU threshold t, category k; -1 when k has no ground truth. */
  recall: number[][];
  /** Scores at the recall thresholds, scores[t][k][r] (0 where precision has none). */
  scores: number[][][];
  /** AP at IoU 0.50:0.95 (COCO's stats[0]); -1 when no category has ground truth. */
  map5095: number;
  /** AP at IoU 0.50 (stats[1]). */
  map50: number;
  /** AP at IoU 0.75 (stats[2]). */
  map75: number;
  /** Average recall at maxDets (stats[8] for 100). */
  ar: number;
  /** Per category: AP at 0.50 and over 0.50:0.95; null when the category has no ground truth. */
  perCategory: { categoryId: number; ap50: number | null; ap5095: number | null; groundTruths: number; detections: number }[];
  /** Precision and recall at IoU 0.5 at the score that maximises F1, all categories pooled (see `bestF1`). */
  atBestF1: { precision: number; recall: number; f1: number; score: number | null };
}

/** numpy.linspace(start, stop, num): i·step + start, the last value the stop itself. */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/** COCO's thresholds: `np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1)` and the 101 recall points. */
export const IOU_THRESHOLDS = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
export const RECALL_THRESHOLDS = linspace(0, 1, Math.round(1 / 0.01) + 1);
/** numpy's `np.spacing(1)`: the guard in precision's denominator. */
const EPS = 2.220446049250313e-16;

/** maskUtils.iou for boxes ([x, y, w, h]): intersection over union, or over the detection's area for a crowd. */
export function bboxIou(d: readonly number[], g: readonly number[], crowd: boolean): number {
  const w = Math.min(d[0]! + d[2]!, g[0]! + g[2]!) - Math.max(d[0]!, g[0]!);
  if (w <= 0) return 0;
  const h = Math.min(d[1]! + d[3]!, g[1]! + g[3]!) - Math.max(d[1]!, g[1]!);
  if (h <= 0) return 0;
  const inter = w * h;
  const da = d[2]! * d[3]!;
  const union = crowd ? da : da + g[2]! * g[3]! - inter;
  return inter / union;
}

/** Indexes sorting `keys` ascending, ties in index order (numpy's `argsort(kind='mergesort')`). */
function stableArgsort(keys: readonly number[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
}

/** First index i with sorted[i] ≥ v (numpy's `searchsorted(side='left')`). */
function searchsortedLeft(sorted: readonly number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** evaluateImg's result for one image and category. */
interface ImageEval {
  /** Scores of the kept detections, best first. */
  dtScores: number[];
  /** dtMatched[t][d]: detection d matched at threshold t. */
  dtMatched: boolean[][];
  /** dtIgnore[t][d]: matched to an ignored ground truth, or unmatched and outside the area range. */
  dtIgnore: boolean[][];
  gtIgnore: boolean[];
}

function evaluateImage(gts: GroundTruth[], dts: DetectionBox[], areaRange: readonly [number, number], maxDets: number): ImageEval | null {
  if (gts.length === 0 && dts.length === 0) return null;
  // computeIoU: detections by score (stable), at most maxDets. evaluateImg sorts again, which keeps this order.
  const dOrder = stableArgsort(dts.map((d) => -d.score)).slice(0, maxDets);
  const dt = dOrder.map((i) => dts[i]!);
  const ignoredAt = gts.map((g) => g.iscrowd || g.area < areaRange[0] || g.area > areaRange[1]);
  const gOrder = stableArgsort(ignoredAt.map((x) => (x ? 1 : 0)));
  const gt = gOrder.map((i) => gts[i]!);
  const gtIg = gOrder.map((i) => ignoredAt[i]!);
  const ious = dt.map((d) => gt.map((g) => bboxIou(d.bbox, g.bbox, g.iscrowd)));
  const T = IOU_THRESHOLDS.length;
  const dtMatched = Array.from({ length: T }, () => new Array<boolean>(dt.length).fill(false));
  const dtIgnore = Array.from({ length: T }, () => new Array<boolean>(dt.length).fill(false));
  if (gt.length > 0 && dt.length > 0) {
    for (let t = 0; t < T; t++) {
      const gtMatched = new Array<boolean>(gt.length).fill(false);
      for (let di = 0; di < dt.length; di++) {
        let best = Math.min(IOU_THRESHOLDS[t]!, 1 - 1e-10);
        let m = -1;
        for (let gi = 0; gi < gt.length; gi++) {
          if (gtMatched[gi] && !gt[gi]!.iscrowd) continue;
          // Holding a regular ground truth, never move to an ignored one (they are sorted last).
          if (m > -1 && !gtIg[m] && gtIg[gi]) break;
          if (ious[di]![gi]! < best) continue;
          best = ious[di]![gi]!;
          m = gi;
        }
        if (m === -1) continue;
        dtIgnore[t]![di] = gtIg[m]!;
        dtMatched[t]![di] = true;
        gtMatched[m] = true;
      }
    }
  }
  // Unmatched detections outside the area range are ignored.
  for (let t = 0; t < T; t++) {
    for (let di = 0; di < dt.length; di++) {
      const a = dt[di]!.bbox[2] * dt[di]!.bbox[3];
      if (!dtMatched[t]![di] && (a < areaRange[0] || a > areaRange[1])) dtIgnore[t]![di] = true;
    }
  }
  return { dtScores: dt.map((d) => d.score), dtMatched, dtIgnore, gtIgnore: gtIg };
}

const sortedUnique = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

/** Mean of the entries > -1, or -1 when there are none (COCOeval's `_summarize`). */
function meanDefined(values: Iterable<number>): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (v > -1) {
      sum += v;
      n++;
    }
  }
  return n > 0 ? sum / n : -1;
}

/** Evaluates detections against ground truths as COCOeval does (see the header). */
export function cocoEvaluate(gts: readonly GroundTruth[], dts: readonly DetectionBox[], options: CocoEvalOptions = {}): CocoEvalResult {
  const maxDets = options.maxDets ?? 100;
  const areaRange = options.areaRange ?? [0, 1e5 ** 2];
  const imageIds = options.imageIds ? sortedUnique(options.imageIds) : sortedUnique([...gts, ...dts].map((x) => x.imageId));
  const categoryIds = options.categoryIds ? sortedUnique(options.categoryIds) : sortedUnique([...gts, ...dts].map((x) => x.categoryId));
  const key = (img: number, cat: number) => `${img}:${cat}`;
  const gtBy = new Map<string, GroundTruth[]>();
  const dtBy = new Map<string, DetectionBox[]>();
  for (const g of gts) (gtBy.get(key(g.imageId, g.categoryId)) ?? gtBy.set(key(g.imageId, g.categoryId), []).get(key(g.imageId, g.categoryId))!).push(g);
  for (const d of dts) (dtBy.get(key(d.imageId, d.categoryId)) ?? dtBy.set(key(d.imageId, d.categoryId), []).get(key(d.imageId, d.categoryId))!).push(d);

  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const precision = Array.from({ length: T }, () => categoryIds.map(() => new Array<number>(R).fill(-1)));
  const scores = Array.from({ length: T }, () => categoryIds.map(() => new Array<number>(R).fill(-1)));
  const recall = Array.from({ length: T }, () => categoryIds.map(() => -1));
  const perCategory: CocoEvalResult['perCategory'] = [];
  // Pooled over categories at IoU 0.5, for precision and recall at the best F1.
  const pooled: { score: number; tp: boolean; ignore: boolean }[] = [];
  let pooledGt = 0;

  for (const [k, cat] of categoryIds.entries()) {
    const evals = imageIds
      .map((img) => evaluateImage(gtBy.get(key(img, cat)) ?? [], dtBy.get(key(img, cat)) ?? [], areaRange, maxDets))
      .filter((e): e is ImageEval => e !== null);
    const groundTruths = imageIds.reduce((n, img) => n + (gtBy.get(key(img, cat))?.length ?? 0), 0);
    const detections = evals.reduce((n, e) => n + e.dtScores.length, 0);
    if (evals.length === 0) {
      perCategory.push({ categoryId: cat, ap50: null, ap5095: null, groundTruths, detections });
      continue;
    }
    const allScores = evals.flatMap((e) => e.dtScores);
    const order = stableArgsort(allScores.map((s) => -s));
    const sortedScores = order.map((i) => allScores[i]!);
    const npig = evals.reduce((n, e) => n + e.gtIgnore.filter((x) => !x).length, 0);
    if (npig === 0) {
      perCategory.push({ categoryId: cat, ap50: null, ap5095: null, groundTruths, detections });
      continue;
    }
    for (let t = 0; t < T; t++) {
      const matched = evals.flatMap((e) => e.dtMatched[t]!);
      const ignored = evals.flatMap((e) => e.dtIgnore[t]!);
      let tp = 0;
      let fp = 0;
      const rc: number[] = [];
      const pr: number[] = [];
      for (const i of order) {
        if (matched[i] && !ignored[i]) tp++;
        if (!matched[i] && !ignored[i]) fp++;
        rc.push(tp / npig);
        pr.push(tp / (fp + tp + EPS));
        if (t === 0) pooled.push({ score: allScores[i]!, tp: !!matched[i] && !ignored[i], ignore: !!ignored[i] });
      }
      recall[t]![k] = rc.length > 0 ? rc[rc.length - 1]! : 0;
      for (let i = pr.length - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
      const q = new Array<number>(R).fill(0);
      const ss = new Array<number>(R).fill(0);
      // pycocotools stops at the first recall threshold past the last detection (an IndexError it catches).
      for (let r = 0; r < R; r++) {
        const at = searchsortedLeft(rc, RECALL_THRESHOLDS[r]!);
        if (at >= pr.length) break;
        q[r] = pr[at]!;
        ss[r] = sortedScores[at]!;
      }
      precision[t]![k] = q;
      scores[t]![k] = ss;
    }
    pooledGt += npig;
    perCategory.push({
      categoryId: cat,
      ap50: meanDefined(precision[0]![k]!),
      ap5095: meanDefined(precision.flatMap((p) => p[k]!)),
      groundTruths,
      detections,
    });
  }
  const iouIndex = (v: number) => IOU_THRESHOLDS.findIndex((t) => Math.abs(t - v) < 1e-12);
  const allPrecision = (t?: number) => (t === undefined ? precision : [precision[t]!]).flatMap((p) => p.flat());
  return {
    iouThresholds: IOU_THRESHOLDS,
    recallThresholds: RECALL_THRESHOLDS,
    categoryIds,
    precision,
    recall,
    scores,
    map5095: meanDefined(allPrecision()),
    map50: meanDefined(allPrecision(iouIndex(0.5))),
    map75: meanDefined(allPrecision(iouIndex(0.75))),
    ar: meanDefined(recall.flat()),
    perCategory,
    atBestF1: bestF1(pooled, pooledGt),
  };
}

/**
 * Precision and recall at IoU 0.5 with every category pooled, at the score threshold that maximises F1 (the first
 * such threshold, best scores first): a detection engineer's "P" and "R" at one operating point. Ultralytics
 * prints the same idea per class, averaged, on an interpolated grid; this one is exact on the matches above.
 */
function bestF1(pooled: { score: number; tp: boolean; ignore: boolean }[], groundTruths: number): CocoEvalResult['atBestF1'] {
  const order = stableArgsort(pooled.map((p) => -p.score));
  let tp = 0;
  let fp = 0;
  let best = { precision: 0, recall: 0, f1: 0, score: null as number | null };
  for (let j = 0; j < order.length; j++) {
    const p = pooled[order[j]!]!;
    if (p.tp) tp++;
    else if (!p.ignore) fp++;
    // A threshold lies between distinct scores: equal scores are kept or dropped together.
    const next = order[j + 1];
    if ((next !== undefined && pooled[next]!.score === p.score) || tp + fp === 0) continue;
    const precision = tp / (tp + fp);
    const recall = groundTruths > 0 ? tp / groundTruths : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    if (f1 > best.f1) best = { precision, recall, f1, score: p.score };
  }
  return best;
}
