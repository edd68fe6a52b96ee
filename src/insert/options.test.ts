import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOnnxAttnError, type OnnxAttnError } from '../errors.js';
import { fixture } from '../../test/helpers.js';
import { analyzeModel } from '../analysis.js';
import { loadModel } from '../onnx/load.js';
import { insertOptionsFrom, optsFrom, shapesFrom } from './options.js';
import { planInsertions } from './plan.js';

/** The UsageError a call throws: its message, exit code and the option it names. */
function refusal(fn: () => unknown): { message: string; exitCode: number; option: string | undefined } {
  try {
    fn();
  } catch (e) {
    assert.ok(isOnnxAttnError(e), `not an onnx-attn error: ${String(e)}`);
    const err: OnnxAttnError = e;
    assert.equal(err.name, 'UsageError');
    return { message: err.message, exitCode: err.exitCode, option: err.option };
  }
  assert.fail('expected a UsageError');
}

/** Whatever onnx-attn error a call throws: its class name, message, exit code and option. */
function refusalOrError(fn: () => unknown): { name: string; message: string; exitCode: number; option: string | undefined } {
  try {
    fn();
  } catch (e) {
    assert.ok(isOnnxAttnError(e), `not an onnx-attn error: ${String(e)}`);
    return { name: e.name, message: e.message, exitCode: e.exitCode, option: e.option };
  }
  assert.fail('expected an error');
}

test('the CLI form: flag names to InsertOptions, defaults kept as given, lists as lists', () => {
  assert.deepEqual(
    insertOptionsFrom({
      after: ['17', '20,23'],
      module: 'se',
      opt: ['reduction=8,variant=paper', 'lambda=1e-4'],
      init: 'random',
      seed: 3,
      'bn-eps': 1e-5,
      gate: 'zero',
      consumers: ['/model.18/Concat'],
      shape: ['images=1x3x320x320'],
    }),
    {
      after: ['17', '20,23'],
      module: 'se',
      opts: { reduction: '8', variant: 'paper', lambda: '1e-4' },
      init: 'random',
      seed: 3,
      bnEps: 1e-5,
      gate: 'zero',
      consumers: ['/model.18/Concat'],
      shapes: { images: [1, 3, 320, 320] },
    },
  );
});

test('the plan form: scalars as text, one value as a list, opts as a map; flags left out stay out', () => {
  assert.deepEqual(
    insertOptionsFrom({ after: 23, module: 'CBAM', opts: { kernel: 7, variant: 'paper', spatial: true }, weights: 'w.npz', 'weights-prefix': 'model.24.' }),
    {
      after: ['23'],
      module: 'CBAM',
      opts: { kernel: '7', variant: 'paper', spatial: 'true' },
      weights: ['w.npz'],
      weightsPrefix: ['model.24.'],
    },
  );
  assert.deepEqual(insertOptionsFrom({ after: ['head'], module: 'SimAM' }), { after: ['head'], module: 'SimAM', opts: {} });
});

test('--weights with --init or --seed given is refused with the value, naming the flag', () => {
  assert.deepEqual(
    refusal(() => insertOptionsFrom({ after: ['23'], module: 'SE', weights: ['se.npz'], init: 'random' })),
    {
      message: '--weights and --init random contradict each other (--init is for weights made without a file); pass one',
      exitCode: 2,
      option: 'init',
    },
  );
  assert.deepEqual(
    refusal(() => insertOptionsFrom({ after: ['23'], module: 'SE', weights: ['se.npz'], seed: 7 })),
    {
      message: '--weights and --seed 7 contradict each other (--seed is for weights made without a file); pass one',
      exitCode: 2,
      option: 'seed',
    },
  );
});

