import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { convert } from 'xmlbuilder2';
import { analyzeModel } from '../src/analysis.js';
import { loadModelSync } from '../src/onnx/load.js';
import { expandPoints, rankRows, type SweepRow } from '../src/sweep.js';
import { fixture, runMain, tmpDir } from './helpers.js';

/** sweep on the fixtures: the grid, the cost figures against hand-computed values, ranking, parts, reports. */

const v5 = fixture('yolov5-op12.onnx');
const dir = tmpDir();
const FAST = ['--iters', '3', '--warmup', '0'];

test('sweep: 3 modules × 4 points on the YOLOv5-style fixture, hand-computed costs, and the four reports', async () => {
  const reports = ['s.json', 's.csv', 's.md', 's.html', 's.xml'].map((f) => path.join(dir, f));
  const r = await runMain([
    'sweep',
    v5,
    '--modules',
    'NAM,GAM,SimAM',
    '--after',
    '17,20,23,head',
    '--conf',
    '0.00005',
    ...FAST,
    ...reports.flatMap((f) => ['--report', f]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sweep .*yolov5-op12\.onnx \(yolov5\) on cpu: 12 candidate\(s\), ranked by score-change$/m);
  const json = JSON.parse(fs.readFileSync(reports[0]!, 'utf8'));
  assert.equal(json.schema, 'onnx-attn/sweep@1');
  assert.equal(json.rows.length, 12);
  assert.deepEqual(json.skipped, []);
  const row = (module: string, point: string) => json.rows.find((x: SweepRow) => x.module === module && x.point === point) as SweepRow;
  // NAM: 2C parameters; BN and gate, 2 MACs per element. P3 is [1,8,16,16], P4 [1,16,8,8], P5 [1,32,4,4].
  assert.deepEqual([row('NAM', '17').params, row('NAM', '17').macs], [16, 2 * 8 * 256]);
  assert.deepEqual([row('NAM', 'head').params, row('NAM', 'head').macs], [16 + 32 + 64, 2 * (8 * 256 + 16 * 64 + 32 * 16)]);
  // GAM paper, r=4 at C=8 (c'=2): 100·C·c' + 4c' + 4C; MACs: two 1x1 convs, two 7x7 convs, two gating products.
  const gamMacs = (c: number, hw: number) => {
    const h = c / 4;
    return (h * c + c * h + 49 * h * c + 49 * c * h + 2 * c) * hw;
  };
  assert.deepEqual([row('GAM', '17').params, row('GAM', '17').macs], [100 * 8 * 2 + 4 * 2 + 4 * 8, gamMacs(8, 256)]);
  assert.deepEqual([row('GAM', '23').params, row('GAM', '23').macs], [100 * 32 * 8 + 4 * 8 + 4 * 32, gamMacs(32, 16)]);
  // SimAM: no parameters; subtract, square, divide and gate per element.
  assert.deepEqual([row('SimAM', '20').params, row('SimAM', '20').macs], [0, 4 * 16 * 64]);
  for (const x of json.rows as SweepRow[]) {
    assert.ok(x.cosine > 0.99 && x.cosine <= 1, `${x.module} ${x.point} cosine ${x.cosine}`);
    assert.ok(x.relL2 > 0 && x.relL2 < 0.1, `${x.module} ${x.point} relL2 ${x.relL2}`);
    assert.equal(x.onRequestedEp, true);
    assert.ok(x.detections && x.detections.refCount > 0);
    assert.equal(typeof x.baselineMs, 'number');
  }
  assert.deepEqual(
    json.rows.map((x: SweepRow) => x.rank),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  // Ranked by the scores part's change (columns 5.. of [1,1008,85]), which the whole-output rel L2 hides.
  const scores = json.rows.map((x: SweepRow) => x.scoreChange);
  assert.deepEqual(
    scores,
    [...scores].sort((a: number, b: number) => a - b),
    'best (least score change) first',
  );
  for (const x of json.rows as SweepRow[]) {
    assert.deepEqual(
      x.outputs[0]!.parts.map((p) => p.part),
      ['boxes', 'objectness', 'scores'],
    );
    assert.equal(x.scoreChange, x.outputs[0]!.parts[2]!.relL2);
    const o = x.latencyMs.overhead;
    assert.equal(o.pairs, 3);
    assert.equal(o.withinNoise, true, 'three pairs are too few for a 95% interval: never ranked as a difference');
    assert.ok(o.lo <= o.median && o.median <= o.hi);
    assert.deepEqual([x.overheadMs, x.overheadPct], [o.median, o.medianPct]);
  }
  assert.equal(json.baseline.p50s.length, 12, 'the original is timed beside every candidate');

  const csv = fs.readFileSync(reports[1]!, 'utf8').trimEnd().split('\r\n');
  assert.equal(csv.length, 13);
  assert.equal(
    csv[0],
    'rank,module,variant,point,tensors,params,macs,p50_ms,baseline_ms,overhead_ms,overhead_pct,cosine,rel_l2,matched_pct,class_agreement,mean_iou,on_requested_ep,same_as,' +
      'overhead_lo_ms,overhead_hi_ms,overhead_lo_pct,overhead_hi_pct,overhead_within_noise,pairs,score_change,' +
      'boxes_max_abs,boxes_rel_l2,boxes_cosine,objectness_max_abs,objectness_rel_l2,objectness_cosine,scores_max_abs,scores_rel_l2,scores_cosine',
  );
  const headRow = csv.find((l) => l.includes(',NAM,channel,head,'))!;
  assert.match(
    headRow,
    /^\d+,NAM,channel,head,\/model\.17\/cv3\/act\/Mul_output_0 \/model\.20\/cv3\/act\/Mul_output_0 \/model\.23\/cv3\/act\/Mul_output_0,112,7168,/,
  );
  const md = fs.readFileSync(reports[2]!, 'utf8');
  assert.equal(md.split('\n').filter((l) => /^\| \d+ \| (NAM|GAM|SimAM) \|/.test(l)).length, 12);
  assert.match(md, /\| overhead ms \| overhead % \(95% interval\) \| cosine \| rel L2 \| scores rel L2 \| boxes rel L2 \|/);
  assert.equal(md.split('\n').filter((l) => /\| within noise \([+-][\d.]+\.\.[+-][\d.]+%\) \|/.test(l)).length, 12);
  const html = fs.readFileSync(reports[3]!, 'utf8');
  assert.match(html, /data-chart="tradeoff"/);
  assert.equal((html.match(/<circle cx=/g) ?? []).length, 12 + 3, 'one dot per candidate plus a legend dot per module');
  const xml = convert(fs.readFileSync(reports[4]!, 'utf8'), { format: 'object' }) as { testsuites: { '@tests': string; '@failures': string } };
  assert.deepEqual([xml.testsuites['@tests'], xml.testsuites['@failures']], ['12', '0']);
});

test('sweep --combine gives one row per module; --rank-by reorders; same patched model is measured once', async () => {
  // A module named twice (any case) is one module.
  const combined = JSON.parse(
    (await runMain(['sweep', v5, '--modules', 'NAM,SimAM,nam', '--after', '17,20', '--combine', '--rank-by', 'params', '--json', ...FAST])).stdout,
  );
  assert.deepEqual(
    combined.rows.map((x: SweepRow) => [x.rank, x.module, x.point, x.params]),
    [
      [1, 'SimAM', '17,20', 0],
      [2, 'NAM', '17,20', 48],
    ],
  );
  const same = JSON.parse((await runMain(['sweep', v5, '--modules', 'NAM', '--after', '23,head:2', '--json', ...FAST])).stdout);
  const rows: SweepRow[] = same.rows;
  assert.equal(rows.length, 2);
  const dup = rows.find((x) => x.point === 'head:2')!;
  assert.equal(dup.sameAs, '23');
  assert.equal(dup.latencyMs.p50, rows.find((x) => x.point === '23')!.latencyMs.p50);
});

test('rankRows orders by each key, best first', () => {
  const mk = (
    module: string,
    params: number,
    overheadPct: number,
    relL2: number,
    cosine: number,
    scoreChange: number | null = null,
    withinNoise = false,
  ): SweepRow =>
    ({
      rank: 0,
      module,
      variant: '',
      point: '1',
      tensors: [],
      params,
      macs: params,
      latencyMs: { p50: 1, mean: 1, overhead: { withinNoise } },
      baselineMs: 1,
      overheadMs: 0,
      overheadPct,
      cosine,
      relL2,
      scoreChange,
      outputs: [],
      detections: null,
      onRequestedEp: true,
      offEp: [],
      sameAs: null,
    }) as unknown as SweepRow;
  const rows = [mk('A', 30, 5, 0.01, 0.99, 0.2), mk('B', 10, 9, 0.001, 0.999, 0.3), mk('C', 20, 1, 0.1, 0.9, 0.1)];
  const order = (by: Parameters<typeof rankRows>[1], list = rows) =>
    rankRows(list, by)
      .map((r) => r.module)
      .join('');
  assert.equal(order('overhead'), 'CAB');
  assert.equal(order('score-change'), 'CAB');
  // Without a scores part (an unknown model), score-change is the whole outputs' change.
  assert.equal(
    order(
      'score-change',
      rows.map((r) => ({ ...r, scoreChange: null })),
    ),
    'BAC',
  );
  // Overheads within noise count as 0: they tie, and fewer parameters go first, never the noise.
  const noisy = [mk('A', 30, -20, 0.01, 0.99, 0.2, true), mk('B', 10, 30, 0.001, 0.999, 0.3, true), mk('C', 20, 1, 0.1, 0.9, 0.1, false)];
  assert.equal(order('overhead', noisy), 'BAC');
  assert.equal(
    order(
      'score-change',
      noisy.map((r) => ({ ...r, scoreChange: 0.5 })),
    ),
    'BAC',
    'ties: a significant overhead after those within noise',
  );
  assert.equal(order('params'), 'BCA');
  assert.equal(order('change'), 'BAC');
  assert.equal(order('cosine'), 'BAC');
});

test('backbone, neck and all-layers expand to the layers of each family', async () => {
  const expected: Record<string, [string[], string[]]> = {
    'yolov5-op12.onnx': [range(0, 9), range(10, 23)],
    'yolov8-op17.onnx': [range(0, 9), range(10, 21)],
    'yolo11-op12.onnx': [range(0, 10), range(11, 22)],
    'rtdetr-l-op16.onnx': [range(0, 9), range(10, 27)],
  };
  for (const [file, [backbone, neck]] of Object.entries(expected)) {
    const a = await analyzeModel(loadModelSync(fixture(file)), { probe: false });
    assert.deepEqual(expandPoints(a, ['backbone']), backbone, `${file} backbone`);
    assert.deepEqual(expandPoints(a, ['neck']), neck, `${file} neck`);
    assert.deepEqual(expandPoints(a, ['all-layers']), [...backbone, ...neck], `${file} all-layers`);
  }
  const official = await analyzeModel(loadModelSync(fixture('rtdetr-official-op16.onnx')), { probe: false });
  assert.deepEqual(
    expandPoints(official, ['backbone']),
    [0, 1, 2, 3].map((i) => `model/backbone/res_layers.${i}`),
  );
  const neck = expandPoints(official, ['neck']);
  assert.ok(neck.includes('model/encoder/fpn_blocks.1') && neck.includes('model/encoder/pan_blocks.1') && neck.includes('model/encoder/input_proj.0'));
  assert.ok(neck.every((s) => s.startsWith('model/encoder/')));
});

test('sweep on official RT-DETR backbone: candidates that cannot be built are listed as skipped, not fatal', async () => {
  const r = await runMain(['sweep', fixture('rtdetr-official-op16.onnx'), '--modules', 'SE', '--after', 'backbone', '--json', '--conf', '0.001', ...FAST]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  // SE's default reduction 16 leaves no hidden unit on the 8- and 12-channel stages; 16 and 24 channels work.
  assert.deepEqual(json.rows.map((x: SweepRow) => x.point).sort(), ['model/backbone/res_layers.2', 'model/backbone/res_layers.3']);
  assert.deepEqual(
    json.skipped.map((s: { point: string }) => s.point),
    ['model/backbone/res_layers.0', 'model/backbone/res_layers.1'],
  );
  assert.match(json.skipped[0].reason, /C \/\/ r = 0/);
  assert.equal(json.rows[0].detections.format, 'rtdetr-official');
});

test('sweep errors are one line with their exit code', async () => {
  const cases: [string[], number, RegExp][] = [
    [['sweep', v5, '--modules', 'Swin', '--after', '17'], 2, /unknown module 'Swin'/],
    [['sweep', v5, '--modules', 'NAM', '--after', '17', '--report', path.join(dir, 'x.pdf')], 2, /unknown format '\.pdf'/],
    [['sweep', v5, '--modules', 'NAM'], 2, /Missing required argument: after/],
    [['sweep', v5, '--modules', 'NAM', '--after', '99'], 4, /^onnx-attn: layer 99 not found: this yolov5 model has layers 0\.\.24$/m],
    [
      ['sweep', v5, '--modules', 'NAM', '--after', '17,model.24/m'],
      4,
      /'model\.24\/m' is ambiguous: scope model\.24\/m has 3 boundary tensors; pick one with model\.24\/m#0/,
    ],
    [
      ['sweep', v5, '--modules', 'SE', '--opt', 'reduction=64', '--after', '17', '--iters', '1', '--warmup', '0'],
      4,
      /no candidate could be built: SE at 17: model\.17 .*C=8\): SE reduction=64 leaves C \/\/ r = 0 hidden units/,
    ],
  ];
  for (const [args, code, re] of cases) {
    const r = await runMain(args);
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
});

function range(a: number, b: number): string[] {
  return Array.from({ length: b - a + 1 }, (_, i) => String(a + i));
}
