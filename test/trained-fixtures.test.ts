// The trained fixtures (scripts/trained/make_trained.py, fixtures/trained/): recognised as the untrained ones are,
// small, with a validation set whose YOLO and COCO labels agree, and detectors that really detect.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { fixture, runBin } from './helpers.js';

interface TrainedFile {
  file: string;
  family: string;
  opset: number;
  classes: Record<string, string>;
  imgsz: number[];
  output: { name: string; shape: number[] };
  metadataKeys: string[];
  mAP50: number;
  mAP5095: number;
}
interface Coco {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number }[];
  categories: { id: number; name: string }[];
}

const DIR = fixture('trained');
const VAL = path.join(DIR, 'val');
const trained = JSON.parse(fs.readFileSync(path.join(DIR, 'trained.json'), 'utf8')) as { files: TrainedFile[] };
const coco = JSON.parse(fs.readFileSync(path.join(VAL, 'instances.json'), 'utf8')) as Coco;
const NAMES = { 0: 'circle', 1: 'square', 2: 'triangle' };

test('trained.json lists one small detector per family, and inspect recognises each family and head', () => {
  assert.deepEqual(
    trained.files.map((f) => [f.file, f.family]),
    [
      ['yolov5-mini.onnx', 'yolov5'],
      ['yolov8-mini.onnx', 'yolov8'],
      ['rtdetr-mini.onnx', 'rtdetr'],
    ],
  );
  const shapes: Record<string, number[]> = { yolov5: [1, 1008, 8], yolov8: [1, 7, 336], rtdetr: [1, 100, 7] };
  for (const f of trained.files) {
    const file = path.join(DIR, f.file);
    assert.ok(fs.statSync(file).size <= 2 << 20, `${f.file} is over 2 MB`);
    assert.ok(fs.statSync(file.replace(/\.onnx$/, '.pt')).size <= 1 << 20, `${f.file}: state_dict over 1 MB`);
    assert.deepEqual(f.classes, NAMES);
    const r = runBin(['inspect', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.family, f.family, f.file);
    assert.equal(j.opsets['ai.onnx'], f.opset);
    assert.deepEqual(j.inputs[0].shape, [1, 3, 128, 128]);
    assert.deepEqual(j.outputs[0].shape, shapes[f.family], `${f.file} output shape`);
    assert.deepEqual(f.output.shape, shapes[f.family]);
    assert.equal(j.head.length, 3, `${f.file}: three head inputs (P3, P4, P5)`);
    assert.ok(j.metadataKeys.includes('names') && j.metadataKeys.includes('stride'), `${f.file} metadata ${j.metadataKeys}`);
    if (f.family !== 'yolov5') assert.ok(j.metadataKeys.includes('imgsz'), `${f.file}: ultralytics writes imgsz`);
    // The bar for the YOLO miniatures, as measured by make_trained.py eval (onnxruntime, COCO-style mAP).
    // The RT-DETR one (1300 iterations) reached 0.375.
    assert.ok(f.mAP50 >= (f.family === 'rtdetr' ? 0.3 : 0.5), `${f.file}: mAP50 ${f.mAP50}`);
    assert.ok(f.mAP5095 > 0 && f.mAP5095 <= f.mAP50, `${f.file}: mAP50-95 ${f.mAP5095}`);
  }
});

test('the validation set: YOLO labels and the COCO file give the same boxes on the same images', async () => {
  assert.deepEqual(
    coco.categories.map((c) => [c.id, c.name]),
    Object.entries(NAMES).map(([k, v]) => [Number(k), v]),
  );
  const images = fs.readdirSync(path.join(VAL, 'images')).sort();
  assert.equal(images.length, 50);
  assert.deepEqual(
    coco.images.map((i) => i.file_name),
    images.map((f) => `images/${f}`),
  );
  let objects = 0;
  let nonSquare = 0;
  for (const im of coco.images) {
    const meta = await sharp(path.join(VAL, im.file_name)).metadata();
    assert.deepEqual([meta.width, meta.height], [im.width, im.height], im.file_name);
    if (im.width !== im.height) nonSquare++;
    const anns = coco.annotations.filter((a) => a.image_id === im.id);
    const label = path.join(VAL, 'labels', path.basename(im.file_name).replace(/\.jpg$/, '.txt'));
    const lines = fs.readFileSync(label, 'utf8').trim().split('\n');
    assert.equal(lines.length, anns.length, label);
    assert.ok(anns.length >= 1 && anns.length <= 4, `${im.file_name}: ${anns.length} objects`);
    lines.forEach((line, k) => {
      const [c, cx, cy, w, h] = line.split(' ').map(Number) as [number, number, number, number, number];
      const a = anns[k]!;
      const [x, y, bw, bh] = a.bbox as [number, number, number, number];
      assert.equal(c, a.category_id);
      for (const [got, want] of [
        [cx, (x + bw / 2) / im.width],
        [cy, (y + bh / 2) / im.height],
        [w, bw / im.width],
        [h, bh / im.height],
      ] as const) {
        assert.ok(Math.abs(got - want) < 1e-6, `${label} line ${k + 1}: ${got} vs ${want}`);
      }
      assert.ok(x >= 0 && y >= 0 && x + bw <= im.width + 1e-6 && y + bh <= im.height + 1e-6, `${label}: box inside the image`);
      assert.ok(Math.abs(a.area - bw * bh) < 1e-3 && a.iscrowd === 0);
    });
    objects += anns.length;
  }
  assert.equal(objects, coco.annotations.length);
  assert.ok(nonSquare >= 20, `${nonSquare} non-square images (letterboxing)`);
});

test('validate decodes the trained detectors on the validation images: about one box per object', () => {
  const perImage = coco.images.map((im) => coco.annotations.filter((a) => a.image_id === im.id).length);
  const objects = perImage.reduce((a, b) => a + b, 0);
  for (const f of trained.files) {
    const r = runBin(['validate', path.join(DIR, f.file), '--inputs', path.join(VAL, 'images'), '--warmup', '0', '--iters', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout).detections as { format: string; images: number; perInput: number[] };
    assert.equal(d.format, f.family);
    assert.equal(d.images, 50);
    const total = d.perInput.reduce((a, b) => a + b, 0);
    const close = d.perInput.filter((n, i) => Math.abs(n - perImage[i]!) <= 1).length;
    if (f.family === 'rtdetr') {
      // No NMS and no denoising training: near-duplicate queries pass 0.25 too (703 boxes for 113 objects).
      assert.ok(total >= objects, `${f.file}: ${total} boxes at conf 0.25 for ${objects} objects`);
    } else {
      // At ultralytics' predict threshold (0.25) a detector with mAP50 >= 0.5 finds most objects and few extras.
      assert.ok(total >= 0.7 * objects && total <= 1.3 * objects, `${f.file}: ${total} boxes for ${objects} objects`);
      assert.ok(close >= 35, `${f.file}: the box count is within one of the objects' on only ${close} of 50 images`);
    }
  }
});