test("the CLI's defaults for --init and --seed are dropped beside --weights, not refused", () => {
  const given = new Set(['after', 'module', 'weights']);
  assert.deepEqual(insertOptionsFrom({ after: ['23'], module: 'SE', weights: ['se.npz'], init: 'torch', seed: 0, gate: 'none' }, given), {
    after: ['23'],
    module: 'SE',
    opts: {},
    weights: ['se.npz'],
    gate: 'none',
  });
  // Without weights the defaults pass through as the CLI always passed them.
  assert.deepEqual(insertOptionsFrom({ after: ['23'], module: 'SE', init: 'torch', seed: 0 }, new Set(['after', 'module'])), {
    after: ['23'],
    module: 'SE',
    opts: {},
    init: 'torch',
    seed: 0,
  });
});

test('--weights-prefix without --weights is passed on: the library refuses it after locating the points, as the CLI always has', async () => {
  assert.deepEqual(insertOptionsFrom({ after: ['23'], module: 'SE', 'weights-prefix': ['model.24.'] }), {
    after: ['23'],
    module: 'SE',
    opts: {},
    weightsPrefix: ['model.24.'],
  });
  const analyzed = await analyzeModel(await loadModel(fixture('yolov5-op12.onnx')));
  const refused = (after: string) =>
    refusalOrError(() => planInsertions(analyzed, insertOptionsFrom({ after: [after], module: 'SE', 'weights-prefix': ['model.24.'] })));
  assert.deepEqual(refused('23'), {
    name: 'UsageError',
    message: '--weights-prefix names a module inside a --weights file; give --weights too',
    exitCode: 2,
    option: 'weights-prefix',
  });
  // A point that does not resolve is reported first (exit 4).
  assert.deepEqual(refused('99'), { name: 'LocateError', message: 'layer 99 not found: this yolov5 model has layers 0..24', exitCode: 4, option: 'after' });
});

test('the first of several mistakes is the one the CLI always reported: --shape, then --weights with --init, then --opt', () => {
  const flags = { after: ['23'], module: 'SE', shape: ['images'], weights: ['w.npz'], init: 'random', opt: ['oops'] } as const;
  assert.equal(refusal(() => insertOptionsFrom(flags)).option, 'shape');
  assert.equal(refusal(() => insertOptionsFrom({ ...flags, shape: undefined })).option, 'init');
  assert.equal(refusal(() => insertOptionsFrom({ ...flags, shape: undefined, init: undefined })).option, 'opts');
});

test('--opt: key=value items, comma lists; a later key wins; __proto__ stays an ordinary key', () => {
  assert.deepEqual(optsFrom(['a=1, b=x=y', 'a=2']), { a: '2', b: 'x=y' });
  const proto = optsFrom(['__proto__=1']);
  assert.deepEqual(Object.keys(proto), ['__proto__']);
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.deepEqual(
    refusal(() => optsFrom(['rate'])),
    {
      message: "--opt 'rate': expected key=value, e.g. --opt variant=paper",
      exitCode: 2,
      option: 'opts',
    },
  );
  assert.deepEqual(refusal(() => optsFrom(['1x=2'])).message, "--opt '1x=2': expected key=value, e.g. --opt variant=paper");
});

test('--shape: NAME=dims, whole sizes ≥ 1, each input once', () => {
  assert.equal(shapesFrom(undefined), undefined);
  assert.equal(shapesFrom([]), undefined);
  assert.deepEqual(shapesFrom(['images=1x3x640x640', 'mask=2']), { images: [1, 3, 640, 640], mask: [2] });
  assert.equal(refusal(() => shapesFrom(['images=1x3xAx640'])).message, "--shape 'images=1x3xAx640': expected NAME=1x3x640x640");
  assert.equal(refusal(() => shapesFrom(['images=1x0x640x640'])).message, "--shape 'images=1x0x640x640': dim 1 is 0; every size must be a whole number ≥ 1");
  assert.equal(
    refusal(() => shapesFrom(['images=1x3x99999999999999999x1'])).message,
    "--shape 'images=1x3x99999999999999999x1': dim 2 is 99999999999999999; every size must be a whole number ≥ 1",
  );
  assert.deepEqual(
    refusal(() => shapesFrom(['x=1', 'y=2', 'x=3'])),
    {
      message: "--shape names input 'x' twice (x=1, x=3); give it once",
      exitCode: 2,
      option: 'shape',
    },
  );
});
