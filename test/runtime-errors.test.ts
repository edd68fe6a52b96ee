import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { convert } from 'xmlbuilder2';
import { compareOutputs } from '../src/runtime/output-comparison.js';
import { ModuleBuilder } from '../src/modules/builder.js';
import { standaloneModel } from '../src/modules/standalone.js';
import { decodeModel } from '../src/onnx/load.js';
import { ModelProtoSchema } from '../src/onnx/proto.js';
import { loadPlan } from '../src/plan/load.js';
import { checkApplyReports, checkReportPaths, commandFiles } from '../src/report/index.js';
import { TOLERANCES } from '../src/runtime/metrics.js';
import { shapeHint } from '../src/runtime/session.js';
import { fixture, listFiles, runBin, runMain, tmpDir } from './helpers.js';

/**
 * The runtime commands on bad input and odd runs: reports never replace an input, a CPU fallback shows in every
 * report, models that cannot be compared are refused, non-finite outputs never look perfect, onnxruntime's own
 * log stays out of stderr, and input files and sizes are checked with one clear line.
 */

const v5 = fixture('yolov5-op12.onnx');
const v8 = fixture('yolov8-op12.onnx');
const FAST = ['--iters', '1', '--warmup', '0'];

/** One line on stderr, exactly `message`, the exit code, nothing on stdout. */
function assertRefused(r: { code: number; stdout: string; stderr: string }, code: number, message: string): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stderr, `onnx-attn: ${message}\n`);
  assert.equal(r.stdout, '');
}

const sha = (file: string) => fs.readFileSync(file).toString('base64');

test('--report over the --inputs file, or over the model through a link, is exit 2 and leaves every file as it was', async () => {
  const dir = tmpDir();
  const inputs = path.join(dir, 'in.json');
  fs.writeFileSync(inputs, JSON.stringify({ images: { dims: [1, 3, 128, 128], data: new Array(3 * 128 * 128).fill(0.25) } }));
  const before = sha(inputs);
  assertRefused(
    await runMain(['validate', v5, '--inputs', inputs, '--report', inputs, ...FAST, '--quiet']),
    2,
    `--report ${inputs}: that is the --inputs file (${inputs}), which this command reads; a report there would replace it; choose another report path`,
  );
  assert.equal(sha(inputs), before);

  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(v5, model);
  const link = path.join(dir, 'report.json');
  fs.symlinkSync(model, link);
  const bytes = sha(model);
  const r = await runMain(['compare', model, v5, '--report', path.join(dir, 'ok.md'), '--report', link, ...FAST, '--quiet']);
  assertRefused(
    r,
    2,
    `--report ${link}: that is the model a (${model}), which this command reads; a report there would replace it; choose another report path`,
  );
  assert.equal(sha(model), bytes);
  assert.deepEqual(listFiles(dir), ['in.json', 'm.onnx', 'report.json'], 'no report written, not even the good one');
});

