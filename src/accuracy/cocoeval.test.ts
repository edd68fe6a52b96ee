import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../runtime/inputs.js';
import { bboxIou, cocoEvaluate, IOU_THRESHOLDS, linspace, RECALL_THRESHOLDS, type DetectionBox, type GroundTruth } from './cocoeval.js';

/**
 * Hand-built cases whose AP is worked out on paper (in the comments) from COCO's rules: 10 IoU thresholds
 * 0.50, 0.55, …, 0.95; 101 recall points 0, 0.01, …, 1; AP = mean of the interpolated precision at those points.
 */

type Xywh = [number, number, number, number];
const gt = (imageId: number, categoryId: number, bbox: Xywh, iscrowd = false): GroundTruth => ({ imageId, categoryId, bbox, area: bbox[2] * bbox[3], iscrowd });
const dt = (imageId: number, categoryId: number, bbox: Xywh, score: number): DetectionBox => ({ imageId, categoryId, bbox, score });

function near(actual: number | null | undefined, expected: number, what = ''): void {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= 1e-6, `${what} ${actual} ≉ ${expected}`);
}

suite('COCO thresholds', () => {
  test('built as numpy.linspace builds them (i·step + start, the stop exact)', () => {
    assert.equal(IOU_THRESHOLDS.length, 10);
    assert.equal(RECALL_THRESHOLDS.length, 101);
    assert.equal(IOU_THRESHOLDS[0], 0.5);
    assert.equal(IOU_THRESHOLDS[9], 0.95);
    // np.linspace(.5, .95, 10).tolist(), as numpy 1.24 prints it (0.9 is not reached exactly).
    assert.deepEqual(IOU_THRESHOLDS, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
    assert.equal(RECALL_THRESHOLDS[50], 0.5);
    assert.equal(RECALL_THRESHOLDS[29], 0.29);
    assert.deepEqual(linspace(0, 1, 3), [0, 0.5, 1]);
  });

  test('box IoU, and a crowd box over the detection alone', () => {
    near(bboxIou([2, 0, 10, 10], [0, 0, 10, 10], false), 80 / 120);
    near(bboxIou([22, 22, 5, 5], [20, 20, 20, 20], true), 1);
    near(bboxIou([22, 22, 5, 5], [20, 20, 20, 20], false), 25 / 400);
    assert.equal(bboxIou([0, 0, 10, 10], [10, 0, 10, 10], false), 0);
  });
});

suite('cocoEvaluate: hand-built cases', () => {
  test('perfect: every threshold finds every box, AP 1', () => {
    const g = [gt(1, 0, [0, 0, 10, 10]), gt(1, 0, [20, 20, 10, 20])];
    const r = cocoEvaluate(g, [dt(1, 0, [0, 0, 10, 10], 0.9), dt(1, 0, [20, 20, 10, 20], 0.8)]);
    near(r.map50, 1);
    near(r.map5095, 1);
    near(r.ar, 1);
    assert.deepEqual(r.perCategory, [{ categoryId: 0, ap50: 1, ap5095: 1, groundTruths: 2, detections: 2 }]);
    assert.deepEqual(r.atBestF1, { precision: 1, recall: 1, f1: 1, score: 0.8 });
  });

  test('shifted by 2 of 10: IoU 80/120 = 0.667 passes 0.50–0.65 (4 thresholds), fails 0.70–0.95: AP 0.4', () => {
    const r = cocoEvaluate([gt(1, 0, [0, 0, 10, 10])], [dt(1, 0, [2, 0, 10, 10], 0.9)]);
    near(r.map50, 1);
    near(r.map75, 0);
    near(r.map5095, 4 / 10);
    near(r.ar, 4 / 10);
  });

  test('missing: one of two boxes found; precision 1 up to recall 0.5 = 51 of 101 points: AP 51/101', () => {
    const r = cocoEvaluate([gt(1, 0, [0, 0, 10, 10]), gt(1, 0, [50, 50, 10, 10])], [dt(1, 0, [0, 0, 10, 10], 0.9)]);
    near(r.map50, 51 / 101);
    near(r.map5095, 51 / 101);
    near(r.ar, 0.5);
    near(r.atBestF1.precision, 1);
    near(r.atBestF1.recall, 0.5);
    near(r.atBestF1.f1, 2 / 3);
  });

  test('duplicate below the true box: the second is a false positive after recall 1 is reached: AP 1', () => {
    const r = cocoEvaluate([gt(1, 0, [0, 0, 10, 10])], [dt(1, 0, [0, 0, 10, 10], 0.9), dt(1, 0, [0, 0, 10, 10], 0.8)]);
    near(r.map5095, 1);
    near(r.atBestF1.precision, 1);
  });

  test('duplicate above the true box: a shifted box (IoU 2/3) first wins 0.50–0.65; from 0.70 precision is 1/2: AP (4·1 + 6·0.5)/10', () => {
    const r = cocoEvaluate([gt(1, 0, [0, 0, 10, 10])], [dt(1, 0, [2, 0, 10, 10], 0.9), dt(1, 0, [0, 0, 10, 10], 0.8)]);
    near(r.map50, 1);
    near(r.map75, 0.5);
    near(r.map5095, 0.7);
  });

  test('wrong class: the box is right, the class is not: AP 0 for the true class; a class without ground truth has no AP', () => {
    const r = cocoEvaluate([gt(1, 0, [0, 0, 10, 10])], [dt(1, 1, [0, 0, 10, 10], 0.9)], { categoryIds: [0, 1] });
    near(r.map50, 0);
    near(r.map5095, 0);
    assert.deepEqual(
      r.perCategory.map((c) => [c.categoryId, c.ap50, c.ap5095]),
      [
        [0, 0, 0],
        [1, null, null],
      ],
    );
    // pycocotools leaves -1 where a category has no ground truth, and the means skip it.
    assert.ok(r.precision[0]![1]!.every((p) => p === -1));
  });

  test('two classes on two images: AP 51/101 and 1, mAP their mean', () => {
    const g = [gt(1, 3, [0, 0, 10, 10]), gt(2, 3, [0, 0, 10, 10]), gt(2, 7, [30, 30, 8, 8])];
    const d = [dt(1, 3, [0, 0, 10, 10], 0.9), dt(2, 7, [30, 30, 8, 8], 0.5)];
    const r = cocoEvaluate(g, d);
    assert.deepEqual(r.categoryIds, [3, 7]);
    near(r.perCategory[0]!.ap5095, 51 / 101);
    near(r.perCategory[1]!.ap5095, 1);
    near(r.map5095, (51 / 101 + 1) / 2);
    near(r.map50, (51 / 101 + 1) / 2);
  });

  test('crowd: boxes inside a crowd region are ignored (matched again and again), and the crowd is not counted in recall', () => {
    const g = [gt(1, 0, [0, 0, 10, 10]), gt(1, 0, [20, 20, 20, 20], true)];
    // Two boxes in the crowd score above the true one; without the crowd rule they would be false positives first.
    const d = [dt(1, 0, [22, 22, 5, 5], 0.95), dt(1, 0, [30, 30, 5, 5], 0.93), dt(1, 0, [0, 0, 10, 10], 0.9), dt(1, 0, [100, 100, 10, 10], 0.6)];
    const r = cocoEvaluate(g, d);
    near(r.map5095, 1);
    near(r.ar, 1);
    assert.equal(r.atBestF1.recall, 1);
  });

  test('crowd: a box holding a regular ground truth does not move to a crowd, until the regular IoU fails: AP 7/10', () => {
    // IoU with the regular box 100/120 = 0.833 (passes 0.50–0.80, 7 thresholds); with the crowd 120/120 = 1.
    const g = [gt(1, 0, [0, 0, 10, 10]), gt(1, 0, [0, 0, 20, 20], true)];
    const r = cocoEvaluate(g, [dt(1, 0, [0, 0, 10, 12], 0.9)]);
    // Precision is tp / (tp + fp + np.spacing(1)): 1 - 2.2e-16 where pycocotools has it too.
    r.precision.forEach((p, t) => near(p[0]![0], t < 7 ? 1 : 0, `threshold ${IOU_THRESHOLDS[t]}`));
    near(r.map5095, 0.7);
  });

  test('at most maxDets detections per image and category: the 101st, even if true, is not seen', () => {
    const g = [gt(1, 0, [0, 0, 10, 10])];
    const d = [...Array.from({ length: 100 }, (_, i) => dt(1, 0, [200 + i * 20, 0, 10, 10], 0.9 - i * 1e-4)), dt(1, 0, [0, 0, 10, 10], 0.5)];
    near(cocoEvaluate(g, d).map5095, 0);
    near(cocoEvaluate(g, d, { maxDets: 101 }).map5095, 1 / 101);
  });

  test('ties in score keep their order, across images in image order (stable sorts)', () => {
    // Image 1's false positive and image 2's true box tie at 0.5; image 1 comes first, so precision at the only TP is 1/2.
    const g = [gt(1, 0, [0, 0, 10, 10]), gt(2, 0, [0, 0, 10, 10])];
    const d = [dt(1, 0, [0, 0, 10, 10], 0.9), dt(1, 0, [50, 50, 10, 10], 0.5), dt(2, 0, [0, 0, 10, 10], 0.5)];
    const r = cocoEvaluate(g, d);
    // tp 1,1,2 / fp 0,1,1: rc 0.5, 0.5, 1; pr 1, 0.5, 2/3 → monotone 1, 2/3, 2/3: 51 points at 1, 50 at 2/3.
    near(r.map50, (51 + 50 * (2 / 3)) / 101);
  });
});

suite('cocoEvaluate against another implementation', () => {
  // scripts/trained/cocoeval.py: a numpy port of COCOeval written for the trained fixtures, by another hand.
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/trained/cocoeval.py');
  const numpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' });

  test(
    'a seeded random case (crowds, duplicates, jitter, tied scores, 3 classes over 12 images) agrees to 1e-9',
    { skip: numpy.status !== 0 ? 'no /usr/bin/python3 with numpy' : false },
    () => {
      const rand = seededRandom(7);
      const gts: GroundTruth[] = [];
      const dts: DetectionBox[] = [];
      for (let img = 1; img <= 12; img++) {
        for (let n = 0; n < 1 + Math.floor(rand() * 6); n++) {
          const box: Xywh = [rand() * 200, rand() * 200, 5 + rand() * 60, 5 + rand() * 60];
          const cat = Math.floor(rand() * 3);
          gts.push(gt(img, cat, box, rand() < 0.1));
          // Found (jittered) most of the time, sometimes twice; scores on a 0.05 grid so that ties happen.
          for (let copy = 0; copy < (rand() < 0.2 ? 2 : rand() < 0.8 ? 1 : 0); copy++) {
            const j = () => (rand() - 0.5) * 0.4 * Math.min(box[2], box[3]);
            dts.push(dt(img, rand() < 0.9 ? cat : (cat + 1) % 3, [box[0] + j(), box[1] + j(), box[2] + j(), box[3] + j()], Math.round(rand() * 20) / 20));
          }
        }
        for (let n = 0; n < Math.floor(rand() * 3); n++)
          dts.push(dt(img, Math.floor(rand() * 3), [rand() * 200, rand() * 200, 10 + rand() * 40, 10 + rand() * 40], Math.round(rand() * 20) / 20));
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-coco-'));
      const file = path.join(dir, 'case.json');
      const snake = {
        gts: gts.map((g) => ({ image_id: g.imageId, category_id: g.categoryId, bbox: g.bbox, area: g.area, iscrowd: g.iscrowd ? 1 : 0 })),
        dets: dts.map((d) => ({ image_id: d.imageId, category_id: d.categoryId, bbox: d.bbox, score: d.score })),
      };
      fs.writeFileSync(file, JSON.stringify(snake));
      const py = [
        'import json, sys, importlib.util',
        `spec = importlib.util.spec_from_file_location('cocoeval', ${JSON.stringify(script)})`,
        'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)',
        `c = json.load(open(${JSON.stringify(file)}))`,
        // Later versions of the script take the data set's image ids too.
        'import inspect',
        'extra = {"img_ids": sorted({g["image_id"] for g in c["gts"]} | {d["image_id"] for d in c["dets"]})} if "img_ids" in inspect.signature(m.evaluate).parameters else {}',
        'r = m.evaluate(c["gts"], c["dets"], [0, 1, 2], **extra)',
        'print(json.dumps({"map50": r["mAP50"], "map5095": r["mAP5095"], "ar": r["mAR100"], "perClass": [[r["perClass"][k]["AP50"], r["perClass"][k]["AP5095"]] for k in (0, 1, 2)]}))',
      ].join('\n');
      const out = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' });
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(out.status, 0, out.stderr);
      const theirs = JSON.parse(out.stdout) as { map50: number; map5095: number; ar: number; perClass: [number, number][] };
      const ours = cocoEvaluate(gts, dts, { categoryIds: [0, 1, 2] });
      assert.ok(ours.map5095 > 0.2 && ours.map5095 < 0.9, `a case that is neither trivial nor hopeless: ${ours.map5095}`);
      const close = (a: number | null, b: number, what: string) => assert.ok(a !== null && Math.abs(a - b) <= 1e-9, `${what}: ${a} vs ${b}`);
      close(ours.map50, theirs.map50, 'mAP50');
      close(ours.map5095, theirs.map5095, 'mAP50-95');
      close(ours.ar, theirs.ar, 'AR100');
      ours.perCategory.forEach((c, k) => {
        close(c.ap50, theirs.perClass[k]![0], `class ${k} AP50`);
        close(c.ap5095, theirs.perClass[k]![1], `class ${k} AP50-95`);
      });
    },
  );
});
