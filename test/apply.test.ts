import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { convert } from 'xmlbuilder2';
import { parse as parseYaml } from 'yaml';
import { loadModelSync } from '../src/onnx/load.js';
import { MAX_RUNS } from '../src/runtime/limits.js';
import { assertRefused, fixture, listFiles, ROOT, runBin, runMain, tmpDir } from './helpers.js';

/**
 * apply: patch plans end to end on several families (several entries, several insertions per entry), every plan
 * error with its file:line and nothing written, byte-for-byte determinism, --check both ways, the reports'
 * contents, --dry-run, --schema, and the CI examples (action, workflows, and the plan they run).
 * Runs are kept short (iters 2, warmup 0): this file is about the plan machinery, not latency.
 */

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Writes a plan into `dir`; fixtures are named by paths relative to it, as a committed plan would. */
function writePlan(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}
const rel = (dir: string, f: string) => path.relative(dir, fixture(f));

const FAST = `defaults:
  validate: {iters: 2, warmup: 0}
  compare: {iters: 2, warmup: 0, tolerance: exact}`;

interface EntryJson {
  name: string;
  output: string;
  sha256: string;
  pass: boolean;
  upToDate: boolean;
  written: boolean;
  exitCode: number;
  insertions: { k: number; module: string; point: string; tensor: string; gate: string }[];
  validate: { pass: boolean; outputs: { finite: boolean }[] } | null;
  compare: { pass: boolean; outputs: { name: string; maxAbs: number; tolerance: { name: string } }[] } | null;
  problems: string[];
}

