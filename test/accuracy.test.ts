import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { fixture, runMain, tmpDir } from './helpers.js';

/**
 * Accuracy on labelled images, end to end on the trained YOLOv5-style fixture and its validation set
 * (fixtures/trained): a `--gate zero` patch keeps mAP to the last bit, an untrained NAM at the head loses it, and
 * the gates exit as cli-contract.md says.
 */
const model = fixture('trained/yolov5-mini.onnx');
const yoloDir = fixture('trained/val');
const cocoJson = fixture('trained/val/instances.json');
const FAST = ['--iters', '1', '--warmup', '0'];
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
let dir: string;
let gateZero: string;
let nam: string;

before(async () => {
  dir = tmpDir('onnx-attn-accuracy-');
  gateZero = path.join(dir, 'gate-zero.onnx');
  nam = path.join(dir, 'nam.onnx');
  assert.equal((await runMain(['insert', model, '--after', 'head', '--module', 'NAM', '--gate', 'zero', '-o', gateZero, '--quiet'])).code, 0);
  assert.equal((await runMain(['insert', model, '--after', 'head', '--module', 'NAM', '-o', nam, '--quiet'])).code, 0);
});

const json = (r: { stdout: string }) => JSON.parse(r.stdout);

test('validate --dataset: YOLO labels and the COCO file give the same mAP; the trained fixture detects', async () => {
  const yolo = json(await runMain(['validate', model, '--dataset', yoloDir, ...FAST, '--json']));
  const coco = json(await runMain(['validate', model, '--dataset', cocoJson, ...FAST, '--json']));
  const a = yolo.accuracy;
  assert.deepEqual(
    Object.keys(a).sort(),
    [
      'ar100',
      'classMap',
      'conf',
      'dataset',
      'format',
      'images',
      'instances',
      'iou',
      'map50',
      'map5095',
      'map75',
      'multiLabel',
      'perClass',
      'pr50',
      'precision',
      'recall',
    ].sort(),
  );
  assert.deepEqual([a.images, a.instances, a.format, a.conf, a.iou, a.multiLabel], [50, 113, 'yolov5', 0.001, 0.6, true]);
  assert.ok(a.map50 >= 0.5, `the trained fixture detects: mAP@0.5 ${a.map50}`);
  assert.ok(a.map5095 < a.map50);
  for (const k of ['map50', 'map5095', 'precision', 'recall']) assert.equal(coco.accuracy[k], a[k], k);
  assert.deepEqual(
    coco.accuracy.perClass.map((c: { name: string; ap5095: number }) => [c.name, c.ap5095]),
    a.perClass.map((c: { name: string; ap5095: number }) => [c.name, c.ap5095]),
  );
  assert.deepEqual(
    a.perClass.map((c: { name: string }) => c.name),
    ['circle', 'square', 'triangle'],
  );
  assert.equal(a.pr50.length, 101);
});

test("validate --dataset agrees with another implementation: each trained fixture's own figures (OpenCV letterbox, numpy COCOeval) to their 4 decimals", async () => {
  // fixtures/trained/trained.json: measured by scripts/trained (Python, OpenCV, a numpy port of COCOeval) on the
  // same ONNX files in onnxruntime, decoded with NMS IoU 0.7 and the best class per box.
  type Figures = { file: string; mAP50: number; mAP5095: number; mAR100: number; perClass: Record<string, { AP50: number; AP5095: number }> };
  const trained = JSON.parse(fs.readFileSync(fixture('trained/trained.json'), 'utf8')) as { files: Figures[] };
  assert.ok(trained.files.some((f) => f.file === 'yolov5-mini.onnx'));
  for (const theirs of trained.files) {
    const a = json(
      await runMain([
        'validate',
        fixture(`trained/${theirs.file}`),
        '--dataset',
        yoloDir,
        '--dataset-iou',
        '0.7',
        '--no-dataset-multi-label',
        ...FAST,
        '--json',
      ]),
    ).accuracy;
    const near = (ours: number, reported: number, what: string) =>
      assert.ok(Math.abs(ours - reported) <= 5e-5 + 1e-12, `${theirs.file} ${what}: ${ours} vs ${reported}`);
    near(a.map50, theirs.mAP50, 'mAP@0.5');
    near(a.map5095, theirs.mAP5095, 'mAP@0.5:0.95');
    near(a.ar100, theirs.mAR100, 'AR@100');
    for (const c of a.perClass as { name: string; ap50: number; ap5095: number }[]) {
      near(c.ap50, theirs.perClass[c.name]!.AP50, `${c.name} AP@0.5`);
      near(c.ap5095, theirs.perClass[c.name]!.AP5095, `${c.name} AP@0.5:0.95`);
    }
  }
});

