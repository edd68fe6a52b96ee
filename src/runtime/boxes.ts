/**
 * Boxes after decoding: their geometry (IoU), the two ways a decoder keeps the best of its candidates (class-aware
 * NMS for YOLO heads, top-k for RT-DETR's queries) and how two sets of detections pair up (compare's agreement).
 * Apart from the per-format decoders in detections.ts, so the metrics that only need boxes do not read layouts.
 */

/** [x1, y1, x2, y2]. */
export type Box = [number, number, number, number];

export interface Detection {
  box: Box;
  score: number;
  classId: number;
}

// ----------------------------------------------------------------------------------------------------------------
// Geometry

/** Intersection over union of two xyxy boxes; 0 when either is empty or they do not overlap. */
export function iou(a: Box, b: Box): number {
  const areaA = Math.max(0, a[2] - a[0]) * Math.max(0, a[3] - a[1]);
  const areaB = Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = areaA + areaB - inter;
  return union > 0 ? inter / union : 0;
}

export function xywhToXyxy(cx: number, cy: number, w: number, h: number): Box {
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

/** Best first; equal scores keep candidate order, so results never depend on the sort's stability. */
export function byScore<T extends { det: Detection; index: number }>(a: T, b: T): number {
  return b.det.score - a.det.score || a.index - b.index;
}

/**
 * Greedy class-aware NMS, as torchvision's `batched_nms`: walk candidates best first, keep one unless a kept box
 * of the same class overlaps it by more than `iouThreshold`.
 */
export function nms(candidates: Detection[], iouThreshold: number, maxDetections: number): Detection[] {
  const order = candidates.map((det, index) => ({ det, index })).sort(byScore);
  const kept: Detection[] = [];
  for (const { det } of order) {
    if (kept.length >= maxDetections) break;
    if (kept.some((k) => k.classId === det.classId && iou(k.box, det.box) > iouThreshold)) continue;
    kept.push(det);
  }
  return kept;
}

export function topK(candidates: Detection[], maxDetections: number): Detection[] {
  return candidates
    .map((det, index) => ({ det, index }))
    .sort(byScore)
    .slice(0, maxDetections)
    .map((c) => c.det);
}

// ----------------------------------------------------------------------------------------------------------------
// Matching

export interface MatchResult {
  /** 100 · matched / refCount; 100 when both sets are empty, 0 when only the reference is empty. */
  matchedPct: number;
  /** Fraction (0..1) of matched pairs with the same class; null when nothing matched. */
  classAgreement: number | null;
  /** Mean IoU of matched pairs; null when nothing matched. */
  meanIoU: number | null;
  matched: number;
  /** Reference detections with no partner. */
  missing: number;
  /** Other detections with no partner. */
  extra: number;
  refCount: number;
  otherCount: number;
}

/**
 * Pairs two detection sets: reference detections best first (ties by index), each taking the still-unpaired
 * other detection of highest IoU (ties by index), if that IoU reaches `iouThreshold`. Classes are ignored for
 * pairing, so a box that stays put but changes class shows up in classAgreement rather than as missing + extra.
 */
export function matchDetections(ref: readonly Detection[], other: readonly Detection[], iouThreshold = 0.5): MatchResult {
  const taken = new Uint8Array(other.length);
  const order = ref.map((det, index) => ({ det, index })).sort(byScore);
  let matched = 0;
  let sameClass = 0;
  let iouSum = 0;
  for (const { det } of order) {
    let best = -1;
    let bestIoU = -Infinity;
    for (let j = 0; j < other.length; j++) {
      if (taken[j]) continue;
      const v = iou(det.box, other[j]!.box);
      if (v >= iouThreshold && v > bestIoU) {
        best = j;
        bestIoU = v;
      }
    }
    if (best < 0) continue;
    taken[best] = 1;
    matched++;
    iouSum += bestIoU;
    if (other[best]!.classId === det.classId) sameClass++;
  }
  let matchedPct: number;
  if (ref.length > 0) matchedPct = (100 * matched) / ref.length;
  else matchedPct = other.length === 0 ? 100 : 0;
  return {
    matchedPct,
    classAgreement: matched > 0 ? sameClass / matched : null,
    meanIoU: matched > 0 ? iouSum / matched : null,
    matched,
    missing: ref.length - matched,
    extra: other.length - matched,
    refCount: ref.length,
    otherCount: other.length,
  };
}
