import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { fixture, listFiles, ROOT, runBin, runMain, tmpDir } from './helpers.js';

interface ManifestFile {
  file: string;
  family: string;
  opset: number;
  nodeCount: number;
  headLayer: number | null;
  inputs: { name: string; declaredShape: (number | string)[] }[];
  outputs: { name: string }[];
  layers?: { index: number; tensor: string }[];
  headInputs: { tensor: string; shape: number[] }[];
  dynamic: boolean;
}
const manifest = JSON.parse(fs.readFileSync(fixture('MANIFEST.json'), 'utf8')) as { files: ManifestFile[] };

test('inspect --json gives the contract fields on every fixture', () => {
  for (const f of manifest.files) {
    const r = runBin(['inspect', fixture(f.file), '--json']);
    assert.equal(r.code, 0, `${f.file}: ${r.stderr}`);
    const j = JSON.parse(r.stdout);
    assert.equal(j.family, f.family, f.file);
    assert.equal(typeof j.irVersion, 'number');
    assert.equal(j.opsets['ai.onnx'], f.opset);
    assert.deepEqual(
      j.inputs.map((i: { name: string }) => i.name),
      f.inputs.map((i) => i.name),
    );
    assert.deepEqual(
      j.outputs.map((o: { name: string }) => o.name),
      f.outputs.map((o) => o.name),
    );
    assert.equal(j.inputs[0].dtype, 'float32');
    assert.deepEqual(j.inputs[0].shape, f.inputs[0]!.declaredShape);
    assert.equal(j.nodeCount, f.nodeCount);
    for (const key of ['scope', 'index', 'type', 'boundary', 'shape', 'consumers']) assert.ok(key in j.layers[0], `layers[].${key}`);
    // consumers are scopes (cli-contract), or `output` for a graph output.
    const scopes = new Set(j.layers.map((l: { scope: string }) => l.scope));
    for (const l of j.layers)
      for (const c of l.consumers) assert.ok(scopes.has(c) || c === 'output' || !/^\d+$/.test(c), `${f.file} ${l.scope} consumer '${c}'`);
    for (const l of f.layers ?? []) {
      const ours = j.layers.find((x: { index: number }) => x.index === l.index);
      if (l.index !== f.headLayer) assert.deepEqual(ours.boundary, [l.tensor], `${f.file} layer ${l.index}`);
    }
    assert.deepEqual(
      j.head.map((h: { tensor: string }) => h.tensor),
      f.headInputs.map((h) => h.tensor),
    );
    for (const h of j.head) for (const key of ['tensor', 'fromScope', 'shape']) assert.ok(key in h, `head[].${key}`);
    // Every head input has its channels and, in a static file, its H and W; a dynamic file's H and W stay unknown
    // (a probe at one input size must not bake that size into the model's description).
    for (const [i, h] of j.head.entries()) {
      const chw = f.headInputs[i]!.shape;
      assert.equal(h.shape.length, 4, `${f.file} head rank`);
      assert.deepEqual(h.shape.slice(1), f.dynamic ? [chw[0], null, null] : chw, `${f.file} head shape ${h.shape}`);
    }
  }
});

