import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture } from '../../test/helpers.js';
import { analyzeModel } from '../analysis.js';
import { ExitCode } from '../errors.js';
import { ModuleBuilder } from '../modules/builder.js';
import { standaloneModel } from '../modules/standalone.js';
import { loadModel, type OnnxModel } from '../onnx/load.js';
import { checkPatchedModel, patchedModelFailureText, type PatchedModelFailure } from './check.js';
import { applyInsertions } from './items.js';
import { planInsertions, type Insertion } from './plan.js';

/** The patched-model check that insert and plans share: structure, then one run against the original, then the gate. */

const V5 = fixture('yolov5-op12.onnx');

async function patched(after: string, module: string, gate: 'zero' | 'none') {
  const model = await loadModel(V5);
  const analyzed = await analyzeModel(model);
  const plans = planInsertions(analyzed, { after, module, gate });
  return { model, insertions: applyInsertions(analyzed, plans), inputTypes: plans.map((p) => analyzed.structure.types.get(p.site.value) ?? null) };
}

const never = () => Promise.reject(new Error('the original was fetched, but no run should happen'));

test('a zero-gated patch passes: valid structure, the same outputs bit for bit', async () => {
  const { model, insertions, inputTypes } = await patched('20', 'SE', 'zero');
  const r = await checkPatchedModel(model, insertions, { original: () => Promise.resolve(V5), inputTypes });
  assert.deepEqual(r.structure, []);
  assert.equal(r.failure, null);
  assert.equal(r.run!.identical, true);
  assert.equal(r.run!.maxAbsDiff, 0);
  assert.deepEqual(r.run!.problems, []);
});

test('an ungated patch runs like the original (same names, dtypes, shapes) but not identically, and passes', async () => {
  const { model, insertions } = await patched('20', 'SE', 'none');
  const r = await checkPatchedModel(model, insertions, { original: () => Promise.resolve(V5) });
  assert.equal(r.failure, null);
  assert.equal(r.run!.identical, false);
  assert.ok(r.run!.maxAbsDiff > 0);
});

test('without an original there is no run: the structure alone', async () => {
  const { model, insertions } = await patched('20', 'SimAM', 'none');
  assert.deepEqual(await checkPatchedModel(model, insertions, { original: null }), { structure: [], run: null, failure: null });
});

test('all modules gated but outputs that differ: a gate failure, exit 1, with the largest difference', async () => {
  // An ungated SimAM reported as gated: what a splice that broke the identity would look like.
  const { model, insertions } = await patched('20', 'SimAM', 'none');
  const claimed: Insertion[] = insertions.map((i) => ({ ...i, gate: 'zero' }));
  const r = await checkPatchedModel(model, claimed, { original: () => Promise.resolve(V5) });
  assert.ok(r.run!.maxAbsDiff > 0);
  assert.deepEqual(r.failure, { kind: 'gate', exitCode: ExitCode.comparisonFailed, problem: `${r.run!.maxAbsDiff}` });
});

test('a module whose output shape is not its input shape fails the structure, exit 4, before any run', async () => {
  const { model, insertions } = await patched('20', 'SimAM', 'none');
  // The model's input [1,3,64,64] stands in for the module's output: the shapes disagree.
  const wrong = insertions.map((i) => ({ ...i, moduleOutput: 'images' }));
  const r = await checkPatchedModel(model, wrong, { original: never });
  assert.equal(r.run, null);
  assert.equal(r.failure?.kind, 'structure');
  assert.equal(r.failure?.exitCode, ExitCode.invalidModel);
  assert.match(r.failure.problem, /^module output 'images' has shape \[1,3,\d+,\d+\], its input '.+' has \[1,\d+,\d+,\d+\]$/);
  assert.equal(r.failure.problem, r.structure[0]);
});

test('a patched model that makes outputs non-finite fails the run, exit 4, even when nothing is gated', async () => {
  const model = (build: (tape: ModuleBuilder) => ReturnType<ModuleBuilder['op']>): OnnxModel => {
    const tape = new ModuleBuilder(17);
    return { proto: standaloneModel(tape, build(tape), { inputDims: [1, 2, 3, 3], name: 'm' }), path: null, externalData: new Map(), hadExternalData: false };
  };
  const original = model((t) => t.op('Relu', [t.input]));
  const broken = model((t) => t.op('Log', [t.op('Sub', [t.op('Relu', [t.input]), t.floats('one', [], [1])])]));
  const r = await checkPatchedModel(broken, [], { original: () => Promise.resolve(original) });
  assert.equal(r.failure?.kind, 'run');
  assert.equal(r.failure?.exitCode, ExitCode.invalidModel);
  assert.equal(r.failure?.problem, r.run!.problems[0]);
  assert.match(r.failure.problem, /^output 'y' has \d+ more non-finite value\(s\) than the original's/);
});

test("a failure in insert's words and in a plan's", () => {
  const words = (f: PatchedModelFailure) => [
    patchedModelFailureText(f, { gate: '--gate', notWritten: 'nothing was written' }),
    patchedModelFailureText(f, { gate: 'gate', notWritten: 'not written' }),
  ];
  assert.deepEqual(words({ kind: 'structure', exitCode: 4, problem: "node name 'a' is used twice" }), [
    "the patched model is not valid (node name 'a' is used twice); nothing was written. Please report this with --debug output",
    "the patched model is not valid (node name 'a' is used twice); not written. Please report this with --debug output",
  ]);
  assert.deepEqual(words({ kind: 'run', exitCode: 4, problem: "the patched model has an extra output 'z'" }), [
    "the patched model does not run like the original: the patched model has an extra output 'z'; nothing was written",
    "the patched model does not run like the original: the patched model has an extra output 'z'; not written",
  ]);
  assert.deepEqual(words({ kind: 'gate', exitCode: 1, problem: '0.25' }), [
    '--gate zero must reproduce the original outputs exactly, but they differ by up to 0.25; nothing was written',
    'gate zero must reproduce the original outputs exactly, but they differ by up to 0.25; not written',
  ]);
});
