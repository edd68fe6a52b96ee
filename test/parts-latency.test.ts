import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModelSync } from '../src/onnx/load.js';
import { encodeModel } from '../src/onnx/save.js';
import type { SweepRow } from '../src/sweep.js';
import { fixture, runMain, tmpDir } from './helpers.js';

/**
 * compare and sweep: per-part output metrics of each family (issue #18 item 1) and the paired latency overhead with
 * its interval, --precision and --budget (item 5), in JSON and in every report.
 */

const dir = tmpDir();
const FAST = ['--iters', '2', '--warmup', '0'];
const v5 = fixture('yolov5-op12.onnx');

async function patched(file: string, name: string, args: string[]): Promise<string> {
  const out = path.join(dir, name);
  const r = await runMain(['insert', fixture(file), ...args, '-o', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

type Part = { part: string; maxAbs: number; relL2: number; cosine: number };
type Output = { name: string; maxAbs: number; relL2: number; cosine: number; parts: Part[] };

test('compare: every family split into its parts; the parts partition the output (its max abs is their largest)', async () => {
  const expected: [string, Record<string, string[]>][] = [
    ['yolov5-op12.onnx', { output0: ['boxes', 'objectness', 'scores'] }],
    ['yolov8-op17.onnx', { output0: ['boxes', 'scores'] }],
    ['yolo11-op12.onnx', { output0: ['boxes', 'scores'] }],
    ['rtdetr-l-op16.onnx', { output0: ['boxes', 'scores'] }],
    ['rtdetr-official-op16.onnx', { labels: ['labels'], boxes: ['boxes'], scores: ['scores'] }],
  ];
  for (const [file, parts] of expected) {
    const nam = await patched(file, `${file}-simam.onnx`, ['--after', 'head', '--module', 'SimAM']);
    const r = await runMain(['compare', fixture(file), nam, '--json', ...FAST]);
    const json = JSON.parse(r.stdout);
    const outputs: Output[] = json.outputs;
    assert.deepEqual(Object.fromEntries(outputs.map((o) => [o.name, o.parts.map((p) => p.part)])), parts, file);
    for (const o of outputs) {
      if (o.name === 'labels') continue; // int64: its part is the whole output
      assert.equal(o.maxAbs, Math.max(...o.parts.map((p) => p.maxAbs)), `${file} ${o.name}: max abs over the parts`);
      for (const p of o.parts) assert.ok(p.relL2 > 0 && p.cosine <= 1 && p.cosine > 0.5, `${file} ${o.name} ${p.part}: ${JSON.stringify(p)}`);
    }
  }
});

test('compare: a gate-zero patch has every part identical; the text, Markdown, HTML and JUnit show the parts', async () => {
  const gate = await patched('yolov5-op12.onnx', 'gate.onnx', ['--after', 'head', '--module', 'NAM', '--gate', 'zero']);
  const reports = ['g.md', 'g.html', 'g.xml', 'g.json'].map((f) => path.join(dir, f));
  const r = await runMain(['compare', v5, gate, '--tolerance', 'exact', '--iters', '10', '--warmup', '0', ...reports.flatMap((f) => ['--report', f])]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {2}boxes {6}.* 0 {8}.* 0 {7}1\.000000\s*$/m);
  assert.match(r.stdout, /^ {2}objectness +0 +0 +1\.000000$/m);
  assert.match(r.stdout, /^ {2}scores +0 +0 +1\.000000$/m);
  const json = JSON.parse(fs.readFileSync(reports[3]!, 'utf8'));
  assert.deepEqual(json.outputs[0].parts, [
    { part: 'boxes', maxAbs: 0, relL2: 0, cosine: 1 },
    { part: 'objectness', maxAbs: 0, relL2: 0, cosine: 1 },
    { part: 'scores', maxAbs: 0, relL2: 0, cosine: 1 },
  ]);
  const md = fs.readFileSync(reports[0]!, 'utf8');
  assert.match(
    md,
    /^\| output0 \| \[1, 1008, 85\] \| 0 \| 0 \| 0 \| 1 \| exact .*\n\| ↳ boxes \|  \| 0 \|  \| 0 \| 1 \|  \|  \|  \|\n\| ↳ objectness \|.*\n\| ↳ scores \|/m,
  );
  assert.match(md, /^- latency p50: .*; overhead (within noise \()?[+-]\d+\.\d{3} ms.*95% interval [+-][\d.]+\.\.[+-][\d.]+%.*median of 10 paired runs$/m);
  const html = fs.readFileSync(reports[1]!, 'utf8');
  assert.deepEqual(
    [...html.matchAll(/data-part="(\w+)"/g)].map((m) => m[1]),
    ['boxes', 'objectness', 'scores'],
  );
  assert.match(html, /data-overhead="(within-noise|measured)">overhead \(b − a\): /);
  assert.match(html, />output0 · scores</, 'the error chart has a row per part');
  const xml = fs.readFileSync(reports[2]!, 'utf8');
  assert.match(xml, /scores: max abs 0 rel L2 0 cosine 1/);
  assert.match(xml, /<testcase name="latency overhead(: within noise| measured)"/);
});

test('compare: the overhead is the median of the paired differences, its interval ranks 2 and 9 of 10 pairs', async () => {
  const r = await runMain(['compare', v5, v5, '--json', '--iters', '10', '--warmup', '0']);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  const a: number[] = json.latencySamplesMs.a;
  const b: number[] = json.latencySamplesMs.b;
  const d = b.map((x, i) => x - a[i]!).sort((x, y) => x - y);
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const o = json.latencyMs.overhead;
  // n = 10: P(B ≤ 1) = 11/1024 ≤ 2.5% < P(B ≤ 2), so [d(2), d(9)], coverage 1 − 22/1024.
  assert.deepEqual([o.median, o.lo, o.hi], [r4((d[4]! + d[5]!) / 2), r4(d[1]!), r4(d[8]!)]);
  assert.equal(o.withinNoise, d[1]! <= 0 && d[8]! >= 0);
  assert.deepEqual([o.pairs, o.level, o.stoppedBy, o.precisionPct, o.precisionReached], [10, 0.978516, 'iters', null, null]);
  const sortedA = [...a].sort((x, y) => x - y);
  assert.equal(o.baselineMs, r4((sortedA[4]! + sortedA[5]!) / 2));
  assert.deepEqual(json.overhead, { ms: o.median, pct: o.medianPct });
});

test('--precision times on to the target (or the budget); --budget alone times until it ends', async () => {
  const p = JSON.parse((await runMain(['compare', v5, v5, '--json', '--iters', '6', '--warmup', '0', '--precision', '50%', '--budget', '20s'])).stdout)
    .latencyMs.overhead;
  assert.equal(p.precisionPct, 50);
  assert.ok(p.pairs >= 6);
  assert.ok(p.stoppedBy === 'precision' ? p.precisionReached === true : p.stoppedBy === 'budget', JSON.stringify(p));
  const b = await runMain(['compare', v5, v5, '--iters', '1', '--warmup', '0', '--budget', '300ms']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /median of \d+ paired runs, stopped by the time budget$/m);
  const s = JSON.parse(
    (await runMain(['sweep', v5, '--modules', 'SimAM', '--after', '23', '--json', '--iters', '1', '--warmup', '0', '--budget', '0.3s'])).stdout,
  );
  assert.deepEqual(s.timing, { precisionPct: null, budgetS: 0.3 });
  assert.equal(s.rows[0].latencyMs.overhead.stoppedBy, 'budget');
});

test('--precision, --budget and --rank-by mistakes are exit 2, one line', async () => {
  const cases: [string[], RegExp][] = [
    [['compare', v5, v5, '--precision', '0%'], /^onnx-attn: --precision '0%': expected a percentage > 0 and ≤ 100, e.g. 2%$/],
    [['compare', v5, v5, '--precision', 'fast'], /^onnx-attn: --precision 'fast': expected a percentage/],
    [['compare', v5, v5, '--budget', '2d'], /^onnx-attn: --budget '2d': expected a time > 0 and ≤ 24 h, e.g. 60s, 500ms, 2m$/],
    [['compare', v5, v5, '--budget', '25h'], /^onnx-attn: --budget '25h': expected a time > 0 and ≤ 24 h/],
    [['compare', v5, v5, '--budget', ''], /^onnx-attn: --budget is empty; give a value, or leave --budget out$/],
    [['compare', v5, v5, '--precision', '2%', '--precision', '3%'], /^onnx-attn: --precision given more than once \(2%, 3%\); give it once$/],
    [['sweep', v5, '--modules', 'NAM', '--after', '23', '--budget', '0s'], /^onnx-attn: --budget '0s': expected a time > 0/],
    [['sweep', v5, '--modules', 'NAM', '--after', '23', '--rank-by', 'speed'], /rank-by.*speed.*score-change/],
  ];
  for (const [args, re] of cases) {
    const r = await runMain(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
});

test('unknown models keep whole-output metrics: no parts, and sweep ranks by the whole change', async () => {
  // Node names without scopes: the family is unknown (locate.test.ts), the unscoped head is still found.
  const model = loadModelSync(v5);
  model.proto.graph!.node.forEach((n, i) => (n.name = `node_${n.opType}_${i}`));
  const bare = path.join(dir, 'bare.onnx');
  fs.writeFileSync(bare, encodeModel(model));
  const c = JSON.parse((await runMain(['compare', bare, bare, '--json', ...FAST])).stdout);
  assert.equal(c.a.family, 'unknown');
  assert.deepEqual(
    c.outputs.map((o: Output) => o.parts),
    [[]],
  );
  const s = JSON.parse((await runMain(['sweep', bare, '--modules', 'NAM,SimAM', '--after', 'head', '--json', ...FAST])).stdout);
  assert.equal(s.rankBy, 'score-change');
  const rows: SweepRow[] = s.rows;
  assert.ok(rows.every((x) => x.scoreChange === null && x.outputs[0]!.parts.length === 0));
  const changes = rows.map((x) => x.relL2);
  assert.deepEqual(
    changes,
    [...changes].sort((x, y) => x - y),
  );
});

test('plans: compare takes precision and budget, checked as the flags are; under validate they are misplaced', async () => {
  const planDir = tmpDir('onnx-attn-plan-');
  const write = (compare: string, validate = 'false') => {
    const file = path.join(planDir, 'plan.yaml');
    fs.writeFileSync(
      file,
      `version: 1
models:
  - name: gate
    input: ${path.relative(planDir, v5)}
    output: out/gate.onnx
    insert:
      - {after: "23", module: SimAM, gate: zero}
    validate: ${validate}
    compare: ${compare}
`,
    );
    return file;
  };
  const ok = await runMain(['apply', write('{iters: 6, warmup: 0, tolerance: exact, precision: 50%, budget: 20s}'), '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const entry = JSON.parse(ok.stdout).entries[0];
  assert.equal(entry.compare.latencyMs.overhead.precisionPct, 50);
  assert.ok(['precision', 'budget'].includes(entry.compare.latencyMs.overhead.stoppedBy));
  assert.deepEqual(
    entry.compare.outputs[0].parts.map((p: Part) => [p.part, p.maxAbs]),
    [
      ['boxes', 0],
      ['objectness', 0],
      ['scores', 0],
    ],
  );
  const cases: [string, string, RegExp][] = [
    ['{precision: 0%}', 'false', /plan\.yaml:9: models\[0\]\.compare\.precision: expected a percentage > 0 and ≤ 100, e\.g\. 2%, got the string '0%'$/],
    ['{precision: 150}', 'false', /plan\.yaml:9: models\[0\]\.compare\.precision: expected a number ≤ 100, got the number 150$/],
    [
      '{budget: 2d}',
      'false',
      /plan\.yaml:9: models\[0\]\.compare\.budget: expected a time > 0 and ≤ 24 h, e\.g\. 60s, 500ms, 2m \(a number is seconds\), got the string '2d'$/,
    ],
    ['{budget: 30h}', 'false', /plan\.yaml:9: models\[0\]\.compare\.budget: expected a time > 0 and ≤ 24 h, e\.g\. 60s, 500ms, 2m, got the string '30h'$/],
    [
      'false',
      '{precision: 2%}',
      /plan\.yaml:8: models\[0\]\.validate\.precision: precision applies to compare \(the overhead of b over a\); move it under compare:$/,
    ],
  ];
  for (const [compare, validate, re] of cases) {
    const r = await runMain(['apply', write(compare, validate)]);
    assert.equal(r.code, 2, `${compare} ${validate}: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), re);
  }
});

test('on the trained YOLOv5-style fixture, NAM at the head moves objectness and scores far more than the whole output says', async () => {
  const trained = fixture('trained/yolov5-mini.onnx');
  const nam = path.join(dir, 'trained-nam.onnx');
  assert.equal((await runMain(['insert', trained, '--after', 'head', '--module', 'NAM', '-o', nam, '--quiet'])).code, 0);
  const r = await runMain(['compare', trained, nam, '--inputs', fixture('trained/val/images'), '--json', ...FAST]);
  const [o] = JSON.parse(r.stdout).outputs as Output[];
  const part = (name: string) => o!.parts.find((p) => p.part === name)!;
  // The box coordinates (input pixels) carry nearly all of ‖output0‖, so the whole output reads like its boxes.
  assert.ok(Math.abs(part('boxes').relL2 - o!.relL2) < 0.01 * o!.relL2, JSON.stringify(o));
  assert.ok(part('objectness').relL2 > 5 * o!.relL2, `objectness ${part('objectness').relL2} vs whole ${o!.relL2}`);
  assert.ok(part('scores').relL2 > 2 * o!.relL2, `scores ${part('scores').relL2} vs whole ${o!.relL2}`);
});
