import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkEntries } from './check.js';
import { formatPath, type KeyPath, type RawPlan } from './parse.js';
import type { PlanPaths } from './resolve.js';

const DIR = '/plans';

/** Paths that resolve against DIR and find every file, recording the files needed; problems as `key: message`. */
function stubPaths() {
  const needed: string[] = [];
  const paths: PlanPaths = {
    resolve: (p) => path.resolve(DIR, p),
    needFile: (at, p) => {
      needed.push(formatPath(at));
      return path.resolve(DIR, p);
    },
    claimOutput: (_at, p) => ({ output: path.resolve(DIR, p), claimedBy: undefined }),
    checkWrites: () => {},
    reports: (r) => r.map((p) => path.resolve(DIR, p)),
  };
  const problems: string[] = [];
  const problem = (at: KeyPath, message: string) => void problems.push(`${formatPath(at)}: ${message}`);
  return { paths, needed, problems, problem };
}

const plan = (models: RawPlan['models'], defaults?: RawPlan['defaults']): RawPlan => ({ version: 1, models, ...(defaults ? { defaults } : {}) });

test('checkEntries: insert items become InsertOptions (canonical module name, absolute weights, lists of strings)', () => {
  const { paths, needed, problems, problem } = stubPaths();
  const [entry] = checkEntries(
    plan([
      {
        input: 'in/a.onnx',
        output: 'out/a-cbam.onnx',
        insert: [
          { after: [17, '20'], module: 'cbam', opts: { reduction: 4 }, weights: 'w.npz', 'weights-prefix': 'model.24.', consumers: 'Conv_1', 'bn-eps': 0.001 },
          { after: 'head', module: 'SE', init: 'random', seed: 3, gate: 'zero', 'external-data': 'always' },
        ],
      },
    ]),
    paths,
    problem,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(needed, ['models[0].input', 'models[0].insert[0].weights']);
  assert.equal(entry!.name, 'a-cbam');
  assert.equal(entry!.input, '/plans/in/a.onnx');
  assert.equal(entry!.output, '/plans/out/a-cbam.onnx');
  assert.equal(entry!.externalData, 'always');
  assert.deepEqual(
    entry!.items.map((i) => i.path),
    [
      ['models', 0, 'insert', 0],
      ['models', 0, 'insert', 1],
    ],
  );
  assert.deepEqual(entry!.items[0]!.options, {
    after: ['17', '20'],
    module: 'CBAM',
    opts: { reduction: '4' },
    weights: ['/plans/w.npz'],
    weightsPrefix: ['model.24.'],
    bnEps: 0.001,
    consumers: ['Conv_1'],
  });
  assert.deepEqual(entry!.items[1]!.options, { after: ['head'], module: 'SE', opts: {}, init: 'random', seed: 3, gate: 'zero' });
  // Validate and compare run by default, with no options of their own.
  assert.deepEqual([entry!.validate, entry!.compare], [{}, {}]);
});

test('checkEntries: module, option, weights-prefix, external-data and name problems, each at its key, in order', () => {
  const { paths, problems, problem } = stubPaths();
  checkEntries(
    plan([
      {
        input: 'a.onnx',
        output: 'x.onnx',
        insert: [
          { after: 1, module: 'NAMM', opts: { rate: 2 } },
          { after: 2, module: 'SE', opts: { nope: 1, reduction: 0 }, 'weights-prefix': 'm.', 'external-data': 'never' },
          { after: 3, module: 'SimAM', opts: { k: 1 }, 'external-data': 'always' },
        ],
      },
      { name: 'x', input: 'b.onnx', output: 'y.onnx', insert: [{ after: 1, module: 'SE' }] },
      { input: 'c.onnx', output: 'sub/y.onnx', insert: [{ after: 1, module: 'SE' }] },
    ]),
    paths,
    problem,
  );
  assert.equal(problems.length, 7, problems.join('\n'));
  assert.match(problems[0]!, /^models\[0\]\.insert\[0\]\.module: unknown module 'NAMM'; expected one of NAM, GAM, SimAM, SE, CBAM, ECA, CA/);
  assert.match(problems[1]!, /^models\[0\]\.insert\[1\]\.opts\.nope: SE has no option 'nope'; expected one of /);
  assert.match(problems[2]!, /^models\[0\]\.insert\[1\]\.opts\.reduction: /);
  assert.equal(problems[3], 'models[0].insert[1].weights-prefix: names a module inside a weights file; give weights too');
  assert.equal(problems[4], "models[0].insert[2].opts.k: SimAM has no option 'k'; expected one of lambda");
  assert.equal(problems[5], "models[0].insert[2].external-data: 'always' conflicts with insert[1]'s 'never'; the entry's output is saved once");
  assert.equal(problems[6], "models[1].name: the name 'x' is already models[0]'s; entry names must be unique");
  // models[2]'s stem 'y' is models[1]'s too: only a given name or a distinct output makes that a problem (it is: told at the output).
});

test('checkEntries: runtime blocks merge over the defaults; skipped blocks are null; keys that need a dataset, bad shapes', () => {
  const { paths, needed, problems, problem } = stubPaths();
  const entries = checkEntries(
    plan(
      [
        { input: 'a.onnx', output: 'a2.onnx', insert: [{ after: 1, module: 'SE' }], validate: { iters: 5, shape: ['images=1x3x0x64'] }, compare: false },
        { input: 'b.onnx', output: 'b2.onnx', insert: [{ after: 1, module: 'SE' }], compare: { 'min-map': 0.5, inputs: 'imgs', tolerance: 'fp16' } },
      ],
      { validate: { ep: ['cuda,cpu'], fallback: 'cpu', warmup: 2 }, compare: { precision: '200%' } },
    ),
    paths,
    problem,
  );
  assert.deepEqual(entries[0]!.validate, { ep: ['cuda', 'cpu'], fallback: 'cpu', shapes: { images: [1, 3, 0, 64] }, warmup: 2, iters: 5 });
  assert.equal(entries[0]!.compare, null);
  assert.deepEqual(entries[1]!.compare, { inputs: '/plans/imgs', minMap: 0.5, precision: '200%', tolerance: ['fp16'] });
  assert.deepEqual(needed, ['models[0].input', 'models[1].input', 'models[1].compare.inputs']);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.equal(problems[0], "models[0].validate.shape[0]: dim 2 of 'images=1x3x0x64' is 0; every size must be a whole number ≥ 1");
  assert.match(problems[1]!, /^defaults\.compare\.precision: expected .*, got the string '200%'$/);
  assert.equal(problems[2], 'models[1].compare.min-map: min-map needs dataset: (the labelled images it applies to)');
});
