/**
 * Detection-level agreement of two runs (compare, sweep): both decoded in the reference's format, image by image,
 * then paired box by box (boxes.ts matchDetections) and summed over every image.
 */
import { matchDetections } from './boxes.js';
import { decodeRuns, type Format } from './detections.js';
import type { OutputTensor } from './session.js';

export interface DetectionAgreement {
  format: Format;
  /** Score threshold and NMS IoU the boxes were decoded with. */
  conf: number;
  iou: number;
  matchedPct: number;
  classAgreement: number | null;
  meanIoU: number | null;
  missing: number;
  extra: number;
  refCount: number;
  otherCount: number;
  images: number;
}

export interface DecodeSettings {
  conf: number;
  iou: number;
}

const round = (x: number, digits = 4) => Number(x.toFixed(digits));

export function agreement(format: Format, a: OutputTensor[][], b: OutputTensor[][], d: DecodeSettings): DetectionAgreement {
  // One list per image, input sets in order: a's image i pairs with b's image i.
  const decode = (runs: OutputTensor[][]) => decodeRuns(format, runs, { scoreThreshold: d.conf, iouThreshold: d.iou }).flat();
  const ra = decode(a);
  const rb = decode(b);
  let matched = 0,
    same = 0,
    iouSum = 0,
    missing = 0,
    extra = 0,
    refCount = 0,
    otherCount = 0;
  ra.forEach((ref, i) => {
    const m = matchDetections(ref, rb[i] ?? []);
    matched += m.matched;
    same += (m.classAgreement ?? 0) * m.matched;
    iouSum += (m.meanIoU ?? 0) * m.matched;
    missing += m.missing;
    extra += m.extra;
    refCount += m.refCount;
    otherCount += m.otherCount;
  });
  return {
    format,
    conf: d.conf,
    iou: d.iou,
    matchedPct: refCount > 0 ? round((100 * matched) / refCount) : otherCount === 0 ? 100 : 0,
    classAgreement: matched > 0 ? round(same / matched) : null,
    meanIoU: matched > 0 ? round(iouSum / matched) : null,
    missing,
    extra,
    refCount,
    otherCount,
    images: ra.length,
  };
}
