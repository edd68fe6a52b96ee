import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRun } from './check-run.js';
import { ModuleBuilder } from '../modules/builder.js';
import { standaloneModel } from '../modules/standalone.js';
import type { OnnxModel } from '../onnx/load.js';

const model = (build: (tape: ModuleBuilder) => ReturnType<ModuleBuilder['op']>): OnnxModel => {
  const tape = new ModuleBuilder(17);
  const y = build(tape);
  return { proto: standaloneModel(tape, y, { inputDims: [1, 2, 3, 3], name: 'm' }), path: null, externalData: new Map(), hadExternalData: false };
};

test('the insert check run fails a patch that makes outputs non-finite, and passes an exact one', async () => {
  const original = model((t) => t.op('Relu', [t.input]));
  // Seeded inputs are in [0, 1]: Log of Relu(x) − 1 is NaN wherever x < 1, that is almost everywhere.
  const broken = model((t) => t.op('Log', [t.op('Sub', [t.op('Relu', [t.input]), t.floats('one', [], [1])])]));
  const r = await checkRun(original, broken);
  assert.equal(r.problems.length, 1);
  assert.match(
    r.problems[0]!,
    /^output 'y' has (1[0-8]|[1-9]) more non-finite value\(s\) than the original's \(are the module's weights sane\? a negative running_var, say\)$/,
  );
  const same = await checkRun(
    original,
    model((t) => t.op('Relu', [t.input])),
  );
  assert.deepEqual([same.problems, same.identical, same.maxAbsDiff], [[], true, 0]);
});
