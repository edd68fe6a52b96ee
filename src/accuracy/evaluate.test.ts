import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, suite, test } from 'node:test';
import sharp from 'sharp';
import type { InputSpec } from '../runtime/inputs.js';
import type { ModelSession, OutputTensor } from '../runtime/session.js';
import { labelPathOf, loadDataset, type Dataset } from './dataset.js';
import { evaluateModels, modelClassNames, parseClassMap, resolveClassMap } from './evaluate.js';
import { letterboxGeometry } from './letterbox.js';
import { tmpDir } from '../../test/temp.js';

const SPECS: InputSpec[] = [{ name: 'images', elemType: 1, dims: [1, 3, 128, 128] }];
let dir: string;

/** Writes a w×h image and its YOLO label (class cx cy w h, normalised). */
async function labelled(file: string, w: number, h: number, boxes: [number, number, number, number, number][], labelFile = labelPathOf(file)): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.mkdirSync(path.dirname(labelFile), { recursive: true });
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: 30, g: 120, b: 200 } } })
    .png()
    .toFile(file);
  fs.writeFileSync(labelFile, boxes.map((b) => b.join(' ')).join('\n') + '\n');
}

before(async () => {
  dir = tmpDir('onnx-attn-acc-');
  // A landscape and a portrait image: the letterbox pads top/bottom for one, left/right for the other.
  await labelled(path.join(dir, 'yolo/images/a.png'), 160, 120, [
    [0, 0.5, 0.5, 0.25, 0.5],
    [1, 0.2, 0.3, 0.1, 0.2],
  ]);
  await labelled(path.join(dir, 'yolo/images/b.png'), 90, 200, [[1, 0.5, 0.25, 0.8, 0.3]]);
});

/**
 * A session that answers image k of the dataset with the given boxes (xyxy in the model's input, class, score),
 * in the YOLOv8 layout [1, 4+nc, A].
 */
function scriptedSession(perImage: [number, number, number, number, number, number][][], nc = 2): ModelSession {
  let call = 0;
  return {
    inputNames: ['images'],
    outputNames: ['output0'],
    async run() {
      const dets = perImage[call++] ?? [];
      const a = Math.max(1, dets.length);
      const data = new Float32Array((4 + nc) * a);
      dets.forEach(([x1, y1, x2, y2, cls, score], i) => {
        const put = (c: number, v: number) => (data[c * a + i] = v);
        put(0, (x1 + x2) / 2);
        put(1, (y1 + y2) / 2);
        put(2, x2 - x1);
        put(3, y2 - y1);
        put(4 + cls, score);
      });
      return [{ name: 'output0', type: 'float32', dims: [1, 4 + nc, a], data }] as OutputTensor[];
    },
    endProfiling: () => null,
    release: async () => {},
  };
}

/** The dataset's boxes as a perfect model sees them in its 128×128 input (through the letterbox). */
function perfectDetections(ds: Dataset, shift = 0): [number, number, number, number, number, number][][] {
  return ds.images.map((im) => {
    const g = letterboxGeometry(im.width, im.height, 128, 128);
    return ds.annotations
      .filter((a) => a.imageId === im.id)
      .map((a) => {
        const [x, y, w, h] = a.bbox;
        return [x * g.gain + g.padX + shift, y * g.gain + g.padY, (x + w) * g.gain + g.padX + shift, (y + h) * g.gain + g.padY, a.categoryId, 0.9] as [
          number,
          number,
          number,
          number,
          number,
          number,
        ];
      });
  });
}

