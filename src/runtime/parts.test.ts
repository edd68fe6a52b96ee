import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outputParts, partMetrics, partsFormat, partValues, scoreChange, withParts } from './parts.js';

/** Per-part metrics on small hand-written outputs whose part errors can be computed on paper. */

const t = (name: string, dims: number[], data: number[]) => ({ name, dims, data: Float64Array.from(data) });
const close = (x: number, y: number) => assert.ok(Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y)), `${x} vs ${y}`);

test('YOLOv5 [N, A, 5+nc]: boxes are columns 0..3, objectness column 4, scores columns 5..', () => {
  // 2 anchors, 2 classes: (cx, cy, w, h, obj, s0, s1).
  const a = t('output0', [1, 2, 7], [10, 20, 30, 40, 0.5, 0.2, 0.8, 50, 60, 70, 80, 0.9, 0.6, 0.4]);
  const b = t('output0', [1, 2, 7], [10, 20, 30, 40, 0.5, 0.2, 0.7, 51, 60, 70, 80, 0.9, 0.6, 0.4]);
  assert.equal(partsFormat('yolov5', [a]), 'yolov5');
  const specs = outputParts('yolov5', [a]).get('output0')!;
  assert.deepEqual(
    specs.map((s) => s.part),
    ['boxes', 'objectness', 'scores'],
  );
  assert.deepEqual([...partValues(specs[2]!, a.dims, a.data)], [0.2, 0.8, 0.6, 0.4]);
  assert.deepEqual([...partValues(specs[1]!, a.dims, a.data)], [0.5, 0.9]);
  const [boxes, obj, scores] = partMetrics(specs, [[a]], [[b]], 'output0');
  // boxes: one coordinate moved by 1; ‖a‖² = 10² + 20² + … + 80² = 20400.
  assert.equal(boxes!.maxAbs, 1);
  close(boxes!.relL2, 1 / Math.sqrt(20400));
  assert.deepEqual([obj!.part, obj!.maxAbs, obj!.relL2, obj!.cosine], ['objectness', 0, 0, 1]);
  // scores: one score moved by 0.1; ‖a‖² = 0.04 + 0.64 + 0.36 + 0.16 = 1.2. The whole tensor hides it (‖a‖² ≈ 20402).
  close(scores!.maxAbs, 0.1);
  close(scores!.relL2, 0.1 / Math.sqrt(1.2));
  close(scores!.cosine, Number(((0.04 + 0.56 + 0.36 + 0.16) / Math.sqrt(1.2 * (0.04 + 0.49 + 0.36 + 0.16))).toFixed(8)));
  assert.equal(scoreChange([{ parts: [boxes!, obj!, scores!] }]), scores!.relL2);
});

test('YOLOv8 [N, 4+nc, A]: boxes are rows 0..3, scores rows 4.., per image of the batch and over input sets', () => {
  // 2 images, 5 rows (4 box + 1 class), 3 anchors.
  const rows = (img: number) => Array.from({ length: 15 }, (_, i) => 100 * img + i);
  const a = t('output0', [2, 5, 3], [...rows(0), ...rows(1)]);
  const specs = outputParts(partsFormat('yolov8', [a])!, [a]).get('output0')!;
  assert.deepEqual(
    specs.map((s) => [s.part, s.from, s.to]),
    [
      ['boxes', 0, 4],
      ['scores', 4, 5],
    ],
  );
  assert.deepEqual([...partValues(specs[1]!, a.dims, a.data)], [12, 13, 14, 112, 113, 114]);
  assert.deepEqual([...partValues(specs[0]!, a.dims, a.data)].length, 24);
  // The scores of the second input set differ by 2 at one place: over both sets, ‖a‖² = 2·(12²+13²+14²+112²+113²+114²).
  const b2 = t('output0', [2, 5, 3], [...rows(0), ...rows(1)]);
  b2.data[13] = 15;
  const [boxes, scores] = partMetrics(specs, [[a], [a]], [[a], [b2]], 'output0');
  assert.deepEqual([boxes!.maxAbs, boxes!.relL2], [0, 0]);
  assert.equal(scores!.maxAbs, 2);
  close(scores!.relL2, 2 / Math.sqrt(2 * (144 + 169 + 196 + 12544 + 12769 + 12996)));
});

test('RT-DETR: ultralytics [N, 300, 4+nc] splits by column; the official export has one part per output', () => {
  const u = t(
    'output0',
    [1, 300, 6],
    Array.from({ length: 1800 }, (_, i) => i % 6),
  );
  assert.equal(partsFormat('rtdetr', [u]), 'rtdetr');
  const specs = outputParts('rtdetr', [u]).get('output0')!;
  assert.deepEqual(
    specs.map((s) => [s.part, s.from, s.to]),
    [
      ['boxes', 0, 4],
      ['scores', 4, 6],
    ],
  );
  assert.ok([...partValues(specs[1]!, u.dims, u.data)].every((v) => v === 4 || v === 5));
  const official = [t('labels', [1, 300], []), t('boxes', [1, 300, 4], []), t('scores', [1, 300], [])];
  const parts = outputParts(partsFormat('rtdetr-official', official)!, official);
  assert.deepEqual(
    [...parts].map(([name, s]) => [name, s.map((x) => x.part)]),
    [
      ['labels', ['labels']],
      ['boxes', ['boxes']],
      ['scores', ['scores']],
    ],
  );
});

test('unknown models keep whole-output metrics: no parts, and none for outputs whose shapes differ', () => {
  const a = t('output0', [1, 2, 7], Array(14).fill(1));
  assert.equal(partsFormat('unknown', [a]), null);
  assert.equal(partsFormat(undefined, [a]), null);
  const cmp = [{ name: 'output0', shape: [1, 2, 7], shapeB: [1, 2, 7] }];
  assert.deepEqual(withParts(cmp, [[a]], [[a]], 'unknown')[0]!.parts, []);
  assert.equal(withParts(cmp, [[a]], [[a]], 'yolov5')[0]!.parts.length, 3);
  assert.deepEqual(withParts([{ ...cmp[0]!, shapeB: [1, 3, 7] }], [[a]], [[t('output0', [1, 3, 7], Array(21).fill(1))]], 'yolov5')[0]!.parts, []);
  assert.equal(scoreChange([{ parts: [] }]), null);
});