test('apply: several families and insertions per entry; gate-zero entries pass exact, a plain NAM fails it (exit 1); every report', async () => {
  const dir = tmpDir('onnx-attn-apply-');
  const plan = writePlan(
    dir,
    'plan.yaml',
    `version: 1
${FAST}
models:
  - name: v5-gate
    input: ${rel(dir, 'yolov5-op12.onnx')}
    output: out/yolov5-gate.onnx
    insert:
      - {after: "23", module: NAM, gate: zero}
      - {after: head, module: SE, opts: {reduction: 4}, gate: zero}
  - name: rtdetr-gate
    input: ${rel(dir, 'rtdetr-l-op16.onnx')}
    output: out/rtdetr-gate.onnx
    insert:
      - {after: head, module: CBAM, opts: {reduction: 4}, gate: zero}
      - {after: "head:0", module: ECA, gate: zero}
  - input: ${rel(dir, 'rtdetr-official-op17.onnx')}
    output: out/official-simam.onnx
    insert:
      - {after: /model/encoder/pan_blocks.1, module: SimAM}
      - {after: "head:0", module: CA}
    compare: false
  - name: v8-nam
    input: ${rel(dir, 'yolov8-op17.onnx')}
    output: out/yolov8-nam.onnx
    insert:
      - {after: 21, module: nam}
    validate: false
reports: [reports/apply.md, reports/apply.xml, reports/apply.html, reports/apply.json]
`,
  );
  const extra = path.join(dir, 'extra.json');
  const r = await runMain(['apply', plan, '--json', '--report', extra]);
  assert.equal(r.code, 1, r.stderr);
  const json = JSON.parse(r.stdout) as { schema: string; pass: boolean; exitCode: number; planSha256: string; entries: EntryJson[] };
  assert.equal(json.schema, 'onnx-attn/apply@1');
  assert.equal(json.pass, false);
  assert.equal(json.planSha256, sha256(fs.readFileSync(plan)));
  const byName = new Map(json.entries.map((e) => [e.name, e]));
  assert.deepEqual(
    json.entries.map((e) => [e.name, e.pass, e.exitCode, e.written, e.upToDate]),
    [
      ['v5-gate', true, 0, true, false],
      ['rtdetr-gate', true, 0, true, false],
      ['official-simam', true, 0, true, false], // the name defaults to the output's stem
      ['v8-nam', false, 1, true, false],
    ],
  );

  // Insertions apply in order on one load: the SE at head:2 stacks behind the NAM inserted after layer 23.
  const v5 = byName.get('v5-gate')!;
  assert.deepEqual(
    v5.insertions.map((i) => [i.k, i.module, i.point, i.gate]),
    [
      [0, 'NAM', 'model.23', 'zero'],
      [1, 'SE', 'head:0', 'zero'],
      [2, 'SE', 'head:1', 'zero'],
      [3, 'SE', 'head:2', 'zero'],
    ],
  );
  assert.match(v5.insertions[3]!.tensor, /^\/onnx_attn\/0_NAM\//);
  assert.deepEqual(
    v5.compare!.outputs.map((o) => [o.name, o.maxAbs, o.tolerance.name]),
    [['output0', 0, 'exact']],
  );
  assert.equal(v5.validate!.pass, true);
  assert.equal(byName.get('rtdetr-gate')!.insertions.length, 4);
  assert.ok(byName.get('rtdetr-gate')!.compare!.outputs.every((o) => o.maxAbs === 0));
  const official = byName.get('official-simam')!;
  assert.deepEqual(
    official.insertions.map((i) => i.module),
    ['SimAM', 'CA'],
  );
  assert.equal(official.compare, null);
  assert.ok(official.validate!.outputs.every((o) => o.finite));
  const nam = byName.get('v8-nam')!;
  assert.equal(nam.validate, null);
  assert.equal(nam.compare!.pass, false);
  assert.match(nam.problems.join('\n'), /compare: output '.+' outside exact tolerance \(max abs /);

  // One load and one save per entry: every output is a file with the reported hash and full provenance.
  for (const e of json.entries) {
    const bytes = fs.readFileSync(path.resolve(e.output));
    assert.equal(e.sha256, sha256(bytes), e.name);
    const props = loadModelSync(path.resolve(e.output)).proto.metadataProps;
    const prov = JSON.parse(props.find((p) => p.key === 'onnx_attn')!.value) as { k: number; plan: string; entry: string }[];
    assert.deepEqual(
      prov.map((p) => [p.k, p.plan, p.entry]),
      e.insertions.map((i) => [i.k, json.planSha256, e.name]),
    );
  }
  const v8Keys = loadModelSync(fixture('yolov8-op17.onnx')).proto.metadataProps.map((p) => p.key);
  assert.deepEqual(
    loadModelSync(path.join(dir, 'out/yolov8-nam.onnx')).proto.metadataProps.map((p) => p.key),
    [...v8Keys, 'onnx_attn'],
  );

  // Reports (the plan's, relative to it, in a folder apply made; and --report's).
  assert.deepEqual(listFiles(path.join(dir, 'reports')), ['apply.html', 'apply.json', 'apply.md', 'apply.xml']);
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'reports/apply.json'), 'utf8'));
  assert.equal(report.schema, 'onnx-attn/apply@1');
  assert.deepEqual(
    report.entries.map((e: EntryJson) => e.name),
    ['v5-gate', 'rtdetr-gate', 'official-simam', 'v8-nam'],
  );
  assert.equal(JSON.parse(fs.readFileSync(extra, 'utf8')).entries.length, 4);

  type Case = { '@name': string; '@classname': string; failure?: { '@message': string } };
  type Suite = { '@name': string; '@tests': string; '@failures': string; testcase: Case[] };
  const xml = convert(fs.readFileSync(path.join(dir, 'reports/apply.xml'), 'utf8'), { format: 'object' }) as {
    testsuites: { '@failures': string; testsuite: Suite[] };
  };
  const suites = xml.testsuites.testsuite;
  assert.deepEqual(
    suites.map((s) => s['@name']),
    ['v5-gate', 'rtdetr-gate', 'official-simam', 'v8-nam'],
  );
  assert.deepEqual(
    suites.map((s) => s['@failures']),
    ['0', '0', '0', '1'],
  );
  assert.equal(xml.testsuites['@failures'], '1');
  const v5Cases = suites[0]!.testcase.map((c) => c['@name']);
  assert.deepEqual(v5Cases.slice(0, 6), [
    'insertion 0: NAM after model.23 is built',
    'insertion 1: SE after head:0 is built',
    'insertion 2: SE after head:1 is built',
    'insertion 3: SE after head:2 is built',
    'patched model structure is valid',
    'patched model runs like the original (CPU)',
  ]);
  assert.ok(v5Cases.includes('validate: output output0 is finite'));
  assert.ok(v5Cases.includes('compare: output output0 within exact'));
  const failed = suites[3]!.testcase.filter((c) => c.failure);
  assert.equal(failed.length, 1);
  assert.match(failed[0]!['@name'], /^compare: output .+ within exact$/);
  assert.match(failed[0]!.failure!['@message'], /^max abs [\d.e+-]+, rel L2 [\d.e+-]+, cosine [\d.]+, [\d.]+% within atol 0 rtol 0$/);

  const md = fs.readFileSync(path.join(dir, 'reports/apply.md'), 'utf8');
  assert.match(md, /^## onnx-attn apply: ❌ \*\*fail\*\*$/m);
  assert.match(md, /^\| entry \| output \| insertions \| params \| validate \| compare \| result \|$/m);
  assert.match(
    md,
    /^\| v5-gate \| `.*yolov5-gate\.onnx` \(written\) \| NAM after model\.23, SE after head:0, SE after head:1, SE after head:2 \| \d+ \| ✅ cpu, p50 .+ \| ✅ exact, max abs 0 \| ✅ \|$/m,
  );
  assert.match(md, /^\| official-simam \| .+ \| ➖ skipped \| ✅ \|$/m);
  assert.match(md, /^\| v8-nam \| .+ \| ➖ skipped \| ❌ exact, max abs .+ \| ❌ \|$/m);
  assert.deepEqual(md.match(/^### .+$/gm), ['### ✅ v5-gate', '### ✅ rtdetr-gate', '### ✅ official-simam', '### ❌ v8-nam']);
  assert.equal(md.match(/^#### onnx-attn compare: /gm)?.length, 3);
  assert.equal(md.match(/^#### onnx-attn validate: /gm)?.length, 3);
  assert.doesNotMatch(md, /^##? onnx-attn (compare|validate)/m, 'nested pages sit below the entry headings');

  const html = fs.readFileSync(path.join(dir, 'reports/apply.html'), 'utf8');
  assert.deepEqual(
    [...html.matchAll(/<section class="entry" id="[^"]+" data-entry="([^"]+)" data-verdict="(\w+)">/g)].map((m) => [m[1], m[2]]),
    [
      ['v5-gate', 'pass'],
      ['rtdetr-gate', 'pass'],
      ['official-simam', 'pass'],
      ['v8-nam', 'fail'],
    ],
  );
  assert.match(html, /<h1>onnx-attn apply <span class="verdict fail" data-verdict="fail">FAIL<\/span><\/h1>/);
  assert.equal(html.match(/data-chart="error"/g)?.length, 3);
  assert.doesNotMatch(html, /<script|<link|src="http/, 'self-contained');
});

test("the exit status is the worst entry's: execution provider unavailable (3), placement (5); the other entries still run", async () => {
  const dir = tmpDir('onnx-attn-apply-exit-');
  const plan = writePlan(
    dir,
    'plan.yaml',
    `version: 1
${FAST}
models:
  - name: on-cuda
    input: ${rel(dir, 'yolov5-op12.onnx')}
    output: out/a.onnx
    insert: [{after: "23", module: SimAM, gate: zero}]
    validate: {ep: [cuda], iters: 2, warmup: 0}
  - name: placed
    input: ${rel(dir, 'yolov5-op12.onnx')}
    output: out/b.onnx
    insert: [{after: "23", module: NAM}]
    validate: {ep: [cuda], fallback: cpu, require-ep: cuda, iters: 2, warmup: 0}
    compare: false
reports: [r.xml]
`,
  );
  const r = await runMain(['apply', plan, '--json']);
  assert.equal(r.code, 5, r.stderr);
  const json = JSON.parse(r.stdout) as { entries: EntryJson[] };
  assert.deepEqual(
    json.entries.map((e) => [e.name, e.exitCode, e.pass]),
    [
      ['on-cuda', 3, false],
      ['placed', 5, false],
    ],
  );
  assert.match(json.entries[0]!.problems[0]!, /^validate: execution provider 'cuda' is unavailable/);
  assert.equal(json.entries[0]!.compare!.pass, true, 'compare still ran (on the CPU, as asked)');
  const xml = fs.readFileSync(path.join(dir, 'r.xml'), 'utf8');
  assert.match(
    xml,
    /<testcase name="validate" classname="onnx-attn\.apply\.on-cuda\.validate" time="0\.000">\s*<failure message="validate: execution provider 'cuda' is unavailable/,
  );
  assert.match(xml, /<testcase name="validate: inserted nodes run on cuda" [^>]*>\s*<failure message="\d+ node\(s\) ran elsewhere: \/onnx_attn\/0_NAM\//);
  const only = await runMain(['apply', plan, '--only', 'on-cuda', '--quiet']);
  assert.equal(only.code, 3);
  assert.match(only.stdout, /^FAIL {2}on-cuda .*validate not run {2}compare pass$/m);
});

test('plan errors: exit 2, one line naming file:line and the key path, and nothing written', async () => {
  const dir = tmpDir('onnx-attn-apply-errors-');
  const v5 = rel(dir, 'yolov5-op12.onnx');
  fs.copyFileSync(fixture('yolov5-op12.onnx'), path.join(dir, 'model.onnx'));
  fs.writeFileSync(path.join(dir, 'w.json'), '{}');
  const entry = (out: string, insert: string, more = '') => `  - input: ${v5}\n    output: ${out}\n    insert:\n${insert}${more}`;
  const ok = entry('out/a.onnx', '      - {after: "23", module: NAM}\n');
  const cases: [string, string, RegExp][] = [
    [
      'unknown top-level key',
      `version: 1\nmodels:\n${ok}extra: 1\n`,
      /^plan\.yaml:7: extra: unknown key 'extra'; expected one of version, defaults, models, reports$/,
    ],
    [
      'unknown insert key',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - after: "23"\n        modul: NAM\n')}`,
      /^plan\.yaml:7: models\[0\]\.insert\[0\]\.modul: unknown key 'modul' \(did you mean 'module'\?\); expected one of after, module, opts, init, seed, weights, weights-prefix, bn-eps, gate, consumers, external-data$/,
    ],
    [
      'wrong type',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate:\n      iters: "2"\n')}`,
      /^plan\.yaml:8: models\[0\]\.validate\.iters: expected a whole number ≥ 1, got the string '2'$/,
    ],
    // Numbers as the CLI checks them (`--iters '0': expected a whole number ≥ 1`), in the plan's words.
    [
      'iters over 100000',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate: {iters: 100001}\n')}`,
      /^plan\.yaml:7: models\[0\]\.validate\.iters: expected a whole number ≤ 100000, got the number 100001$/,
    ],
    [
      'iters 0',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    compare: {iters: 0}\n')}`,
      /^plan\.yaml:7: models\[0\]\.compare\.iters: expected a whole number ≥ 1, got the number 0$/,
    ],
    [
      'iters 2.5',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    compare: {iters: 2.5}\n')}`,
      /^plan\.yaml:7: models\[0\]\.compare\.iters: expected a whole number ≥ 1, got the number 2\.5$/,
    ],
    [
      'warmup over 100000 in defaults',
      `version: 1\ndefaults:\n  compare: {warmup: 1000000}\nmodels:\n${ok}`,
      /^plan\.yaml:3: defaults\.compare\.warmup: expected a whole number ≤ 100000, got the number 1000000$/,
    ],
    [
      'warmup -1',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate: {warmup: -1}\n')}`,
      /^plan\.yaml:7: models\[0\]\.validate\.warmup: expected a whole number ≥ 0, got the number -1$/,
    ],
    [
      'threads 0',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate: {threads: 0}\n')}`,
      /^plan\.yaml:7: models\[0\]\.validate\.threads: expected a whole number ≥ 1, got the number 0$/,
    ],
    [
      'device-id -1',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    compare: {device-id: -1}\n')}`,
      /^plan\.yaml:7: models\[0\]\.compare\.device-id: expected a whole number ≥ 0, got the number -1$/,
    ],
    [
      'device-id 0.5',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    compare: {device-id: 0.5}\n')}`,
      /^plan\.yaml:7: models\[0\]\.compare\.device-id: expected a whole number ≥ 0, got the number 0\.5$/,
    ],
    [
      'conf over 1 (validate)',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate: {conf: 1.5}\n')}`,
      /^plan\.yaml:7: models\[0\]\.validate\.conf: expected a number ≤ 1, got the number 1\.5$/,
    ],
    [
      'iou under 0 (compare)',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    compare: {iou: -0.1}\n')}`,
      /^plan\.yaml:7: models\[0\]\.compare\.iou: expected a number ≥ 0, got the number -0\.1$/,
    ],
    [
      'detections neither auto nor off (validate)',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate: {detections: on}\n')}`,
      /^plan\.yaml:7: models\[0\]\.validate\.detections: expected one of auto, off; got the string 'on'$/,
    ],
    [
      'tolerance under validate',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate:\n      iters: 2\n      tolerance: exact\n')}`,
      /^plan\.yaml:9: models\[0\]\.validate\.tolerance: tolerance applies to compare \(validate runs one model\); move it under compare:$/,
    ],
    [
      'tolerance under defaults.validate',
      `version: 1\ndefaults:\n  validate: {tolerance: fp16}\nmodels:\n${ok}`,
      /^plan\.yaml:3: defaults\.validate\.tolerance: tolerance applies to compare \(validate runs one model\); move it under compare:$/,
    ],
    // Sizes as --shape checks them: every one a whole number ≥ 1, each input once.
    [
      'shape size 0 (map)',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    shape: {images: 1x3x0x64}\n')}`,
      /^plan\.yaml:7: models\[0\]\.shape\.images: dim 2 of '1x3x0x64' is 0; every size must be a whole number ≥ 1$/,
    ],
    [
      'shape size 0 (list)',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate:\n      shape: [images=1x3x64x64, other=0x3]\n')}`,
      /^plan\.yaml:8: models\[0\]\.validate\.shape\[1\]: dim 0 of 'other=0x3' is 0; every size must be a whole number ≥ 1$/,
    ],
    [
      'shape size 0 (numbers)',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    compare:\n      shape: {images: [1, 3, 64, 0]}\n')}`,
      /^plan\.yaml:8: models\[0\]\.compare\.shape\.images\[3\]: expected a whole number ≥ 1, got the number 0$/,
    ],
    [
      'shape size past 2^53',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    shape: {images: 1x99999999999999999999}\n')}`,
      /^plan\.yaml:7: models\[0\]\.shape\.images: dim 1 of '1x99999999999999999999' is 99999999999999999999; every size must be a whole number ≥ 1$/,
    ],
    [
      'shape naming an input twice',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    shape:\n      - images=1x3x64x64\n      - images=1x3x32x32\n')}`,
      /^plan\.yaml:9: models\[0\]\.shape\[1\]: names input 'images' twice \(images=1x3x64x64, images=1x3x32x32\); give it once$/,
    ],
    // As insert refuses --weights with --init or --seed: they would be silently ignored.
    [
      'weights with seed',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - after: "23"\n        module: NAM\n        weights: w.json\n        seed: 3\n')}`,
      /^plan\.yaml:9: models\[0\]\.insert\[0\]\.seed: weights and seed 3 contradict each other \(seed is for weights made without a file\); keep one$/,
    ],
    [
      'weights with init',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM, init: random, weights: [w.json]}\n')}`,
      /^plan\.yaml:6: models\[0\]\.insert\[0\]\.init: weights and init random contradict each other \(init is for weights made without a file\); keep one$/,
    ],
    [
      'validate: true',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n', '    validate: true\n')}`,
      /^plan\.yaml:7: models\[0\]\.validate: expected an object of runtime options, or false to skip, got true$/,
    ],
    [
      'unknown module',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n      - {after: head, module: Swin}\n')}`,
      /^plan\.yaml:7: models\[0\]\.insert\[1\]\.module: unknown module 'Swin'; expected one of NAM, GAM, SimAM, SE, CBAM, ECA, CA$/,
    ],
    [
      'unknown option',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - after: head\n        module: SE\n        opts:\n          ratio: 4\n')}`,
      /^plan\.yaml:9: models\[0\]\.insert\[0\]\.opts\.ratio: SE has no option 'ratio'; expected one of reduction$/,
    ],
    [
      'bad option value',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: GAM, opts: {variant: fancy}}\n')}`,
      /^plan\.yaml:6: models\[0\]\.insert\[0\]\.opts\.variant: GAM option variant=fancy: expected one of paper, plain, grouped$/,
    ],
    [
      'SPEC that does not resolve (second entry; the first is fine)',
      `version: 1\nmodels:\n${ok}${entry('out/b.onnx', '      - {after: "99", module: NAM}\n')}`,
      /^plan\.yaml:10: models\[1\]\.insert\[0\]\.after: layer 99 not found/,
    ],
    [
      'module that cannot be built here',
      `version: 1\nmodels:\n${ok}${entry('out/b.onnx', '      - {after: "23", module: NAM}\n      - {after: "17", module: GAM, opts: {variant: grouped}}\n')}`,
      /^plan\.yaml:11: models\[1\]\.insert\[1\]: model\.17 .*C=8\): GAM variant=grouped needs C divisible by r² = 16/,
    ],
    [
      'consumer that does not read the point',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM, consumers: [/model.9/cv1/conv/Conv]}\n')}`,
      /^plan\.yaml:6: models\[0\]\.insert\[0\]\.consumers: node '\/model\.9\/cv1\/conv\/Conv' does not read /,
    ],
    [
      'missing input',
      `version: 1\nmodels:\n  - input: models/none.onnx\n    output: out/a.onnx\n    insert: [{after: "23", module: NAM}]\n`,
      /^plan\.yaml:3: models\[0\]\.input: no such file 'models\/none\.onnx' \(.+models\/none\.onnx\); paths are relative to the plan file$/,
    ],
    [
      'missing weights',
      `version: 1\nmodels:\n${entry('out/a.onnx', '      - {after: "23", module: NAM}\n      - {after: "20", module: NAM, weights: w/nam20.safetensors}\n')}`,
      /^plan\.yaml:7: models\[0\]\.insert\[1\]\.weights: no such file 'w\/nam20\.safetensors'/,
    ],
    [
      'two entries with one output',
      `version: 1\nmodels:\n${ok}${entry('out/a.onnx', '      - {after: "20", module: SimAM}\n')}`,
      /^plan\.yaml:8: models\[1\]\.output: models\[0\] writes .*out\/a\.onnx.* too; each output belongs to one entry/,
    ],
    [
      'output equal to the input',
      `version: 1\nmodels:\n  - input: model.onnx\n    output: ./model.onnx\n    insert: [{after: "23", module: NAM}]\n`,
      /^plan\.yaml:4: models\[0\]\.output: the output is the input; choose another output path/,
    ],
    [
      'duplicate names',
      `version: 1\nmodels:\n  - name: v5\n    input: ${v5}\n    output: out/a.onnx\n    insert: [{after: "23", module: NAM}]\n  - name: v5\n    input: ${v5}\n    output: out/b.onnx\n    insert: [{after: "20", module: SimAM}]\n`,
      /^plan\.yaml:7: models\[1\]\.name: the name 'v5' is already models\[0\]'s; entry names must be unique$/,
    ],
    [
      'bad tolerance',
      `version: 1\ndefaults:\n  compare: {tolerance: loose}\nmodels:\n${ok}`,
      /^plan\.yaml:3: defaults\.compare\.tolerance: bad tolerance 'loose'/,
    ],
    ['YAML syntax error', `version: 1\nmodels:\n  - input: ${v5}\n    output: [out/a.onnx\n`, /^plan\.yaml:\d+: not valid YAML: /],
    ['empty plan', '', /^plan\.yaml:1: the plan is empty; expected version: 1 and a list of models/],
  ];
  const before = listFiles(dir);
  for (const [what, text, re] of cases) {
    writePlan(dir, 'plan.yaml', text);
    const r = await runMain(['apply', path.join(dir, 'plan.yaml')]);
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assertRefused(r, dir, before, re, what, ['plan.yaml']);
    assert.equal(r.stdout, '', what);
  }

  // JSON plans: the same checks, with lines from the same parser.
  const jsonPlan = writePlan(
    dir,
    'plan.json',
    JSON.stringify(
      {
        version: 1,
        models: [
          {
            input: v5,
            output: 'out/a.onnx',
            insert: [
              { after: '23', module: 'NAM' },
              { after: 'head', module: 'SE', opts: { reduction: 0 } },
            ],
          },
        ],
      },
      null,
      2,
    ),
  );
  const j = await runMain(['apply', jsonPlan]);
  assert.equal(j.code, 2);
  assert.match(j.stderr, /^onnx-attn: .*plan\.json:16: models\[0\]\.insert\[1\]\.opts\.reduction: SE option reduction=0: expected a positive integer\n$/);
  // A JSON syntax error is told in JSON's terms, at its line, on one line: whether or not Node's message gives a
  // position (`Unexpected token '}', "...source..." is not valid JSON` gives none, and quotes the source).
  const broken = path.join(dir, 'broken.json');
  const syntax: [string, string][] = [
    ['{\n  "version": 1,\n  "models": [\n    {"input": "a.onnx",\n    }\n  ]\n}\n', '5: not valid JSON: Expected double-quoted property name'],
    ['{"version": 1,\n "models": [}', "2: not valid JSON: Unexpected token '}'"],
    ['{\n  "version": 1,\n  "models": [\n    {"input": "a.onnx"},\n    {"input": "b.onnx", "gate": tru}\n  ]\n}\n', "5: not valid JSON: Unexpected token '}'"],
    ['{\n  "version": 1,\n  "models": [\n    {"input": "a.onnx"}\n  ]\n}\n\n}\n', '8: not valid JSON: Unexpected non-whitespace character after JSON'],
    ['{\n  "version": 1,\n  "models":\n\n', '3: not valid JSON: Unexpected end of JSON input'],
    ['{\n  "version": 1,\n  "models": [\n    {"input": "a.onnx"\n\n', "4: not valid JSON: Expected ',' or '}' after property value"],
    ['\n\n[1, 2,]', "3: not valid JSON: Unexpected token ']'"],
  ];
  for (const [text, expected] of syntax) {
    fs.writeFileSync(broken, text);
    const b = await runMain(['apply', broken]);
    assert.equal(b.code, 2, text);
    assert.equal(b.stderr, `onnx-attn: ${broken}:${expected}\n`, text);
  }
  fs.rmSync(broken);

  writePlan(dir, 'plan.yaml', `version: 1\nmodels:\n${ok}`);
  const only = await runMain(['apply', path.join(dir, 'plan.yaml'), '--only', 'nope']);
  assert.equal(only.code, 2);
  assert.match(only.stderr, /--only nope: .*plan\.yaml has no entry of that name; its entries are a$/m);
  const none = await runMain(['apply']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /apply needs a plan file/);
  assert.deepEqual(listFiles(dir), [...before, 'plan.json', 'plan.yaml'].sort());
});

test('reports that would replace the plan, a weights or inputs file are refused before anything runs (exit 2, nothing written)', async () => {
  const dir = tmpDir('onnx-attn-apply-reports-');
  fs.copyFileSync(fixture('yolov5-op12.onnx'), path.join(dir, 'm.onnx'));
  // Weights and inputs that work: without the check, apply would run and write its reports over them.
  const c = 32; // channels at model.23 of the v5 fixture
  const bn = { weight: Array(c).fill(1), bias: Array(c).fill(0), running_mean: Array(c).fill(0), running_var: Array(c).fill(1) };
  fs.writeFileSync(path.join(dir, 'w.json'), JSON.stringify(Object.fromEntries(Object.entries(bn).map(([k, v]) => [`Channel_Att.bn2.${k}`, v]))));
  fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify({ images: { shape: [1, 3, 128, 128], data: Array(3 * 128 * 128).fill(0.5) } }));
  const plan = path.join(dir, 'plan.json');
  const text = (reports: string[]) =>
    JSON.stringify(
      {
        version: 1,
        models: [
          {
            input: 'm.onnx',
            output: 'out/p.onnx',
            insert: [{ after: '23', module: 'NAM', weights: 'w.json' }],
            validate: { inputs: 'in.json', iters: 1, warmup: 0 },
            compare: false,
          },
        ],
        reports,
      },
      null,
      2,
    );
  const refused = 'which this command reads; a report there would replace it; choose another report path';
  const cases: [string[], string[], string][] = [
    [[], ['--report', plan], `--report ${plan}: that is the plan (${plan}), ${refused}`],
    [
      [],
      ['--report', path.join(dir, 'w.json')],
      `--report ${path.join(dir, 'w.json')}: that is a weights file of models[0].insert[0] (${path.join(dir, 'w.json')}), ${refused}`,
    ],
    [
      [],
      ['--report', path.join(dir, 'in.json')],
      `--report ${path.join(dir, 'in.json')}: that is the inputs file of models[0].validate (${path.join(dir, 'in.json')}), ${refused}`,
    ],
    [['plan.json'], [], `${plan}: reports[0] ${path.relative(process.cwd(), plan)}: that is the plan (${plan}), ${refused}`],
    [
      ['w.json'],
      [],
      `${plan}: reports[0] ${path.relative(process.cwd(), path.join(dir, 'w.json'))}: that is a weights file of models[0].insert[0] (${path.join(dir, 'w.json')}), ${refused}`,
    ],
    [
      ['in.json'],
      ['--dry-run'],
      `${plan}: reports[0] ${path.relative(process.cwd(), path.join(dir, 'in.json'))}: that is the inputs file of models[0].validate (${path.join(dir, 'in.json')}), ${refused}`,
    ],
  ];
  for (const [reports, args, message] of cases) {
    fs.writeFileSync(plan, text(reports));
    const before = new Map(listFiles(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
    const r = await runMain(['apply', plan, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')} ${reports}: ${r.stderr}`);
    assert.equal(r.stderr, `onnx-attn: ${message}\n`);
    assert.equal(r.stdout, '');
    assert.deepEqual(listFiles(dir), [...before.keys()], 'nothing written');
    for (const [f, bytes] of before) assert.ok(fs.readFileSync(path.join(dir, f)).equals(bytes), `${f} unchanged`);
  }
  // Other report paths are fine: the same plan runs and writes them.
  fs.writeFileSync(plan, text(['r.md']));
  const ok = await runMain(['apply', plan, '--quiet', '--report', path.join(dir, 'r.json')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(listFiles(dir), ['in.json', 'm.onnx', 'out', 'out/p.onnx', 'plan.json', 'r.json', 'r.md', 'w.json']);
});

test('validate blocks take detections, conf and iou, and pass them to validate', async () => {
  const dir = tmpDir('onnx-attn-apply-detections-');
  const entry = (name: string, validate: string) =>
    `  - name: ${name}\n    input: ${rel(dir, 'yolov5-op12.onnx')}\n    output: out/${name}.onnx\n    insert: [{after: "23", module: SimAM, gate: zero}]\n    validate: ${validate}\n`;
  const plan = writePlan(
    dir,
    'plan.yaml',
    `version: 1\ndefaults:\n  validate: {iters: 1, warmup: 0, inputs: zeros}\n  compare: false\nmodels:\n${entry('plain', '{}')}${entry('off', '{detections: off}')}${entry('strict', '{detections: auto, conf: 0.9, iou: 0.3}')}${entry('loose', '{conf: 0, iou: 1}')}`,
  );
  const r = await runMain(['apply', plan, '--json']);
  assert.equal(r.code, 0, r.stderr);
  type Counts = { conf: number; iou: number; perInput: number[] } | null;
  const entries = JSON.parse(r.stdout).entries as { name: string; validate: { detections: Counts } }[];
  assert.deepEqual(
    entries.map((e) => [e.name, e.validate.detections && [e.validate.detections.conf, e.validate.detections.iou]]),
    [
      ['plain', [0.25, 0.45]],
      ['off', null],
      ['strict', [0.9, 0.3]],
      ['loose', [0, 1]],
    ],
  );
  const boxes = (name: string) => entries.find((e) => e.name === name)!.validate.detections!.perInput[0]!;
  assert.ok(boxes('loose') > boxes('strict'), `a lower threshold keeps more boxes (${boxes('loose')} vs ${boxes('strict')})`);
});

test('determinism and --check: same plan and inputs give the same bytes; tampered outputs and changed plans are stale', async () => {
  const dir = tmpDir('onnx-attn-apply-check-');
  const text = `version: 1
defaults: {validate: false, compare: false}
models:
  - name: gate
    input: ${rel(dir, 'yolov5-op12.onnx')}
    output: out/gate.onnx
    insert:
      - {after: head, module: SimAM, gate: zero}
      - {after: "20", module: CBAM, opts: {reduction: 4}, seed: 3, gate: zero}
  - name: ext
    input: ${rel(dir, 'yolov5-op12.onnx')}
    output: out/ext.onnx
    insert:
      - {after: "23", module: GAM, opts: {rate: 4}, external-data: always}
`;
  const plan = writePlan(dir, 'plan.yaml', text);
  const outputs = ['out/ext.onnx', 'out/ext.onnx.data', 'out/gate.onnx'];
  const read = () => outputs.map((f) => fs.readFileSync(path.join(dir, f)));

  const first = await runMain(['apply', plan, '--json']);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(listFiles(path.join(dir, 'out')), ['ext.onnx', 'ext.onnx.data', 'gate.onnx']);
  const bytes = read();
  fs.rmSync(path.join(dir, 'out'), { recursive: true });
  assert.equal((await runMain(['apply', plan, '--quiet'])).code, 0);
  read().forEach((b, i) => assert.ok(b.equals(bytes[i]!), `${outputs[i]} is byte-identical on a second run`));
  const mtimes = outputs.map((f) => fs.statSync(path.join(dir, f)).mtimeMs);
  const third = JSON.parse((await runMain(['apply', plan, '--json'])).stdout) as { entries: EntryJson[] };
  assert.deepEqual(
    third.entries.map((e) => [e.name, e.upToDate, e.written]),
    [
      ['gate', true, false],
      ['ext', true, false],
    ],
  );
  assert.deepEqual(
    outputs.map((f) => fs.statSync(path.join(dir, f)).mtimeMs),
    mtimes,
    'up-to-date outputs are not rewritten',
  );

  const check = async (...args: string[]) => runMain(['apply', plan, '--check', ...args]);
  const clean = await check();
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /^up to date {2}gate {2}/m);
  assert.match(clean.stdout, /all 2 output\(s\) up to date/);
  assert.equal(clean.stderr, '');

  // Tamper with the external data of one output: that entry, and only it, is stale; --check writes nothing.
  const data = path.join(dir, 'out/ext.onnx.data');
  const tampered = Buffer.from(bytes[1]!);
  tampered[tampered.length - 1]! ^= 1;
  fs.writeFileSync(data, tampered);
  const listing = listFiles(dir);
  const stale = await check('--json');
  assert.equal(stale.code, 1);
  const staleJson = JSON.parse(stale.stdout) as { stale: string[]; entries: EntryJson[] };
  assert.deepEqual(staleJson.stale, ['ext']);
  assert.match(staleJson.entries[1]!.problems[0]!, /external data .*ext\.onnx\.data differs/);
  assert.match(stale.stderr, /^onnx-attn: 1 stale output\(s\): ext; run onnx-attn apply .*plan\.yaml to update them\n$/);
  assert.ok(fs.readFileSync(data).equals(tampered), '--check leaves the stale file as it is');
  assert.deepEqual(listFiles(dir), listing);
  // The model file itself, and a missing output.
  fs.writeFileSync(data, bytes[1]!);
  fs.appendFileSync(path.join(dir, 'out/gate.onnx'), 'x');
  const t2 = await check();
  assert.equal(t2.code, 1);
  assert.match(t2.stdout, /^STALE {7}gate {2}.*gate\.onnx differs from what apply would write now$/m);
  assert.match(t2.stdout, /^up to date {2}ext /m);
  assert.equal((await check('--only', 'ext')).code, 0, '--only checks the named entries only');
  fs.rmSync(path.join(dir, 'out/gate.onnx'));
  assert.match((await check()).stdout, /^STALE {7}gate {2}.*gate\.onnx does not exist$/m);
  assert.equal((await runMain(['apply', plan, '--quiet'])).code, 0);
  read().forEach((b, i) => assert.ok(b.equals(bytes[i]!), `${outputs[i]} restored`));
  assert.equal((await check()).code, 0);

  // A changed plan (its sha256 is in every output's provenance): everything is stale until applied again.
  writePlan(dir, 'plan.yaml', text.replace('seed: 3', 'seed: 4'));
  const changed = await check('--json');
  assert.equal(changed.code, 1);
  assert.deepEqual(JSON.parse(changed.stdout).stale, ['gate', 'ext']);
  writePlan(dir, 'plan.yaml', `# reviewed\n${text}`);
  assert.equal((await check()).code, 1, 'even a comment changes the plan hash');
  assert.equal((await runMain(['apply', plan, '--quiet'])).code, 0);
  assert.equal((await check()).code, 0);
});

test('--dry-run prints points, tensors and parameters and writes nothing; --schema prints the JSON Schema', async () => {
  const dir = tmpDir('onnx-attn-apply-dry-');
  const plan = writePlan(
    dir,
    'plan.yaml',
    `version: 1\n${FAST}\nmodels:\n  - name: v5\n    input: ${rel(dir, 'yolov5-op12.onnx')}\n    output: out/v5.onnx\n    insert:\n      - {after: "17,20", module: GAM, opts: {variant: plain, rate: 2}}\n      - {after: "23", module: ECA}\nreports: [r.md]\n`,
  );
  const r = await runMain(['apply', plan, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^v5: .*yolov5-op12\.onnx -> .*out\/v5\.onnx \(would write; 3 insertion\(s\), [\d.k]+ parameters\)$/m);
  assert.match(r.stdout, /^ {2}0\s+model\.17\s+\/model\.17\/cv3\/act\/Mul_output_0\s+\[1,8,16,16\]\s+GAM\(plain\)\s+\d+/m);
  assert.match(r.stdout, /^ {2}2\s+model\.23\s+\/model\.23\/cv3\/act\/Mul_output_0\s+\[1,32,4,4\]\s+ECA\(k3-adaptive\)\s+3\s/m);
  assert.match(r.stdout, /then: validate, compare \(exact\)/);
  assert.match(r.stdout, /dry run: nothing written/);
  assert.deepEqual(listFiles(dir), ['plan.yaml']);

  const s = runBin(['apply', '--schema']);
  assert.equal(s.code, 0, s.stderr);
  const schema = JSON.parse(s.stdout) as Record<string, unknown>;
  assert.deepEqual(schema, JSON.parse(fs.readFileSync(path.join(ROOT, 'schema/plan.schema.json'), 'utf8')), 'the published file');
  assert.equal(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
  assert.deepEqual(schema['required'], ['version', 'models']);
  // A valid JSON Schema that a standard validator compiles (annotations allowed), and that accepts the examples.
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  const example = parseYaml(fs.readFileSync(path.join(ROOT, 'examples/ci/onnx-attn.plan.yaml'), 'utf8'));
  assert.ok(validate(example), JSON.stringify(validate.errors));
  assert.ok(!validate({ version: 1, models: [{ input: 'a', output: 'b', insert: [{ after: 1, module: 'NAM', gate: 'one' }] }] }));
  // What the loader accepts, the schema says: the CLI's limits on numbers and sizes, validate's own keys.
  const defs = schema['definitions'] as Record<string, { properties: Record<string, { maximum?: number }> }>;
  for (const block of ['validateOrFalse', 'compareOrFalse'])
    for (const key of ['iters', 'warmup']) assert.equal(defs[block]!.properties[key]!.maximum, MAX_RUNS, `${block}.${key}`);
  const withEntry = (more: Record<string, unknown>, item: Record<string, unknown> = {}) =>
    validate({ version: 1, models: [{ input: 'a', output: 'b', insert: [{ after: 1, module: 'NAM', ...item }], ...more }] });
  assert.ok(
    withEntry({
      validate: { iters: 100000, warmup: 100000, detections: 'off', conf: 0.5, iou: 0.5, shape: ['images=1x3x64x64'] },
      shape: { images: '01x3x64x64' },
    }),
    JSON.stringify(validate.errors),
  );
  for (const bad of [
    { validate: { iters: 100001 } },
    { compare: { warmup: 100001 } },
    { validate: { threads: 0 } },
    { validate: { conf: 2 } },
    { compare: { iou: -1 } },
    { validate: { 'device-id': 0.5 } },
    { validate: { tolerance: 'exact' } },
    { shape: { images: '1x0x64x64' } },
    { shape: { images: [1, 0] } },
    { compare: { shape: ['images=0x3'] } },
  ]) {
    assert.ok(!withEntry(bad), JSON.stringify(bad));
  }
  assert.ok(withEntry({}, { weights: 'w.safetensors' }) && withEntry({}, { init: 'random', seed: 2 }));
  assert.ok(!withEntry({}, { weights: 'w.safetensors', seed: 2 }) && !withEntry({}, { weights: ['w.npz'], init: 'torch' }), 'weights with init or seed');
});

test('CI examples: the action, the GitHub workflow, the GitLab job, and the plan they run', async () => {
  interface Step {
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, string>;
    env?: Record<string, string>;
  }
  const yaml = (f: string): unknown => parseYaml(fs.readFileSync(path.join(ROOT, f), 'utf8'));

  const action = yaml('action.yml') as { inputs: Record<string, { required?: boolean }>; runs: { using: string; steps: Step[] } };
  assert.equal(action.runs.using, 'composite');
  assert.deepEqual(Object.keys(action.inputs), ['plan', 'args', 'node-version', 'use-installed']);
  assert.equal(action.inputs['plan']!.required, true);
  const steps = action.runs.steps;
  const setup = steps.find((st) => st.uses?.startsWith('actions/setup-node@'))!;
  assert.equal(setup.with!['node-version'], '${{ inputs.node-version }}');
  const run = steps.find((st) => st.id === 'apply')!;
  // The onnx-attn at the Action's ref (or the workspace's, when asked), never npx: test/action.test.ts runs it.
  assert.match(run.run!, /"\$\{onnx_attn\[@\]\}" apply "\$PLAN" .*--report onnx-attn-report\.md/s);
  assert.match(run.run!, /--report onnx-attn-report\.xml/);
  assert.match(run.run!, /exit "\$code"/, 'the exit status propagates');
  assert.equal(run.env!['PLAN'], '${{ inputs.plan }}');
  assert.equal(run.env!['ARGS'], '${{ inputs.args }}');
  const summary = steps.find((st) => st.run?.includes('GITHUB_STEP_SUMMARY'))!;
  assert.equal(summary.if, 'always()');
  assert.match(summary.run!, /cat onnx-attn-report\.md >> "\$GITHUB_STEP_SUMMARY"/);
  assert.ok(steps.indexOf(summary) > steps.indexOf(run));

  const gh = yaml('examples/ci/github-workflow.yml') as { on: Record<string, unknown>; jobs: Record<string, { steps: Step[] }> };
  assert.ok('push' in gh.on && 'pull_request' in gh.on);
  const ghSteps = Object.values(gh.jobs)[0]!.steps;
  const uses = ghSteps.find((st) => st.uses === './')!;
  assert.equal(uses.with!['plan'], 'examples/ci/onnx-attn.plan.yaml');
  const upload = ghSteps.find((st) => st.uses?.startsWith('actions/upload-artifact@'))!;
  assert.equal(upload.if, 'always()');
  assert.match(upload.with!['path']!, /onnx-attn-report\.\*/);
  assert.match(upload.with!['path']!, /examples\/ci\/build\//, 'the plan writes beside itself');

  const gl = yaml('examples/ci/gitlab-ci.yml') as Record<string, { script: string[]; artifacts: { when: string; reports: { junit: string } } }>;
  const job = gl['onnx-attn']!;
  assert.ok(job.script.some((l) => /onnx-attn apply examples\/ci\/onnx-attn\.plan\.yaml .*--report onnx-attn-report\.xml/.test(l)));
  assert.equal(job.artifacts.reports.junit, 'onnx-attn-report.xml');
  assert.equal(job.artifacts.when, 'always');

  // The plan as committed: its paths resolve from its own folder (a dry run writes nothing)...
  const committed = path.join(ROOT, 'examples/ci/onnx-attn.plan.yaml');
  const dry = await runMain(['apply', committed, '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(
    JSON.parse(dry.stdout).entries.map((e: { name: string; input: string }) => [e.name, path.basename(e.input)]),
    [
      ['yolov5-gate0', 'yolov5-op12.onnx'],
      ['rtdetr-nam', 'rtdetr-l-op16.onnx'],
    ],
  );
  // ...and a test-only copy (fixtures by absolute path, outputs in a tmp folder, short runs) passes as CI runs it.
  const dir = tmpDir('onnx-attn-apply-ci-');
  const plan = parseYaml(fs.readFileSync(committed, 'utf8')) as {
    defaults: Record<string, Record<string, number>>;
    models: { input: string; output: string; compare?: unknown }[];
  };
  for (const m of plan.models) {
    m.input = path.resolve(path.dirname(committed), m.input);
    m.output = path.join('out', path.basename(m.output));
  }
  for (const k of ['validate', 'compare']) Object.assign(plan.defaults[k]!, { warmup: 0, iters: 2 });
  const copy = writePlan(dir, 'ci.plan.json', JSON.stringify(plan, null, 2));
  const reports = ['md', 'xml', 'html', 'json'].map((ext) => path.join(dir, `onnx-attn-report.${ext}`));
  const r = await runMain(['apply', copy, '--json', ...reports.flatMap((f) => ['--report', f])]);
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(0, 2000));
  for (const f of reports) assert.ok(fs.statSync(f).size > 200, f);
  assert.equal(JSON.parse(fs.readFileSync(reports[3]!, 'utf8')).pass, true);
  // What CI then gates pull requests with: the outputs match their plan.
  const check = await runMain(['apply', copy, '--check']);
  assert.equal(check.code, 0, check.stderr);
  const [gate, namEntry] = JSON.parse(r.stdout).entries as EntryJson[];
  assert.deepEqual(
    gate!.compare!.outputs.map((o) => [o.maxAbs, o.tolerance.name]),
    [[0, 'exact']],
  );
  assert.ok(gate!.insertions.every((i) => i.gate === 'zero'));
  assert.equal(namEntry!.compare, null);
  assert.equal(namEntry!.validate!.pass, true);
  assert.deepEqual(
    namEntry!.insertions.map((i) => i.module),
    ['NAM', 'NAM', 'NAM'],
  );
  assert.deepEqual(listFiles(path.join(dir, 'out')), ['rtdetr-l-nam.onnx', 'yolov5-gate0.onnx']);
});

test('apply: a damaged model or weights file named by a plan is exit 4 at its line (the file is at fault); a point that does not resolve stays 2', async () => {
  const dir = tmpDir('onnx-attn-apply-fault-');
  const model = fs.readFileSync(fixture('yolov5-op12.onnx'));
  fs.writeFileSync(path.join(dir, 'cut.onnx'), model.subarray(0, Math.floor(model.length / 3)));
  fs.copyFileSync(fixture('yolov5-op12.onnx'), path.join(dir, 'm.onnx'));
  // A safetensors header that says 64 bytes of JSON follow, then garbage.
  const bad = Buffer.alloc(8 + 64, 0x7b);
  bad.writeBigUInt64LE(64n, 0);
  fs.writeFileSync(path.join(dir, 'w.safetensors'), bad);
  const entry = (name: string, input: string, item: string) =>
    `  - name: ${name}\n    input: ${input}\n    output: out/${name}.onnx\n    insert:\n      - ${item}\n`;

  const cut = writePlan(dir, 'cut.yaml', `version: 1\nmodels:\n${entry('a', 'cut.onnx', '{after: "23", module: NAM}')}`);
  let r = await runMain(['apply', cut]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^onnx-attn: .*cut\.yaml:4: models\[0\]\.input: .*cut\.onnx.*\n$/);

  const weights = writePlan(dir, 'w.yaml', `version: 1\nmodels:\n${entry('b', 'm.onnx', '{after: "23", module: NAM, weights: w.safetensors}')}`);
  r = await runMain(['apply', weights]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^onnx-attn: .*w\.yaml:\d+: models\[0\]\.insert\[0\]\.weights: .*w\.safetensors/);
  assert.equal(r.stderr.trim().split('\n').length, 1);

  const nowhere = writePlan(dir, 'after.yaml', `version: 1\nmodels:\n${entry('c', 'm.onnx', '{after: "model.99", module: NAM}')}`);
  r = await runMain(['apply', nowhere]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /after\.yaml:\d+: models\[0\]\.insert\[0\]\.after: /);
  assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing written');
});