suite('datasets', () => {
  test('YOLO labels: images/ and labels/, boxes in pixels of each image, categories from the classes', async () => {
    const ds = await loadDataset(path.join(dir, 'yolo'));
    assert.equal(ds.kind, 'yolo');
    assert.deepEqual(
      ds.images.map((im) => [path.basename(im.file), im.width, im.height]),
      [
        ['a.png', 160, 120],
        ['b.png', 90, 200],
      ],
    );
    assert.deepEqual(ds.categories, [
      { id: 0, name: '0' },
      { id: 1, name: '1' },
    ]);
    // 0 0.5 0.5 0.25 0.5 on 160×120: centre (80, 60), 40×60.
    assert.deepEqual(ds.annotations[0], { imageId: 1, categoryId: 0, bbox: [60, 30, 40, 60], area: 2400, iscrowd: false });
    assert.equal(ds.annotations.length, 3);
  });

  test('the ultralytics layouts: the images folder itself, labels beside the images, a data.yaml naming val and names', async () => {
    const viaImages = await loadDataset(path.join(dir, 'yolo/images'));
    assert.equal(viaImages.annotations.length, 3);
    await labelled(path.join(dir, 'flat/a.png'), 64, 64, [[2, 0.5, 0.5, 0.5, 0.5]], path.join(dir, 'flat/a.txt'));
    const flat = await loadDataset(path.join(dir, 'flat'));
    assert.deepEqual(
      flat.annotations.map((a) => a.bbox),
      [[16, 16, 32, 32]],
    );
    assert.equal(flat.categories.length, 3);
    await labelled(path.join(dir, 'root/images/val/c.png'), 50, 50, [[1, 0.5, 0.5, 0.2, 0.2]]);
    await labelled(path.join(dir, 'root/images/train/d.png'), 50, 50, [[0, 0.5, 0.5, 0.2, 0.2]]);
    fs.writeFileSync(path.join(dir, 'root/data.yaml'), 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: circle\n  1: square\n');
    const root = await loadDataset(path.join(dir, 'root'));
    assert.deepEqual(
      root.images.map((im) => path.basename(im.file)),
      ['c.png'],
    );
    assert.deepEqual(root.categories, [
      { id: 0, name: 'circle' },
      { id: 1, name: 'square' },
    ]);
  });

  test('a COCO instances file: images relative to it, ids, crowd flags and areas as given', async () => {
    const file = path.join(dir, 'yolo/instances.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        images: [{ id: 7, file_name: 'images/a.png', width: 160, height: 120 }],
        annotations: [
          { id: 1, image_id: 7, category_id: 3, bbox: [60, 30, 40, 60], area: 2000, iscrowd: 0 },
          { id: 2, image_id: 7, category_id: 5, bbox: [0, 0, 10, 10], area: 100, iscrowd: 1 },
        ],
        categories: [
          { id: 5, name: 'square' },
          { id: 3, name: 'circle' },
        ],
      }),
    );
    const ds = await loadDataset(file);
    assert.equal(ds.kind, 'coco');
    assert.deepEqual(ds.images, [{ id: 7, file: path.join(dir, 'yolo/images/a.png'), width: 160, height: 120 }]);
    assert.deepEqual(
      ds.categories.map((c) => c.id),
      [3, 5],
    );
    assert.deepEqual(ds.annotations[1], { imageId: 7, categoryId: 5, bbox: [0, 0, 10, 10], area: 100, iscrowd: true });
  });

  test('bad datasets: a missing path is a usage error (2), bad content is the file at fault (4), each naming the place', async () => {
    await assert.rejects(
      loadDataset(path.join(dir, 'nope')),
      (e: Error & { exitCode: number }) => e.exitCode === 2 && /no such file or folder/.test(e.message),
    );
    await labelled(path.join(dir, 'bad/images/a.png'), 32, 32, [], path.join(dir, 'bad/labels/a.txt'));
    fs.writeFileSync(path.join(dir, 'bad/labels/a.txt'), '0 0.5 0.5 0.2\n');
    await assert.rejects(
      loadDataset(path.join(dir, 'bad')),
      (e: Error & { exitCode: number }) =>
        e.exitCode === 4 && e.message.includes(`${path.join(dir, 'bad/labels/a.txt')}:1: 4 values; expected class cx cy w h`),
    );
    fs.mkdirSync(path.join(dir, 'unlabelled'));
    fs.copyFileSync(path.join(dir, 'bad/images/a.png'), path.join(dir, 'unlabelled/a.png'));
    await assert.rejects(loadDataset(path.join(dir, 'unlabelled')), /none of the 1 images has a label file/);
    const json = path.join(dir, 'bad.json');
    fs.writeFileSync(json, JSON.stringify({ images: [], annotations: [{ image_id: 1, category_id: 1, bbox: [0, 0, 1] }], categories: [] }));
    await assert.rejects(
      loadDataset(json),
      (e: Error & { exitCode: number }) => e.exitCode === 4 && /annotations\[0\]: "bbox" must be \[x, y, width, height\]/.test(e.message),
    );
  });
});

