import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreement } from './detection-agreement.js';
import type { OutputTensor } from './session.js';

/** One YOLOv8 output [1, 4+1, 2]: channel c of anchor a at c·2 + a; (cx, cy, w, h, score) per anchor. */
const yolov8 = (...anchors: [number, number, number, number, number][]): OutputTensor[] => [
  { name: 'output0', type: 'float32', dims: [1, 5, anchors.length], data: [0, 1, 2, 3, 4].flatMap((c) => anchors.map((a) => a[c]!)) },
];

test('agreement pairs the two runs image by image and sums the matches over every image', () => {
  const a = [yolov8([10, 10, 4, 4, 0.9], [50, 50, 10, 10, 0.8]), yolov8([10, 10, 4, 4, 0.9], [50, 50, 10, 10, 0.1])];
  // Image 1 of b: the first box moved 1 px right (IoU 12/20 = 0.6), the second below conf (missing).
  // Image 2 of b: as a (one box above conf, IoU 1).
  const b = [yolov8([11, 10, 4, 4, 0.9], [50, 50, 10, 10, 0.1]), a[1]!];
  assert.deepEqual(agreement('yolov8', a, b, { conf: 0.25, iou: 0.45 }), {
    format: 'yolov8',
    conf: 0.25,
    iou: 0.45,
    matchedPct: 66.6667,
    classAgreement: 1,
    meanIoU: 0.8,
    missing: 1,
    extra: 0,
    refCount: 3,
    otherCount: 2,
    images: 2,
  });
  // Nothing detected on either side agrees fully; only on b's side is all extra.
  const empty = [yolov8([10, 10, 4, 4, 0.1])];
  assert.equal(agreement('yolov8', empty, empty, { conf: 0.25, iou: 0.45 }).matchedPct, 100);
  const extra = agreement('yolov8', empty, [yolov8([10, 10, 4, 4, 0.9])], { conf: 0.25, iou: 0.45 });
  assert.deepEqual([extra.matchedPct, extra.extra, extra.classAgreement, extra.meanIoU], [0, 1, null, null]);
});