test('inspect prints the layer table and the head', () => {
  const r = runBin(['inspect', fixture('yolov5-op12.onnx')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /family\s+yolov5\s+opset ai\.onnx 12/);
  assert.match(r.stdout, /^idx\s+type\s+from\s+boundary tensor\s+shape\s+consumed by$/m);
  assert.match(r.stdout, /^23\s+C3\s+22\s+\/model\.23\/cv3\/act\/Mul_output_0\s+\[1,32,4,4\]\s+24$/m);
  assert.match(r.stdout, /^head:0\s+\/model\.17\/cv3\/act\/Mul_output_0\s+\[1,8,16,16\]\s+model\.17$/m);
});

test('inspect --at resolves insertion points without changing anything', () => {
  const r = runBin(['inspect', fixture('yolov8-op12.onnx'), '--at', '15,head:2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const sites = JSON.parse(r.stdout).sites;
  assert.equal(sites.length, 2);
  assert.equal(sites[0].tensor, '/model.15/cv2/act/Mul_output_0');
  // Layer 15 feeds the head's box and class branches and layer 16.
  assert.deepEqual(sites[0].consumers.sort(), ['/model.16/conv/Conv', '/model.22/cv2.0/cv2.0.0/conv/Conv', '/model.22/cv3.0/cv3.0.0/conv/Conv'].sort());
  assert.equal(sites[1].tensor, '/model.21/cv2/act/Mul_output_0');
});

test('convert writes inline and external forms atomically, and the round trip is exact', () => {
  const dir = tmpDir();
  const src = fixture('yolov5-op17.onnx');
  let r = runBin(['convert', src, path.join(dir, 'ext.onnx'), '--external-data', 'always', '--threshold', '4096']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*ext\.onnx \(\d+ bytes\) \+ .*ext\.onnx\.data \(\d+ bytes\)/);
  r = runBin(['convert', path.join(dir, 'ext.onnx'), path.join(dir, 'back.onnx'), '--external-data', 'never']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listFiles(dir), ['back.onnx', 'ext.onnx', 'ext.onnx.data']);
  const ins = JSON.parse(runBin(['inspect', path.join(dir, 'back.onnx'), '--json']).stdout);
  const ref = JSON.parse(runBin(['inspect', src, '--json']).stdout);
  assert.deepEqual({ ...ins, path: null, externalData: null }, { ...ref, path: null, externalData: null });
  r = runBin(['convert', src, path.join(dir, 'same.onnx')]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.readFileSync(src).equals(fs.readFileSync(path.join(dir, 'same.onnx'))));
  // In place only when asked; an existing data file beside the output is refused without --force.
  r = runBin(['convert', path.join(dir, 'same.onnx'), path.join(dir, 'same.onnx'), '--external-data', 'always']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /refusing to overwrite the input .*same\.onnx; choose another output or pass --in-place/);
  r = runBin(['convert', path.join(dir, 'same.onnx'), path.join(dir, 'same.onnx'), '--external-data', 'always', '--in-place']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.statSync(path.join(dir, 'same.onnx')).size < fs.statSync(src).size / 2, 'weights moved out in place');
  r = runBin(['convert', src, path.join(dir, 'ext.onnx'), '--external-data', 'always', '--force']);
  assert.equal(r.code, 0, r.stderr);
  r = runBin(['convert', src, path.join(dir, 'other.onnx'), '--external-data', 'always']);
  assert.equal(r.code, 0, r.stderr);
  fs.rmSync(path.join(dir, 'other.onnx'));
  r = runBin(['convert', src, path.join(dir, 'other.onnx'), '--external-data', 'always']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /other\.onnx\.data already exists \(the output's external data file\); pass --force to replace it/);
  assert.deepEqual(listFiles(dir), ['back.onnx', 'ext.onnx', 'ext.onnx.data', 'other.onnx.data', 'same.onnx', 'same.onnx.data']);
});

test('--help and --version', () => {
  const r = runBin(['--help']);
  assert.equal(r.code, 0);
  for (const cmd of ['inspect', 'insert', 'convert', 'modules']) assert.match(r.stdout, new RegExp(`onnx-attn ${cmd}`));
  const v = runBin(['--version']);
  assert.equal(v.stdout.trim(), JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
});

/** YOLOv5's output0 [1, anchors, 5 + classes] for an all-zero image, from onnxruntime-node directly. */
async function yolov5Output(model: string): Promise<{ data: Float32Array; rows: number; width: number }> {
  const session = await ort.InferenceSession.create(model);
  const out = (await session.run({ images: new ort.Tensor('float32', new Float32Array(3 * 128 * 128), [1, 3, 128, 128]) })).output0!;
  await session.release();
  return { data: out.data as Float32Array, rows: out.dims[1]!, width: out.dims[2]! };
}

/** Boxes YOLOv5's non_max_suppression keeps: objectness and obj × best class over conf, then per-class greedy NMS. */
function referenceBoxCount({ data, rows, width }: { data: Float32Array; rows: number; width: number }, conf: number, iouMax: number): number {
  const boxes: { x1: number; y1: number; x2: number; y2: number; score: number; cls: number }[] = [];
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * width, (r + 1) * width);
    if (!(row[4]! > conf)) continue;
    let cls = 0;
    for (let c = 1; c < width - 5; c++) if (row[5 + c]! > row[5 + cls]!) cls = c;
    const score = row[4]! * row[5 + cls]!;
    if (!(score > conf)) continue;
    const [cx, cy, w, h] = [row[0]!, row[1]!, row[2]!, row[3]!];
    boxes.push({ x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score, cls });
  }
  boxes.sort((a, b) => b.score - a.score);
  const area = (b: (typeof boxes)[number]) => Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
  const overlap = (a: (typeof boxes)[number], b: (typeof boxes)[number]) => {
    const inter = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)) * Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
    return inter > 0 ? inter / (area(a) + area(b) - inter) : 0;
  };
  const kept: typeof boxes = [];
  for (const b of boxes) if (!kept.some((k) => k.cls === b.cls && overlap(k, b) > iouMax)) kept.push(b);
  return kept.length;
}

test('validate decodes detections: boxes per input set as compare counts them, off gives null, --tolerance points to compare', async () => {
  const v5 = fixture('yolov5-op12.onnx');
  const quick = ['--iters', '1', '--warmup', '0', '--conf', '0.00005'];
  const fast = [...quick, '--inputs', 'zeros'];
  // The box counts come from a decoder written here (YOLOv5's non_max_suppression) on outputs of onnxruntime run directly.
  const raw = await yolov5Output(v5);
  const expected = referenceBoxCount(raw, 0.00005, 0.45);
  assert.ok(expected > 1, `${expected} boxes at conf 5e-5`);
  const v = await runMain(['validate', v5, '--json', ...fast]);
  assert.equal(v.code, 0, v.stderr);
  const det = JSON.parse(v.stdout).detections;
  assert.deepEqual(det, { format: 'yolov5', conf: 0.00005, iou: 0.45, images: 1, perInput: [expected] });
  // The same decoder as compare's: its reference count on the same inputs is the same number.
  const c = await runMain(['compare', v5, v5, '--json', ...fast]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(JSON.parse(c.stdout).detections.refCount, expected);
  // A higher threshold keeps fewer boxes (the flag reaches the decoder).
  const strictExpected = referenceBoxCount(raw, 0.001, 0.45);
  assert.ok(strictExpected < expected, `conf 0.001: ${strictExpected} of ${expected}`);
  const strict = JSON.parse((await runMain(['validate', v5, '--json', '--iters', '1', '--inputs', 'zeros', '--conf', '0.001'])).stdout).detections;
  assert.deepEqual(strict.perInput, [strictExpected]);
  const text = await runMain(['validate', v5, ...fast]);
  assert.match(text.stdout, new RegExp(`^detections \\(yolov5, conf 0\\.00005, iou 0\\.45, 1 image\\(s\\)\\): ${expected} box\\(es\\)$`, 'm'));
  // Two images: one count each.
  const imgs = tmpDir();
  await sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .png()
    .toFile(path.join(imgs, 'a.png'));
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 0, g: 0, b: 255 } } })
    .jpeg()
    .toFile(path.join(imgs, 'b.jpg'));
  const two = JSON.parse((await runMain(['validate', v5, '--json', '--inputs', imgs, ...quick])).stdout).detections;
  assert.equal(two.images, 2);
  assert.equal(two.perInput.length, 2);
  assert.ok(two.perInput.every((n: number) => Number.isInteger(n) && n >= 0));
  const off = await runMain(['validate', v5, '--json', '--detections', 'off', ...fast]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(JSON.parse(off.stdout).detections, null);
  assert.doesNotMatch((await runMain(['validate', v5, '--detections', 'off', ...fast])).stdout, /^detections/m);
  const tol = await runMain(['validate', v5, '--tolerance', 'fp32']);
  assert.equal(tol.stderr, 'onnx-attn: --tolerance applies to compare (validate runs one model); use onnx-attn compare\n');
  assert.equal(tol.code, 2);
  assert.deepEqual(listFiles(imgs), ['a.png', 'b.jpg']);
});

