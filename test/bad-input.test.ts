import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { toBinary, create } from '@bufbuild/protobuf';
import { TensorProtoSchema, ModelProtoSchema } from '../src/onnx/proto.js';
import { decodeModel } from '../src/onnx/load.js';
import { fixture, listFiles, runBin, runMain, tmpDir } from './helpers.js';

/** One line on stderr, no stack trace, the documented exit code, and nothing written. */
function assertCleanFailure(r: { code: number; stdout: string; stderr: string }, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^onnx-attn: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const dir = tmpDir();
const v5 = fixture('yolov5-op12.onnx');
const bytes = fs.readFileSync(v5);

const cases: [string, () => string, RegExp][] = [
  ['a missing file', () => path.join(dir, 'nope.onnx'), /no such file/],
  ['a directory', () => dir, /is a directory/],
  ['an empty file', () => write('empty.onnx', Buffer.alloc(0)), /is empty/],
  [
    'random bytes',
    () => write('random.onnx', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))),
    /not a valid ONNX protobuf|not an ONNX ModelProto|damaged/,
  ],
  ['a truncated model', () => write('truncated.onnx', bytes.subarray(0, Math.floor(bytes.length * 0.6))), /not a valid ONNX protobuf|truncated|damaged/],
  [
    'a protobuf that is not a ModelProto',
    () => write('tensor.onnx', Buffer.from(toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 'w', dims: [2n], dataType: 1, floatData: [1, 2] })))),
    /not an ONNX ModelProto|not a valid ONNX protobuf/,
  ],
];

function write(name: string, data: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

for (const [what, make, pattern] of cases) {
  test(`inspect refuses ${what} with exit 4 and one line`, () => {
    const file = make();
    const before = listFiles(dir);
    assertCleanFailure(runBin(['inspect', file]), 4, pattern);
    assert.deepEqual(listFiles(dir), before);
  });
}

test('external data: missing, short and escaping files are exit 4', () => {
  const src = fixture('yolov5-external/yolov5-op12.onnx');
  const d = tmpDir();
  fs.copyFileSync(src, path.join(d, 'm.onnx'));
  assertCleanFailure(runBin(['inspect', path.join(d, 'm.onnx')]), 4, /external data file 'yolov5-op12.onnx.data' of tensor .* not found/);
  fs.writeFileSync(path.join(d, 'yolov5-op12.onnx.data'), Buffer.alloc(100));
  assertCleanFailure(runBin(['inspect', path.join(d, 'm.onnx')]), 4, /is 100 bytes, but tensor/);
  const proto = decodeModel(fs.readFileSync(src));
  for (const t of proto.graph!.initializer) for (const e of t.externalData) if (e.key === 'location') e.value = '../outside.data';
  fs.writeFileSync(path.join(d, 'escape.onnx'), toBinary(ModelProtoSchema, proto));
  assertCleanFailure(runBin(['inspect', path.join(d, 'escape.onnx')]), 4, /outside the model's folder; refused/);
});

test('an unknown SPEC and an ambiguous module are exit 4 with the candidates', () => {
  assertCleanFailure(runBin(['inspect', v5, '--at', '99']), 4, /layer 99 not found: this yolov5 model has layers 0\.\.24/);
  assertCleanFailure(runBin(['inspect', v5, '--at', 'model.23/cv9']), 4, /matches no layer, scope, node or tensor/);
  assertCleanFailure(runBin(['inspect', v5, '--at', 'node:/model.23/nope']), 4, /node '\/model.23\/nope' not found/);
  // C3's inner Bottleneck scope m has one boundary, but the whole model.2 'm' + 'cv1' ... an SPPF pool chain is ambiguous:
  // the official RT-DETR encoder glue has several boundary tensors.
  assertCleanFailure(
    runBin(['inspect', fixture('rtdetr-official-op16.onnx'), '--no-probe', '--at', 'model/encoder']),
    4,
    /is ambiguous: scope model\/encoder has \d+ boundary tensors; pick one with model\/encoder#0: /,
  );
});

test('usage errors are exit 2', () => {
  const r1 = runBin(['frobnicate']);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /^onnx-attn: Unknown argument: frobnicate/);
  const r0 = runBin([]);
  assert.equal(r0.code, 2);
  assert.equal(
    r0.stderr,
    "onnx-attn: name a command: inspect, insert, validate, compare, sweep, apply, convert, modules, doctor, torch (see 'onnx-attn --help')\n",
  );
  const r2 = runBin(['inspect']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /Not enough non-option arguments/);
  const r3 = runBin(['convert', v5, path.join(tmpDir(), 'o.onnx'), '--external-data', 'sometimes']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /Invalid values:/);
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'exists.onnx'), 'x');
  const r4 = runBin(['convert', v5, path.join(d, 'exists.onnx')]);
  assertCleanFailure(r4, 2, /already exists; pass --force/);
  assert.equal(fs.readFileSync(path.join(d, 'exists.onnx'), 'utf8'), 'x');
});