suite('evaluateModels', () => {
  test('boxes in the letterboxed input map back to the image: a perfect model scores 1, a shifted one less', async () => {
    const ds = await loadDataset(path.join(dir, 'yolo'));
    const model = (shift: number) => ({ session: scriptedSession(perfectDetections(ds, shift)), format: 'yolov8' as const, family: 'yolov8', classNames: [] });
    const [perfect, shifted] = [await evaluateModels([model(0)], SPECS, ds), await evaluateModels([model(2)], SPECS, ds)];
    assert.equal(perfect[0]!.classMap, 'index');
    assert.ok(Math.abs(perfect[0]!.map5095! - 1) < 1e-6, `perfect: ${perfect[0]!.map5095}`);
    assert.ok(perfect[0]!.pr50.every((p) => Math.abs(p - 1) < 1e-6));
    assert.deepEqual(
      perfect[0]!.perClass.map((c) => [c.class, c.instances]),
      [
        [0, 1],
        [1, 2],
      ],
    );
    assert.ok(shifted[0]!.map5095! < 0.9 && shifted[0]!.map50! === perfect[0]!.map50, `shifted: ${shifted[0]!.map5095}`);
    assert.equal(perfect[0]!.conf, 0.001);
    assert.equal(perfect[0]!.iou, 0.7);
  });

  test('RT-DETR boxes, fractions of the input, are scaled to it before the letterbox is undone', async () => {
    const ds = await loadDataset(path.join(dir, 'yolo'));
    const perImage = perfectDetections(ds);
    let call = 0;
    const nc = 2;
    const queries = 300;
    const session: ModelSession = {
      inputNames: ['images'],
      outputNames: ['output0'],
      async run() {
        const data = new Float32Array(queries * (4 + nc));
        (perImage[call++] ?? []).forEach(([x1, y1, x2, y2, cls, score], q) => {
          data.set([(x1 + x2) / 2 / 128, (y1 + y2) / 2 / 128, (x2 - x1) / 128, (y2 - y1) / 128], q * (4 + nc));
          data[q * (4 + nc) + 4 + cls] = score;
        });
        return [{ name: 'output0', type: 'float32', dims: [1, queries, 4 + nc], data }] as OutputTensor[];
      },
      endProfiling: () => null,
      release: async () => {},
    };
    const [r] = await evaluateModels([{ session, format: 'rtdetr', family: 'rtdetr', classNames: [] }], SPECS, ds);
    assert.ok(Math.abs(r!.map5095! - 1) < 1e-6, `rtdetr: ${r!.map5095}`);
    assert.equal(r!.iou, 0.7);
  });

  test('classes map to categories: by order onto COCO ids, by names, or as given', async () => {
    const ds = await loadDataset(path.join(dir, 'yolo'));
    const coco: Dataset = {
      ...ds,
      categories: [
        { id: 3, name: 'circle' },
        { id: 9, name: 'square' },
      ],
      annotations: ds.annotations.map((a) => ({ ...a, categoryId: a.categoryId === 0 ? 3 : 9 })),
    };
    const run = (classMap?: string, classNames: string[] = []) =>
      evaluateModels(
        [{ session: scriptedSession(perfectDetections(ds)), format: 'yolov8', family: 'yolov8', classNames }],
        SPECS,
        coco,
        classMap ? { dataset: 'x', classMap } : {},
      ).then((r) => r[0]!);
    const byOrder = await run();
    assert.equal(byOrder.classMap, 'order');
    assert.ok(Math.abs(byOrder.map5095! - 1) < 1e-6);
    // The model calls class 0 'square': by name its boxes land on the wrong category.
    const byName = await run(undefined, ['square', 'circle']);
    assert.equal(byName.classMap, 'names');
    assert.equal(byName.map5095, 0);
    const given = await run('0=3,1=9');
    assert.equal(given.classMap, 'given');
    assert.ok(Math.abs(given.map5095! - 1) < 1e-6);
    assert.throws(() => resolveClassMap('0=4', coco, []), /category 4 is not in/);
    assert.throws(() => parseClassMap('0:1'), /'0:1' is not CLASS=CATEGORY/);
  });

  test('model class names come from ultralytics metadata', () => {
    assert.deepEqual(modelClassNames([{ key: 'names', value: "{0: 'person', 1: \"it's\", 2: 'car'}" }]), ['person', "it's", 'car']);
    assert.deepEqual(modelClassNames([]), []);
  });

  test('letterbox geometry as ultralytics LetterBox: 160×120 into 128×128 is 128×96 with 16 rows of padding on top', () => {
    assert.deepEqual(letterboxGeometry(160, 120, 128, 128), { gain: 0.8, padX: 0, padY: 16, width: 128, height: 96, right: 0, bottom: 16 });
    // 90×200: gain 0.64, 58 wide (57.6 rounds up), 70 of padding split 35/35.
    assert.deepEqual(letterboxGeometry(90, 200, 128, 128), { gain: 0.64, padX: 35, padY: 0, width: 58, height: 128, right: 35, bottom: 0 });
  });
});