test(
  'the YOLOv8-style fixture: a --gate zero patch keeps mAP exactly, an untrained NAM at the head lowers it',
  { skip: fs.existsSync(fixture('trained/yolov8-mini.onnx')) ? false : 'no yolov8-mini.onnx' },
  async () => {
    const v8 = fixture('trained/yolov8-mini.onnx');
    const gz = path.join(dir, 'v8-gate-zero.onnx');
    const n = path.join(dir, 'v8-nam.onnx');
    assert.equal((await runMain(['insert', v8, '--after', 'head', '--module', 'NAM', '--gate', 'zero', '-o', gz, '--quiet'])).code, 0);
    assert.equal((await runMain(['insert', v8, '--after', 'head', '--module', 'NAM', '-o', n, '--quiet'])).code, 0);
    const same = json(await runMain(['compare', v8, gz, '--dataset', yoloDir, '--max-map-drop', '0', ...FAST, '--json']));
    assert.deepEqual([same.pass, same.mapDrop, same.a.accuracy.format, same.a.accuracy.iou], [true, 0, 'yolov8', 0.7]);
    assert.deepEqual(same.a.accuracy, same.b.accuracy);
    assert.ok(same.a.accuracy.map50 >= 0.5, `the trained fixture detects: ${same.a.accuracy.map50}`);
    const lost = json(await runMain(['compare', v8, n, '--dataset', yoloDir, '--max-map-drop', '0', '--tolerance', 'atol=1000,rtol=1000', ...FAST, '--json']));
    assert.equal(lost.pass, false);
    assert.ok(lost.mapDrop > 0.01, `NAM at the head: ${lost.a.accuracy.map5095} → ${lost.b.accuracy.map5095}`);
  },
);

test('validate --min-map: at the measured mAP it passes (exit 0), a hair above it fails (exit 1) with a line saying why', async () => {
  const m: number = json(await runMain(['validate', model, '--dataset', yoloDir, ...FAST, '--json'])).accuracy.map5095;
  const pass = await runMain(['validate', model, '--dataset', yoloDir, '--min-map', String(m), ...FAST, '--json']);
  assert.equal(pass.code, 0, pass.stderr);
  assert.deepEqual(json(pass).mapGate, { minMap: m, map5095: m, pass: true });
  const above = Math.min(1, m + 0.01);
  const fail = await runMain(['validate', model, '--dataset', yoloDir, '--min-map', String(above), ...FAST]);
  assert.equal(fail.code, 1);
  assert.match(fail.stdout, new RegExp(`problem: mAP@0\\.5:0\\.95 ${m.toFixed(4)} is below --min-map ${above}`));
});