test('--debug shows the stack trace', () => {
  const r = runBin(['inspect', path.join(dir, 'nope.onnx'), '--debug']);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /\n\s+at /);
});

/** Exactly this one line on stderr (and the exit status); prints what came instead. */
function assertLine(r: { code: number; stderr: string }, code: number, line: string, what: string): void {
  assert.equal(r.stderr, `onnx-attn: ${line}\n`, what);
  assert.equal(r.code, code, `${what}: exit code`);
}

/** A folder holding a copy of the v5 fixture, so that default outputs (beside the input) land where we look. */
function workDir(): { dir: string; model: string } {
  const d = tmpDir();
  const model = path.join(d, 'm.onnx');
  fs.copyFileSync(v5, model);
  return { dir: d, model };
}

test('a scalar option given twice is a usage error naming both values; repeatable ones stay repeatable', async () => {
  const { dir: d, model } = workDir();
  const a = path.join(d, 'a.onnx');
  const b = path.join(d, 'b.onnx');
  const ins = ['insert', model, '--after', '23', '--module', 'NAM'];
  const cases: [string[], string][] = [
    [['insert', model, '--after', '23', '--module', 'NAM', '--module', 'SE'], '--module given more than once (NAM, SE); give it once'],
    [[...ins, '-o', a, '-o', b], `--output given more than once (${a}, ${b}); give it once`],
    [[...ins, '--output', a, '-o', b], `--output given more than once (${a}, ${b}); give it once`],
    [[...ins, '--seed', '1', '--seed', '2'], '--seed given more than once (1, 2); give it once'],
    [[...ins, '--gate', 'zero', '--gate', 'none'], '--gate given more than once (zero, none); give it once'],
    [[...ins, '--init', 'torch', '--init', 'random'], '--init given more than once (torch, random); give it once'],
    [[...ins, '--bn-eps', '1e-3', '--bn-eps=1e-5'], '--bn-eps given more than once (1e-3, 1e-5); give it once'],
    [[...ins, '--external-data', 'never', '--external-data', 'always'], '--external-data given more than once (never, always); give it once'],
    [['validate', model, '--inputs', 'zeros', '--inputs', 'random'], '--inputs given more than once (zeros, random); give it once'],
    [['validate', model, '--fallback', 'cpu', '--fallback', 'none'], '--fallback given more than once (cpu, none); give it once'],
    [['validate', model, '--warmup', '1', '--warmup', '2'], '--warmup given more than once (1, 2); give it once'],
    [['validate', model, '--iters', '5', '--iters', '5'], '--iters given more than once (5, 5); give it once'],
    [['validate', model, '--require-ep', 'cpu', '--require-ep', 'cuda'], '--require-ep given more than once (cpu, cuda); give it once'],
    [['compare', model, model, '--conf', '0.1', '--conf', '0.2'], '--conf given more than once (0.1, 0.2); give it once'],
    [['compare', model, '--ep-pair', 'cuda,cpu', '--ep-pair', 'cpu,cpu'], '--ep-pair given more than once (cuda,cpu, cpu,cpu); give it once'],
    [['convert', model, a, '--threshold', '1', '--threshold', '2'], '--threshold given more than once (1, 2); give it once'],
    [
      ['inspect', model, '--at', '23', '--json', '--shape', 'images=1x3x128x128', '--shape', 'images=1x3x128x128'],
      "--shape names input 'images' twice (images=1x3x128x128, images=1x3x128x128); give it once",
    ],
  ];
  for (const [args, line] of cases) assertLine(await runMain(args), 2, line, args.join(' '));
  assert.deepEqual(listFiles(d), ['m.onnx']);
  // Repeatable options and flags given twice are fine.
  const ok = await runMain([
    ...ins.slice(0, 4),
    '--after',
    '20',
    '--module',
    'NAM',
    '--opt',
    'spatial=channel',
    '--opt',
    'spatial=channel',
    '--json',
    '--json',
    '--dry-run',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(
    JSON.parse(ok.stdout).insertions.map((i: { point: string }) => i.point),
    ['model.23', 'model.20'],
  );
  const twoEps = await runMain(['validate', model, '--ep', 'cpu', '--ep', 'cpu', '--iters', '1', '--warmup', '0', '--json']);
  assert.equal(twoEps.code, 0, twoEps.stderr);
  assert.deepEqual(JSON.parse(twoEps.stdout).ep.used, ['cpu']);
  assert.deepEqual(listFiles(d), ['m.onnx']);
});

test('numeric options quote what was typed and say what they take', async () => {
  const { dir: d, model } = workDir();
  const ins = ['insert', model, '--after', '23', '--module', 'NAM'];
  const cases: [string[], string][] = [
    [['validate', model, '--iters', 'abc'], "--iters 'abc': expected a whole number ≥ 1"],
    [['validate', model, '--iters', '0'], "--iters '0': expected a whole number ≥ 1"],
    [['validate', model, '--iters', '2.5'], "--iters '2.5': expected a whole number ≥ 1"],
    [['validate', model, '--iters', '100000000000000000000'], "--iters '100000000000000000000': expected a whole number ≤ 100000"],
    [['validate', model, '--iters=100001'], "--iters '100001': expected a whole number ≤ 100000"],
    [['validate', model, '--warmup', 'abc'], "--warmup 'abc': expected a whole number ≥ 0"],
    [['validate', model, '--warmup', '1e9'], "--warmup '1e9': expected a whole number ≤ 100000"],
    [['validate', model, '--seed', 'abc'], "--seed 'abc': expected a whole number"],
    [['validate', model, '--device-id', 'abc'], "--device-id 'abc': expected a whole number ≥ 0"],
    [['validate', model, '--device-id', '1.5'], "--device-id '1.5': expected a whole number ≥ 0"],
    [['validate', model, '--device-id', '-1'], "--device-id '-1': expected a whole number ≥ 0"],
    [['validate', model, '--threads', 'many'], "--threads 'many': expected a whole number ≥ 1"],
    [['compare', model, model, '--conf', 'high'], "--conf 'high': expected a number ≥ 0"],
    [['compare', model, model, '--iou', '1.5'], "--iou '1.5': expected a number ≤ 1"],
    [[...ins, '--seed', 'abc'], "--seed 'abc': expected a whole number"],
    [[...ins, '--seed', '1e30'], "--seed '1e30': expected a whole number between -9007199254740991 and 9007199254740991"],
    [[...ins, '--bn-eps', 'abc'], "--bn-eps 'abc': expected a number > 0"],
    [[...ins, '--bn-eps', '0'], "--bn-eps '0': expected a number > 0"],
    [['convert', model, path.join(d, 'c.onnx'), '--threshold', 'abc'], "--threshold 'abc': expected a whole number ≥ 0"],
    [['sweep', model, '--modules', 'NAM', '--after', '23', '--iters', 'x'], "--iters 'x': expected a whole number ≥ 1"],
  ];
  for (const [args, line] of cases) assertLine(await runMain(args), 2, line, args.join(' '));
  assert.deepEqual(listFiles(d), ['m.onnx']);
  // Scientific notation is a number like any other; the parsed value is what runs.
  const r = await runMain(['validate', model, '--iters', '2e0', '--warmup', '0', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).latencyMs.n, 2);
});

test('--shape sizes of 0 are refused when the flags are read, on a static and a dynamic model', async () => {
  const dyn = fixture('yolov5-dynamic-op12.onnx');
  for (const args of [
    ['validate', dyn, '--shape', 'images=1x3x0x0'],
    ['inspect', dyn, '--shape', 'images=1x3x0x0'],
    ['insert', dyn, '--after', '23', '--module', 'NAM', '--shape', 'images=1x3x0x0', '--dry-run'],
    ['validate', v5, '--shape', 'images=1x3x0x0'],
  ]) {
    assertLine(await runMain(args), 2, "--shape 'images=1x3x0x0': dim 2 is 0; every size must be a whole number ≥ 1", args.join(' '));
  }
});

test('output paths: a directory, a file where a folder should be, and an empty path are named as such', async () => {
  const { dir: d, model } = workDir();
  const folder = path.join(d, 'some-folder.onnx');
  fs.mkdirSync(folder);
  const text = path.join(d, 'text.onnx');
  fs.writeFileSync(text, 'x');
  const ins = ['insert', model, '--after', '23', '--module', 'NAM'];
  const isDir = `cannot write ${folder}: it is a directory; give a file name for the output`;
  const notFolder = (p: string) => `cannot write ${p}: ${text} is a file, not a folder; choose another output path`;
  const cases: [string[], string][] = [
    [[...ins, '-o', folder], isDir],
    [[...ins, '-o', folder, '--force'], isDir],
    [['convert', model, folder], isDir],
    [['convert', model, folder, '--force'], isDir],
    [[...ins, '-o', path.join(text, 'x.onnx')], notFolder(path.join(text, 'x.onnx'))],
    [['convert', model, path.join(text, 'x.onnx')], notFolder(path.join(text, 'x.onnx'))],
    [['convert', model, path.join(text, 'a', 'x.onnx')], notFolder(path.join(text, 'a', 'x.onnx'))],
    [[...ins, '-o', ''], '--output is empty; give a value, or leave --output out'],
    [['convert', model, ''], '<output> is empty; give a file path'],
    [['inspect', ''], '<model> is empty; give a file path'],
  ];
  for (const [args, line] of cases) assertLine(await runMain(args), 2, line, args.join(' '));
  assert.deepEqual(listFiles(d), ['m.onnx', 'some-folder.onnx', 'text.onnx']);
  assert.equal(fs.readFileSync(text, 'utf8'), 'x');
});

test('options that would be ignored are refused: empty values, --weights with --init or --seed, apply --schema with a plan', async () => {
  const { dir: d, model } = workDir();
  const weights = path.join(d, 'w.json');
  fs.writeFileSync(weights, '{}');
  const ins = ['insert', model, '--after', '23', '--module', 'NAM'];
  const cases: [string[], string][] = [
    [[...ins, '--weights', ''], '--weights is empty; give a value, or leave --weights out'],
    [[...ins, '--weights'], '--weights is empty; give a value, or leave --weights out'],
    [
      [...ins, '--weights', weights, '--init', 'random'],
      '--weights and --init random contradict each other (--init is for weights made without a file); pass one',
    ],
    [
      [...ins, '--weights', weights, '--init', 'torch'],
      '--weights and --init torch contradict each other (--init is for weights made without a file); pass one',
    ],
    [[...ins, '--weights', weights, '--seed', '3'], '--weights and --seed 3 contradict each other (--seed is for weights made without a file); pass one'],
    [['insert', model, '--module', 'NAM', '--after'], '--after is empty; give a value'],
    [['inspect', model, '--at', ''], '--at is empty; give a value, or leave --at out'],
    [['validate', model, '--inputs', ''], '--inputs is empty; give a value, or leave --inputs out'],
    [['validate', model, '--require-ep', 'foo'], "--require-ep 'foo': expected one of cpu, cuda, tensorrt, webgpu"],
    [
      ['apply', path.join(d, 'plan.yaml'), '--schema'],
      `--schema takes no plan (${path.join(d, 'plan.yaml')}); run onnx-attn apply --schema alone, or drop --schema to run the plan`,
    ],
    [['apply', '--schema', '--check'], '--schema takes no other option (--check); run onnx-attn apply --schema alone'],
  ];
  for (const [args, line] of cases) assertLine(await runMain(args), 2, line, args.join(' '));
  assert.deepEqual(listFiles(d), ['m.onnx', 'w.json']);
  // --schema alone still prints the schema.
  const s = await runMain(['apply', '--schema']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).title !== undefined || JSON.parse(s.stdout).$schema !== undefined, true);
});

test('the same checks through the real bin: one line, exit 2, nothing written', () => {
  const { dir: d, model } = workDir();
  const r = runBin(['insert', model, '--after', '23', '--module', 'NAM', '--module', 'SE'], { cwd: d });
  assertLine(r, 2, '--module given more than once (NAM, SE); give it once', 'bin');
  assertLine(runBin(['validate', model, '--iters', 'abc'], { cwd: d }), 2, "--iters 'abc': expected a whole number ≥ 1", 'bin');
  assert.deepEqual(listFiles(d), ['m.onnx']);
});