test('a plan with several problems prints each on its own line (file:line: key: what), exit 2', () => {
  const dir = tmpDir();
  const plan = path.join(dir, 'plan.yaml');
  fs.writeFileSync(
    plan,
    'version: 1\nmodels:\n  - input: nope.onnx\n    output: out/a.onnx\n    insert:\n      - {after: "23", module: NAM}\n' +
      '  - input: nope2.onnx\n    output: out/b.onnx\n    insert:\n      - {after: "23", module: Swin}\n',
  );
  const r = runBin(['apply', plan]);
  assert.equal(r.code, 2);
  const lines = r.stderr
    .trimEnd()
    .split('\n')
    .map((l) => l.replace(dir + path.sep, ''));
  assert.deepEqual(lines, [
    `onnx-attn: plan.yaml:3: models[0].input: no such file 'nope.onnx' (${path.join(dir, 'nope.onnx')}); paths are relative to the plan file`,
    `onnx-attn: plan.yaml:7: models[1].input: no such file 'nope2.onnx' (${path.join(dir, 'nope2.onnx')}); paths are relative to the plan file`,
    "onnx-attn: plan.yaml:10: models[1].insert[0].module: unknown module 'Swin'; expected one of NAM, GAM, SimAM, SE, CBAM, ECA, CA",
  ]);
  assert.deepEqual(listFiles(dir), ['plan.yaml']);
});

test('an internal error (a bug, not bad input) exits 70, one line, no stack trace unless --debug', async () => {
  const { main } = await import('../src/cli/main.js');
  let stderr = '';
  const boom = {
    stdout: () => {
      throw new TypeError('boom');
    },
    stderr: (t: string) => (stderr += t),
  };
  assert.equal(await main(['modules'], boom), 70);
  assert.equal(stderr, 'onnx-attn: internal error: boom (rerun with --debug for the stack trace)\n');
  stderr = '';
  assert.equal(await main(['modules', '--debug'], boom), 70);
  assert.match(stderr, /^onnx-attn: internal error: boom .*\nTypeError: boom\n\s+at /);
});