test('compare --dataset: a --gate zero patch keeps mAP exactly; an untrained NAM at the head loses it and --max-map-drop fails (exit 1)', async () => {
  const same = await runMain(['compare', model, gateZero, '--dataset', yoloDir, '--max-map-drop', '0', ...FAST, '--json']);
  assert.equal(same.code, 0, same.stderr);
  const s = json(same);
  assert.deepEqual(s.a.accuracy, s.b.accuracy);
  assert.equal(s.mapDrop, 0);
  assert.deepEqual(s.mapGate, { maxMapDrop: 0, mapDrop: 0, pass: true });

  // Loose output tolerance, so that the mAP gate alone decides.
  const reports = ['r.json', 'r.md', 'r.xml', 'r.html'].map((f) => path.join(dir, `nam-${f}`));
  const lost = await runMain([
    'compare',
    model,
    nam,
    '--dataset',
    yoloDir,
    '--max-map-drop',
    '0.01',
    '--tolerance',
    'atol=1000,rtol=1000',
    ...FAST,
    '--quiet',
    ...reports.flatMap((r) => ['--report', r]),
  ]);
  assert.equal(lost.code, 1, lost.stderr);
  const r = JSON.parse(fs.readFileSync(reports[0]!, 'utf8'));
  assert.ok(r.outputs.every((o: { pass: boolean }) => o.pass));
  assert.ok(r.b.accuracy.map5095 < r.a.accuracy.map5095 - 0.01, `NAM: ${r.a.accuracy.map5095} → ${r.b.accuracy.map5095}`);
  assert.equal(r.mapDrop, r.a.accuracy.map5095 - r.b.accuracy.map5095);
  assert.equal(r.mapGate.pass, false);
  assert.match(lost.stdout, /problem: mAP@0\.5:0\.95 dropped by 0\.\d{4} \(0\.\d{4} → 0\.\d{4}\), more than --max-map-drop 0\.01/);

  const md = fs.readFileSync(reports[1]!, 'utf8');
  assert.match(md, /### Accuracy/);
  assert.match(md, /\| a \(before\) \| 0\.\d{4} \| 0\.\d{4} \|/);
  assert.match(md, /\| circle \(0\) \| 46 \|/);
  assert.match(md, /❌ --max-map-drop 0\.01: mAP@0\.5:0\.95 dropped by 0\.\d{4}/);
  const xml = fs.readFileSync(reports[2]!, 'utf8');
  assert.match(xml, /<testcase name="mAP@0\.5:0\.95 drops by at most 0\.01"[^>]*>\s*<failure message="mAP@0\.5:0\.95 dropped by 0\.\d{4}, more than 0\.01"/);

  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    await page.goto(`file://${reports[3]}`);
    assert.ok((await page.$$eval('h2', (hs) => hs.map((h) => h.textContent))).includes('Accuracy'));
    const pr = await page.$eval('svg[data-chart="pr"]', (s) => ({
      w: s.getBoundingClientRect().width,
      h: s.getBoundingClientRect().height,
      paths: [...s.querySelectorAll('path[data-series]')].map((p) => p.getAttribute('data-series')),
    }));
    assert.ok(pr.w > 300 && pr.h > 200, `PR chart ${pr.w}x${pr.h}`);
    assert.deepEqual(pr.paths, ['a (before)', 'b (after)']);
    assert.equal(await page.textContent('[data-gate="max-map-drop"] .bad'), 'fail');
    assert.equal(await page.$eval('html', (el) => el.scrollWidth - el.clientWidth), 0, 'no horizontal scrolling at 1024 px');
    const shots = process.env['ONNX_ATTN_SCREENSHOTS'] ?? dir;
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'compare-accuracy.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test('accuracy flags: thresholds outside [0, 1], gates without a dataset and missing datasets are usage errors (exit 2)', async () => {
  const cases: [string[], RegExp][] = [
    [['validate', model, '--dataset', yoloDir, '--min-map', '1.5'], /--min-map '1\.5': expected a number ≤ 1/],
    [['compare', model, gateZero, '--dataset', yoloDir, '--max-map-drop', '-0.1'], /--max-map-drop '-0\.1': expected a number ≥ 0/],
    [['validate', model, '--min-map', '0.5'], /--min-map needs --dataset DIR\|data\.yaml\|coco\.json/],
    [['compare', model, gateZero, '--max-map-drop', '0.01'], /--max-map-drop needs --dataset/],
    [['validate', model, '--dataset', path.join(dir, 'nope')], /--dataset .*nope: no such file or folder/],
    [['validate', model, '--dataset', fixture('trained/val/labels')], /--dataset .*labels: no \.jpg, \.png, \.webp, \.bmp or \.tiff images under/],
    [['validate', model, '--dataset', yoloDir, '--dataset-conf', '2'], /--dataset-conf '2': expected a number ≤ 1/],
    [['validate', model, '--dataset', yoloDir, '--class-map', '0:1'], /class map '0:1': '0:1' is not CLASS=CATEGORY/],
  ];
  for (const [args, message] of cases) {
    const r = await runMain([...args, ...FAST]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

test('plans: dataset, min-map and max-map-drop under validate/compare gate each entry; misplaced or orphan keys are exit 2 at their line', async () => {
  const planDir = tmpDir('onnx-attn-accuracy-plan-');
  const plan = path.join(planDir, 'plan.yaml');
  fs.writeFileSync(
    plan,
    [
      'version: 1',
      'defaults:',
      '  validate: {iters: 1, warmup: 0}',
      '  compare: {iters: 1, warmup: 0, tolerance: "atol=1000,rtol=1000"}',
      'models:',
      '  - name: gate-zero',
      `    input: ${model}`,
      '    output: out/gz.onnx',
      '    insert: [{after: head, module: NAM, gate: zero}]',
      `    validate: {dataset: ${cocoJson}, min-map: 0.3}`,
      `    compare: {dataset: ${yoloDir}, max-map-drop: 0}`,
      '  - name: nam',
      `    input: ${model}`,
      '    output: out/nam.onnx',
      '    insert: [{after: head, module: NAM}]',
      '    validate: false',
      `    compare: {dataset: ${yoloDir}, max-map-drop: 0.01}`,
      'reports: [r.xml]',
    ].join('\n'),
  );
  const r = await runMain(['apply', plan, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const result = json(r);
  const [gz, n] = result.entries as {
    name: string;
    pass: boolean;
    validate: { mapGate: { pass: boolean } } | null;
    compare: { mapDrop: number; mapGate: { pass: boolean } };
  }[];
  assert.deepEqual([gz!.name, gz!.pass, gz!.validate!.mapGate.pass, gz!.compare.mapDrop, gz!.compare.mapGate.pass], ['gate-zero', true, true, 0, true]);
  assert.deepEqual([n!.name, n!.pass, n!.compare.mapGate.pass], ['nam', false, false]);
  assert.ok(n!.compare.mapDrop > 0.01);
  const xml = fs.readFileSync(path.join(planDir, 'r.xml'), 'utf8');
  assert.match(xml, /<testcase name="validate: mAP@0\.5:0\.95 at least 0\.3"/);
  assert.equal((xml.match(/<testcase name="compare: mAP@0\.5:0\.95 drops by at most/g) ?? []).length, 2);

  fs.writeFileSync(
    plan,
    [
      'version: 1',
      'models:',
      `  - input: ${model}`,
      '    output: out/x.onnx',
      '    insert: [{after: head, module: NAM}]',
      '    validate: {max-map-drop: 0.1}',
      '    compare: {min-map: 0.2}',
    ].join('\n'),
  );
  const bad = await runMain(['apply', plan]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /plan\.yaml:6: models\[0\]\.validate\.max-map-drop: max-map-drop applies to compare/);
  assert.match(bad.stderr, /plan\.yaml:7: models\[0\]\.compare\.min-map: min-map applies to validate/);
  fs.writeFileSync(
    plan,
    [
      'version: 1',
      'models:',
      `  - input: ${model}`,
      '    output: out/x.onnx',
      '    insert: [{after: head, module: NAM}]',
      '    compare: {max-map-drop: 0.1, class-map: "0=1"}',
    ].join('\n'),
  );
  const orphan = await runMain(['apply', plan]);
  assert.equal(orphan.code, 2);
  assert.match(orphan.stderr, /plan\.yaml:6: models\[0\]\.compare\.max-map-drop: max-map-drop needs dataset:/);
});

test('sweep --dataset --rank-by map-drop: candidates ranked by the mAP they lose; the original scored once; CSV columns', async () => {
  const csv = path.join(dir, 'sweep.csv');
  const r = await runMain([
    'sweep',
    model,
    '--modules',
    'NAM,SimAM',
    '--after',
    'head',
    '--dataset',
    yoloDir,
    '--rank-by',
    'map-drop',
    '--iters',
    '2',
    '--warmup',
    '0',
    '--json',
    '--report',
    csv,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = json(r);
  const base = json(await runMain(['validate', model, '--dataset', yoloDir, ...FAST, '--json'])).accuracy;
  assert.equal(s.accuracy.map5095, base.map5095);
  const drops = s.rows.map((x: { mapDrop: number }) => x.mapDrop);
  assert.deepEqual(
    [...drops].sort((a, b) => a - b),
    drops,
    'best (smallest drop) first',
  );
  for (const x of s.rows) assert.equal(x.mapDrop, base.map5095 - x.accuracy.map5095);
  const [header, ...lines] = fs.readFileSync(csv, 'utf8').trim().split('\r\n');
  assert.deepEqual(header!.split(',').slice(-3), ['map50', 'map5095', 'map_drop']);
  assert.equal(Number(lines[0]!.split(',').at(-1)), drops[0]);

  const none = await runMain(['sweep', model, '--modules', 'NAM', '--after', 'head', '--rank-by', 'map-drop', ...FAST]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--rank-by map-drop ranks by the mAP each candidate loses on labelled images; give --dataset/);
});