test('checkReportPaths refuses, before anything runs, a report that is one of the files the command reads', () => {
  const dir = tmpDir();
  const model = path.join(dir, 'model.json');
  fs.copyFileSync(v5, model);
  const inputs = path.join(dir, 'in.json');
  fs.writeFileSync(inputs, '{}');
  const args = { model, inputs, report: [inputs], json: false };
  assert.deepEqual(commandFiles(args), [
    { path: model, what: 'the model' },
    { path: inputs, what: 'the --inputs file' },
  ]);
  assert.deepEqual(commandFiles({ a: v5, b: v8, inputs: 'random' }), [
    { path: v5, what: 'the model a' },
    { path: v8, what: 'the model b' },
  ]);
  assert.throws(() => checkReportPaths([inputs], undefined, commandFiles(args)), {
    name: 'UsageError',
    message: `--report ${inputs}: that is the --inputs file (${inputs}), which this command reads; a report there would replace it; choose another report path`,
  });
  assert.throws(() => checkReportPaths([model], undefined, commandFiles(args)), {
    name: 'UsageError',
    message: /^--report .*model\.json: that is the model \(/,
  });
  assert.doesNotThrow(() => checkReportPaths([path.join(dir, 'new.json')], undefined, commandFiles(args)));
  assert.deepEqual(
    commandFiles({ model: v5, weights: ['a.npz,b.npz'] }).map((f) => f.what),
    ['the model', 'a --weights file', 'a --weights file'],
  );
});

test('apply: a report that is the plan itself, an input or a weights file is refused before anything is built', () => {
  const dir = tmpDir();
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  fs.writeFileSync(path.join(dir, 'w.json'), '{}');
  const plan = path.join(dir, 'plan.json');
  const write = (reports: string[]) =>
    fs.writeFileSync(
      plan,
      JSON.stringify({ version: 1, models: [{ input: 'm.onnx', output: 'out/p.onnx', insert: [{ after: '23', module: 'NAM', weights: 'w.json' }] }], reports }),
    );
  write(['plan.json']);
  const loaded = loadPlan(plan);
  assert.throws(() => checkApplyReports(loaded), {
    name: 'UsageError',
    message:
      /^.*plan\.json: reports\[0\] .*plan\.json: that is the plan \(.*plan\.json\), which this command reads; a report there would replace it; choose another report path$/,
  });
  write([]);
  assert.throws(() => checkApplyReports(loadPlan(plan), [plan]), {
    name: 'UsageError',
    message: `--report ${plan}: that is the plan (${plan}), which this command reads; a report there would replace it; choose another report path`,
  });
  assert.throws(() => checkApplyReports(loadPlan(plan), [path.join(dir, 'w.json')]), {
    name: 'UsageError',
    message: /that is a weights file of models\[0\]\.insert\[0\]/,
  });
  write(['m.onnx/r.md']);
  assert.throws(() => checkApplyReports(loadPlan(plan)), {
    name: 'UsageError',
    message: /reports\[0\] .*m\.onnx\/r\.md: .*m\.onnx is a file, not a folder; choose a report path in a folder$/,
  });
  write(['reports/new/r.md']);
  assert.doesNotThrow(() => checkApplyReports(loadPlan(plan), [path.join(dir, 'r.xml')]));
  assert.deepEqual(listFiles(dir), ['m.onnx', 'plan.json', 'w.json']);
});

test('--report under a file is exit 2 with one line, not an ENOTDIR internal error', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'text.onnx');
  fs.writeFileSync(file, 'not a folder');
  assertRefused(
    await runMain(['validate', v5, '--report', path.join(file, 'r.json'), ...FAST]),
    2,
    `--report ${path.join(file, 'r.json')}: ${file} is a file, not a folder; choose a report path in a folder`,
  );
  assertRefused(
    await runMain(['validate', v5, '--report', path.join(dir, 'missing', 'r.json'), ...FAST]),
    2,
    `--report ${path.join(dir, 'missing', 'r.json')}: folder ${path.join(dir, 'missing')} does not exist; create it or choose another report path`,
  );
  assert.deepEqual(listFiles(dir), ['text.onnx']);
});

type Case = { '@name': string; failure?: unknown; 'system-out'?: string };
const casesOf = (file: string): Case[] => {
  const xml = convert(fs.readFileSync(file, 'utf8'), { format: 'object' }) as { testsuites: { '@failures': string; testsuite: { testcase: Case | Case[] } } };
  const c = xml.testsuites.testsuite.testcase;
  return Array.isArray(c) ? c : [c];
};

