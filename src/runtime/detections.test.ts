import assert from 'node:assert/strict';
import { suite, test } from 'node:test';
import { iou, matchDetections, type Box, type Detection } from './boxes.js';
import { decodeDetections, detectFormat, type OutputTensor } from './detections.js';

const one = (name: string, dims: number[], values: number[]): Map<string, OutputTensor> => new Map([[name, { dims, data: new Float32Array(values) }]]);
const det = (box: Box, score: number, classId: number): Detection => ({ box, score, classId });

/** Closeness for values computed from hand fractions (the sums round differently). */
function near(actual: number | null, expected: number): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${actual} ≉ ${expected}`);
}

suite('decodeDetections: yolov5 [N, A, 5+nc]', () => {
  // 4 anchors, 2 classes; every value is a binary fraction, so float32 holds it and the products are exact.
  const rows = [
    [10, 10, 4, 4, 1, 0.75, 0.5], // class 0, 0.75, [8, 8, 12, 12]
    [11, 10, 4, 4, 1, 0.5, 0.25], // class 0, 0.5, [9, 8, 13, 12]: IoU 12/20 = 0.6 with row 0
    [11, 10, 4, 4, 0.5, 0.25, 0.75], // class 1, 0.375, same box as row 1
    [50, 50, 2, 2, 0.5, 0.5, 0], // class 0, 0.25: not above the default 0.25
  ];
  const outputs = one('output0', [1, 4, 7], rows.flat());

  test('score = objectness × best class; NMS suppresses only within a class', () => {
    assert.deepEqual(decodeDetections('yolov5', outputs), [det([8, 8, 12, 12], 0.75, 0), det([9, 8, 13, 12], 0.375, 1)]);
  });

  test('the score threshold is strict and adjustable', () => {
    const r = decodeDetections('yolov5', outputs, { scoreThreshold: 0.2 });
    assert.deepEqual(r, [det([8, 8, 12, 12], 0.75, 0), det([9, 8, 13, 12], 0.375, 1), det([49, 49, 51, 51], 0.25, 0)]);
    assert.deepEqual(decodeDetections('yolov5', outputs, { scoreThreshold: 0.5 }), [det([8, 8, 12, 12], 0.75, 0)]);
  });

  test('an IoU threshold above the overlap keeps both same-class boxes; maxDetections caps', () => {
    const r = decodeDetections('yolov5', outputs, { iouThreshold: 0.7 });
    assert.deepEqual(
      r.map((d) => d.score),
      [0.75, 0.5, 0.375],
    );
    assert.deepEqual(decodeDetections('yolov5', outputs, { maxDetections: 1 }), [det([8, 8, 12, 12], 0.75, 0)]);
    // IoU exactly 0.6 is not "more than" 0.6
    assert.equal(decodeDetections('yolov5', outputs, { iouThreshold: 0.6 }).length, 3);
  });

  test('extra outputs of other ranks are ignored', () => {
    const withRaw = new Map<string, OutputTensor>([['raw_p3', { dims: [1, 3, 1, 1, 7], data: new Float32Array(21) }], ...outputs]);
    assert.equal(decodeDetections('yolov5', withRaw).length, 2);
  });
});

suite('decodeDetections: yolov8 [N, 4+nc, A]', () => {
  // 3 anchors, 2 classes, channel-major.
  const channels = [
    [20, 22, 100], // cx
    [20, 20, 50], // cy
    [10, 10, 20], // w
    [10, 10, 8], // h
    [0.875, 0.5, 0.125], // class 0
    [0.125, 0.25, 0.625], // class 1
  ];
  const outputs = one('output0', [1, 6, 3], channels.flat());

  test('score = best class; anchor 1 overlaps anchor 0 (IoU 80/120) in the same class and goes', () => {
    assert.deepEqual(decodeDetections('yolov8', outputs), [det([15, 15, 25, 25], 0.875, 0), det([90, 46, 110, 54], 0.625, 1)]);
  });

  test('batchIndex reads the right image, and one outside the batch throws', () => {
    const second = [[5], [5], [2], [2], [0], [0.5]];
    const batch = one('output0', [2, 6, 1], [[20], [20], [10], [10], [0.875], [0.125], ...second].flat());
    assert.deepEqual(decodeDetections('yolov8', batch, { batchIndex: 1 }), [det([4, 4, 6, 6], 0.5, 1)]);
    assert.deepEqual(decodeDetections('yolov8', batch), [det([15, 15, 25, 25], 0.875, 0)]);
    assert.throws(() => decodeDetections('yolov8', batch, { batchIndex: 2 }), /batch index 2 is outside output 'output0' with batch 2/);
  });

  test('equal scores keep the lower index, in order and in NMS', () => {
    const tie = one(
      'output0',
      [1, 5, 3],
      [
        [5, 6, 105],
        [5, 5, 5],
        [10, 10, 10],
        [10, 10, 10],
        [0.5, 0.5, 0.5],
      ].flat(),
    );
    // anchors 0 and 1 overlap by 90/110; anchor 0 wins the tie, anchor 2 is far away
    assert.deepEqual(decodeDetections('yolov8', tie), [det([0, 0, 10, 10], 0.5, 0), det([100, 0, 110, 10], 0.5, 0)]);
  });

  test('dims that do not match the data throw', () => {
    assert.throws(() => decodeDetections('yolov8', one('output0', [1, 6, 4], channels.flat())), /do not match 18 values/);
    assert.throws(() => decodeDetections('yolov8', one('output0', [1, 18], channels.flat())), /no output fits the yolov8 layout/);
  });
});

suite('decodeDetections: rtdetr (ultralytics) [N, Q, 4+nc]', () => {
  const rows = [
    [0.5, 0.5, 0.25, 0.5, 0.125, 0.75], // class 1, 0.75
    [0.25, 0.25, 0.5, 0.5, 0.5, 0.125], // class 0, 0.5
    [0.5, 0.5, 0.25, 0.5, 0.0625, 0.625], // class 1, 0.625, the same box as query 0: no NMS, kept
    [0.75, 0.75, 0.25, 0.25, 0.25, 0.125], // 0.25: filtered
  ];
  const outputs = one('output0', [1, 4, 6], rows.flat());

  test('normalised boxes stay normalised, sorted by score, no NMS', () => {
    assert.deepEqual(decodeDetections('rtdetr', outputs), [
      det([0.375, 0.25, 0.625, 0.75], 0.75, 1),
      det([0.375, 0.25, 0.625, 0.75], 0.625, 1),
      det([0, 0, 0.5, 0.5], 0.5, 0),
    ]);
  });

  test('threshold and maxDetections', () => {
    assert.equal(decodeDetections('rtdetr', outputs, { scoreThreshold: 0.1 }).length, 4);
    assert.deepEqual(
      decodeDetections('rtdetr', outputs, { maxDetections: 2 }).map((d) => d.score),
      [0.75, 0.625],
    );
  });
});

suite('decodeDetections: rtdetr-official (labels, boxes, scores)', () => {
  const outputs = new Map<string, OutputTensor>([
    ['labels', { dims: [1, 3], data: new BigInt64Array([2n, 7n, 0n]) }],
    ['boxes', { dims: [1, 3, 4], data: new Float32Array([10, 20, 30, 40, 0, 0, 5, 5, 1, 1, 2, 2]) }],
    ['scores', { dims: [1, 3], data: new Float32Array([0.5, 0.875, 0.125]) }],
  ]);

  test('xyxy boxes as given, int64 labels as class ids, best first', () => {
    assert.deepEqual(decodeDetections('rtdetr-official', outputs), [det([0, 0, 5, 5], 0.875, 7), det([10, 20, 30, 40], 0.5, 2)]);
    assert.equal(decodeDetections('rtdetr-official', outputs, { scoreThreshold: 0.1 }).length, 3);
  });

  test('a missing output or mismatched shapes throw', () => {
    const partial = new Map(outputs);
    partial.delete('labels');
    assert.throws(() => decodeDetections('rtdetr-official', partial), /'labels' is missing/);
    const bad = new Map(outputs);
    bad.set('boxes', { dims: [1, 4, 3], data: new Float32Array(12) });
    assert.throws(() => decodeDetections('rtdetr-official', bad), /must be \[N, 3, 4\]/);
  });
});

suite('iou', () => {
  test('hand-computed overlaps', () => {
    assert.equal(iou([0, 0, 2, 2], [1, 0, 3, 2]), 2 / 6);
    assert.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
    assert.equal(iou([0, 0, 4, 1], [0, 0, 2, 1]), 0.5);
    assert.equal(iou([0, 0, 1, 1], [1, 0, 2, 1]), 0); // touching edges
    assert.equal(iou([0, 0, 1, 1], [5, 5, 6, 6]), 0);
    assert.equal(iou([0, 0, 0, 0], [0, 0, 0, 0]), 0); // empty boxes
  });
});

suite('matchDetections', () => {
  test('shifted boxes: IoUs 80/120 and 90/110, one class change, one missing, one extra', () => {
    const ref = [det([0, 0, 10, 10], 0.9, 0), det([20, 0, 30, 10], 0.8, 1), det([100, 100, 110, 110], 0.7, 2)];
    const other = [det([200, 200, 210, 210], 0.95, 0), det([21, 0, 31, 10], 0.6, 0), det([2, 0, 12, 10], 0.85, 0)];
    const r = matchDetections(ref, other);
    near(r.matchedPct, 200 / 3);
    assert.equal(r.classAgreement, 0.5);
    near(r.meanIoU, (2 / 3 + 9 / 11) / 2);
    assert.equal(r.matched, 2);
    assert.equal(r.missing, 1);
    assert.equal(r.extra, 1);
    assert.equal(r.refCount, 3);
    assert.equal(r.otherCount, 3);
  });

  test('higher-scoring reference boxes pick first; each picks its best IoU', () => {
    const ref = [det([0, 0, 10, 10], 0.5, 0), det([1, 0, 11, 10], 0.9, 0)];
    const r = matchDetections(ref, [det([1, 0, 11, 10], 0.5, 0)]);
    assert.equal(r.meanIoU, 1); // the 0.9 box took it, IoU 1, not the first box's 90/110
    assert.equal(r.missing, 1);
    const best = matchDetections([det([0, 0, 10, 10], 0.5, 3)], [det([2, 0, 12, 10], 0.5, 3), det([1, 0, 11, 10], 0.5, 3)]);
    near(best.meanIoU, 9 / 11);
    assert.equal(best.classAgreement, 1);
    assert.equal(best.extra, 1);
  });

  test('the IoU threshold is inclusive', () => {
    assert.equal(matchDetections([det([0, 0, 4, 1], 1, 0)], [det([0, 0, 2, 1], 1, 0)]).matched, 1);
    const none = matchDetections([det([0, 0, 10, 10], 1, 0)], [det([2, 0, 12, 10], 1, 0)], 0.9);
    assert.deepEqual(none, {
      matchedPct: 0,
      classAgreement: null,
      meanIoU: null,
      matched: 0,
      missing: 1,
      extra: 1,
      refCount: 1,
      otherCount: 1,
    });
  });

  test('empty sets', () => {
    assert.deepEqual(matchDetections([], []), {
      matchedPct: 100,
      classAgreement: null,
      meanIoU: null,
      matched: 0,
      missing: 0,
      extra: 0,
      refCount: 0,
      otherCount: 0,
    });
    const onlyOther = matchDetections([], [det([0, 0, 1, 1], 1, 0), det([2, 2, 3, 3], 1, 0)]);
    assert.equal(onlyOther.matchedPct, 0);
    assert.equal(onlyOther.extra, 2);
    const onlyRef = matchDetections([det([0, 0, 1, 1], 1, 0), det([2, 2, 3, 3], 1, 0)], []);
    assert.equal(onlyRef.matchedPct, 0);
    assert.equal(onlyRef.missing, 2);
  });
});

suite('detectFormat', () => {
  const out = (dims: number[], name = 'output0') => ({ name, dims });
  const official = [out([1, 300], 'labels'), out([1, 300, 4], 'boxes'), out([1, 300], 'scores')];

  test('by shape', () => {
    assert.equal(detectFormat([out([1, 25200, 85])]), 'yolov5');
    assert.equal(detectFormat([out([1, 84, 8400])]), 'yolov8');
    assert.equal(detectFormat([out([1, 300, 84])]), 'rtdetr');
    assert.equal(detectFormat(official), 'rtdetr-official');
    assert.equal(detectFormat([out([1, 25200, 85]), out([1, 3, 80, 80, 85], 'raw')], 'unknown'), 'yolov5');
  });

  test('a known family decides when the outputs fit it', () => {
    assert.equal(detectFormat([out([1, 84, 8400])], 'yolo11'), 'yolov8');
    assert.equal(detectFormat([out([1, 84, 8400])], 'YOLOv8'), 'yolov8');
    assert.equal(detectFormat([out([1, 8400, 84])], 'yolov8'), 'yolov8'); // shape alone would say yolov5
    assert.equal(detectFormat([out([1, 25200, 85])], 'yolov5'), 'yolov5');
    assert.equal(detectFormat([out([1, 300, 84])], 'rtdetr'), 'rtdetr');
    assert.equal(detectFormat(official, 'rtdetr'), 'rtdetr-official');
    assert.equal(detectFormat(official, 'rtdetr-official'), 'rtdetr-official');
  });

  test('null when nothing fits', () => {
    assert.equal(detectFormat([]), null);
    assert.equal(detectFormat([out([1, 1000])]), null);
    assert.equal(detectFormat([out([1, 84, 84])]), null);
    assert.equal(detectFormat([out([-1, -1, -1])]), null);
    assert.equal(detectFormat([out([1, 1000])], 'yolov5'), null);
    assert.equal(detectFormat([out([1, 25200, 5])], 'yolov5'), null); // no class column
    assert.equal(detectFormat([out([1, 300, 84])], 'rtdetr-official'), null);
  });
});

suite('decodeDetections: multiLabel (the val decoders of ultralytics and YOLOv5)', () => {
  test('yolov5: a box per class whose objectness × score passes; yolov8: a box per class score that passes', () => {
    // One anchor, objectness 0.5, classes 0.75 and 0.5: scores 0.375 and 0.25; a threshold of 0.2 keeps both.
    const v5 = new Map([['output0', { dims: [1, 1, 7], data: new Float32Array([10, 10, 4, 4, 0.5, 0.75, 0.5]) }]]);
    assert.deepEqual(decodeDetections('yolov5', v5, { scoreThreshold: 0.2, multiLabel: true }), [det([8, 8, 12, 12], 0.375, 0), det([8, 8, 12, 12], 0.25, 1)]);
    assert.deepEqual(decodeDetections('yolov5', v5, { scoreThreshold: 0.2 }), [det([8, 8, 12, 12], 0.375, 0)]);
    // [1, 4+2, 1]: channel-major.
    const v8 = new Map([['output0', { dims: [1, 6, 1], data: new Float32Array([10, 10, 4, 4, 0.25, 0.5]) }]]);
    assert.deepEqual(decodeDetections('yolov8', v8, { scoreThreshold: 0.2, multiLabel: true }), [det([8, 8, 12, 12], 0.5, 1), det([8, 8, 12, 12], 0.25, 0)]);
    assert.deepEqual(decodeDetections('yolov8', v8, { scoreThreshold: 0.3, multiLabel: true }), [det([8, 8, 12, 12], 0.5, 1)]);
  });
});