test('a CPU fallback is in the JUnit of compare (two models and --ep-pair), and in the JUnit and CSV of sweep', async () => {
  const dir = tmpDir();
  const two = path.join(dir, 'two.xml');
  assert.equal((await runMain(['compare', v5, v5, '--ep', 'cuda', '--fallback', 'cpu', '--report', two, ...FAST, '--quiet'])).code, 0);
  const fell = casesOf(two).find((c) => c['@name'] === 'runs on cpu: fell back from cuda');
  assert.ok(fell, JSON.stringify(casesOf(two)));
  assert.equal(fell.failure, undefined);
  assert.match(fell['system-out']!, /^requested cuda, used cpu; fallback: cuda unavailable: /);

  const pair = path.join(dir, 'pair.xml');
  assert.equal((await runMain(['compare', v5, '--ep-pair', 'cuda,cpu', '--fallback', 'cpu', '--report', pair, ...FAST, '--quiet'])).code, 0);
  assert.deepEqual(
    casesOf(pair).map((c) => c['@name']),
    ['output output0 within fp32', 'detections agree', 'latency overhead: within noise', 'b runs on cpu: fell back from cuda'],
  );

  const xml = path.join(dir, 's.xml');
  const csv = path.join(dir, 's.csv');
  const s = await runMain([
    'sweep',
    v5,
    '--modules',
    'NAM',
    '--after',
    '23',
    '--ep',
    'cuda',
    '--fallback',
    'cpu',
    '--report',
    xml,
    '--report',
    csv,
    ...FAST,
    '--quiet',
  ]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(
    fs.readFileSync(xml, 'utf8'),
    /<testsuites name="onnx-attn" tests="2" failures="0">/,
    'the verdict is the exit status: a fallback is not a failure',
  );
  const cases = casesOf(xml);
  assert.deepEqual(
    cases.map((c) => [c['@name'], c.failure]),
    [
      ['runs on cpu: fell back from cuda', undefined],
      ['NAM at 23', undefined],
    ],
  );
  assert.match(cases[1]!['system-out']!, /; ran on cpu \(fell back from cuda\)$/);
  const [header, row] = fs.readFileSync(csv, 'utf8').trimEnd().split('\r\n');
  assert.match(header!, /,on_requested_ep,same_as,overhead_lo_ms,.*,requested_ep,used_ep,fallback_reason$/);
  assert.match(row!, /,false,,-?[\d.]+,.*,cuda,cpu,cuda unavailable: /);
});

test('sweep JUnit: candidates that cannot be built are <skipped>, not failures, as the exit status says', async () => {
  const { sweepJunit } = await import('../src/report/sweep.js');
  const xml = sweepJunit({
    schema: 'onnx-attn/sweep@1',
    tool: 't',
    model: 'm.onnx',
    family: 'yolov5',
    ep: { requested: ['cpu'], used: ['cpu'], fallbackReason: null },
    rankBy: 'overhead',
    iters: 1,
    timing: { precisionPct: null, budgetS: null },
    baseline: { p50s: [1], driftPct: 0 },
    rows: [],
    skipped: [{ module: 'SE', point: '0', reason: 'C // r = 0' }],
  });
  assert.match(xml, /<testsuites name="onnx-attn" tests="1" failures="0">/);
  assert.match(
    xml,
    /<testsuite name="sweep m.onnx" tests="1" failures="0" errors="0" skipped="1" time="0.000">\s*<testcase name="SE at 0" [^>]*>\s*<skipped message="not built: C \/\/ r = 0"\/>/,
  );
});

test('apply: the JUnit compare testcases record a CPU fallback', async () => {
  const dir = tmpDir();
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  const plan = path.join(dir, 'plan.yaml');
  fs.writeFileSync(
    plan,
    `version: 1
models:
  - name: e
    input: m.onnx
    output: out.onnx
    insert: [{after: "23", module: SimAM, gate: zero}]
    validate: false
    compare: {ep: [cuda], fallback: cpu, tolerance: exact, iters: 1, warmup: 0}
reports: [r.xml, r.md]
`,
  );
  const r = await runMain(['apply', plan, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const xml = fs.readFileSync(path.join(dir, 'r.xml'), 'utf8');
  assert.match(
    xml,
    /<testcase name="compare: runs on cpu: fell back from cuda" classname="onnx-attn\.apply\.e\.compare" time="0\.000">\s*<system-out>requested cuda, used cpu; fallback: cuda unavailable: /,
  );
  assert.match(fs.readFileSync(path.join(dir, 'r.md'), 'utf8'), /^\| e \| .+ \| ✅ exact, max abs 0 \(cpu, fallback\) \| ✅ \|$/m);
});

test('compare refuses models with other output shapes or names (exit 2), before running them', async () => {
  assertRefused(
    await runMain(['compare', v5, v8, ...FAST]),
    2,
    'the models give different outputs (output0 [1,1008,85] vs [1,84,336]); compare needs the same output names and shapes',
  );
  const dir = tmpDir();
  const proto = decodeModel(fs.readFileSync(v5));
  for (const n of proto.graph!.node) n.output = n.output.map((o) => (o === 'output0' ? 'detections' : o));
  proto.graph!.output[0]!.name = 'detections';
  const renamed = path.join(dir, 'renamed.onnx');
  fs.writeFileSync(renamed, toBinary(ModelProtoSchema, proto));
  const report = path.join(dir, 'r.json');
  assertRefused(
    await runMain(['compare', v5, renamed, '--report', report, ...FAST]),
    2,
    'the models give different outputs (output0 [1,1008,85] vs detections [1,1008,85]); compare needs the same output names and shapes',
  );
  assert.deepEqual(listFiles(dir), ['renamed.onnx']);
});

test('an output whose shapes differ at run time fails with NaN metrics, never a perfect score', () => {
  const t = (dims: number[], values: number[]) => ({ name: 'y', type: 'float32', dims, data: Float32Array.from(values) });
  const r = compareOutputs([[t([1, 2], [1, 2])]], [[t([1, 3], [1, 2, 3])]], () => TOLERANCES.fp32, 'a.onnx', 'b.onnx');
  assert.deepEqual(r.problems, ["output 'y' has shape [1,3] in b.onnx, [1,2] in a.onnx"]);
  const [o] = r.outputs;
  assert.deepEqual([o!.maxAbs, o!.meanAbs, o!.relL2, o!.cosine, o!.withinPct, o!.pass], [NaN, NaN, NaN, NaN, 0, false]);
  const ok = compareOutputs([[t([2], [3, 4])]], [[t([2], [3, 4])]], () => TOLERANCES.exact).outputs[0]!;
  assert.deepEqual([ok.maxAbs, ok.relL2, ok.cosine, ok.pass, ok.nonFinite], [0, 0, 1, true, { a: 0, b: 0 }]);
});

test('compare: non-finite outputs fail (exit 1) with null metrics, even when both sides agree on them', async () => {
  const dir = tmpDir();
  const tape = new ModuleBuilder(17);
  const file = path.join(dir, 'log.onnx');
  fs.writeFileSync(file, toBinary(ModelProtoSchema, standaloneModel(tape, tape.op('Log', [tape.input]), { inputDims: [1, 3, 4, 4], name: 'log' })));
  const report = path.join(dir, 'r.xml');
  const r = await runMain(['compare', file, file, '--inputs', 'zeros', '--json', '--report', report, ...FAST]);
  assert.equal(r.code, 1, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.pass, false);
  const [o] = json.outputs;
  assert.deepEqual([o.maxAbs, o.meanAbs, o.relL2, o.cosine, o.pass, o.nonFinite], [null, null, null, null, false, { a: 48, b: 48 }]);
  assert.deepEqual(json.problems, [`output 'y' has non-finite values (NaN or infinity: 48 in ${file}, 48 in ${file}); its error cannot be measured`]);
  assert.match(fs.readFileSync(report, 'utf8'), /<failure message="non-finite values \(48 in b, 48 in the reference\): error not measurable">/);
  const one = compareOutputs(
    [[{ name: 'y', type: 'float32', dims: [3], data: Float32Array.from([1, 2, 3]) }]],
    [[{ name: 'y', type: 'float32', dims: [3], data: Float32Array.from([1, NaN, 3]) }]],
    () => TOLERANCES.fp16,
  );
  assert.deepEqual([one.outputs[0]!.relL2, one.outputs[0]!.cosine, one.outputs[0]!.pass, one.outputs[0]!.nonFinite], [NaN, NaN, false, { a: 0, b: 1 }]);
});

test("onnxruntime's own log stays off stderr; a failed run on a chosen --shape says which sizes to try", () => {
  const r = runBin(['validate', fixture('yolov5-dynamic-op12.onnx'), '--shape', 'images=1x3x13x13', ...FAST]);
  assert.equal(r.code, 4);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\u001b\[|\[E:onnxruntime/);
  assert.match(
    lines[0]!,
    /^onnx-attn: onnxruntime failed to run the model .*yolov5-dynamic-op12\.onnx: .*Concat.*; the model may need sizes that are multiples of its stride \(32\); try --shape images=1x3x32x32$/,
  );
  assert.equal(shapeHint({ images: [2, 3, 100, 640] }), '; the model may need sizes that are multiples of its stride (32); try --shape images=2x3x128x640');
  assert.equal(shapeHint({ images: [1, 3, 640, 320] }), '');
  assert.equal(shapeHint(undefined), '');
});

test('--inputs FILE.json: {shape, data} as --weights files have it, and a non-finite value named by its place, exit 4 (the file is at fault)', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'in.json');
  fs.writeFileSync(file, JSON.stringify({ images: { shape: [1, 3, 128, 128], data: new Array(3 * 128 * 128).fill(0.5) } }));
  const ok = await runMain(['validate', v5, '--inputs', file, '--json', ...FAST]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).inputs.tensors, [{ name: 'images', dtype: 'float32', shape: [1, 3, 128, 128] }]);

  fs.writeFileSync(file, '{"images": {"shape": [1, 3, 128, 128], "data": [0.1, 0.2, 0.3, 1e999]}}');
  assertRefused(await runMain(['validate', v5, '--inputs', file, ...FAST]), 4, `--inputs ${file}: images[3] is not a finite number; give finite values`);
  fs.writeFileSync(file, '{"images": [[[[0.1, -1e999]]]]}');
  assertRefused(
    await runMain(['validate', v5, '--inputs', file, ...FAST]),
    4,
    `--inputs ${file}: images[0][0][0][1] is not a finite number; give finite values`,
  );
  fs.writeFileSync(file, '{"images": {"dims": [1, 3, 128, 128], "shape": [1, 3, 64, 64], "data": [1]}}');
  assertRefused(
    await runMain(['validate', v5, '--inputs', file, ...FAST]),
    4,
    `--inputs ${file}: 'images' has dims [1,3,128,128] and shape [1,3,64,64]; give one of them`,
  );
  fs.writeFileSync(file, '{"images": {"dims": [1, 3, 128, 128]}}');
  assertRefused(
    await runMain(['validate', v5, '--inputs', file, ...FAST]),
    4,
    `--inputs ${file}: 'images' is an object without "data"; expected {"NAME": nested arrays} or {"NAME": {"dims": [...], "data": [...]}}`,
  );
  assert.deepEqual(listFiles(dir), ['in.json']);
});

test('--shape beyond 2^28 elements per input is exit 2 naming the shape, not an internal error', async () => {
  const dir = tmpDir();
  const report = path.join(dir, 'r.json');
  assertRefused(
    await runMain(['validate', fixture('yolov5-dynamic-op12.onnx'), '--shape', 'images=1x3x100000x100000', '--report', report, ...FAST]),
    2,
    '--shape images=1x3x100000x100000: 30000000000 elements, more than the 268435456 (2^28) onnx-attn allocates for one input; give a smaller shape, e.g. --shape images=1x3x640x640',
  );
  assert.deepEqual(listFiles(dir), []);
});
