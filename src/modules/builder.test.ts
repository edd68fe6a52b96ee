import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIMS, runTiny, X } from '../../test/topologies.js';
import { AttributeProto_AttributeType as AT, TensorProto_DataType as DT } from '../onnx/proto.js';
import { readInts } from '../onnx/tensor.js';
import { ModuleBuilder, int, type TapeValue } from './builder.js';
import { standaloneModel } from './standalone.js';

/**
 * ModuleBuilder records a module away from any model: what it records (ops, attributes, constants) and, for the
 * forms that change with the opset, that each form computes the same numbers in onnxruntime.
 */

const attrs = (tape: ModuleBuilder, i: number) =>
  Object.fromEntries(tape.nodes[i]!.attributes.map((a) => [a.name, a.type === AT.INTS ? a.ints.map(Number) : a.type === AT.INT ? Number(a.i) : a.f]));
const run = async (tape: ModuleBuilder, out: TapeValue) => (await runTiny(standaloneModel(tape, out, { inputDims: DIMS, name: 'T' })))['y']!;
const close = (actual: number[], expected: number[], tol = 1e-6) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < tol, `[${i}] ${v} vs ${expected[i]}`));
};
/** X as [C=4][HW=4]: the value of channel c at pixel p. */
const at = (c: number, p: number) => X[c * 4 + p]!;

test('op and opN record nodes in order with fresh outputs; opCounts is their histogram', () => {
  const tape = new ModuleBuilder(13);
  const s = tape.op('Sigmoid', [tape.input]);
  const [first, second] = tape.opN('Split', [s], 2, { axis: int(1) });
  const y = tape.op('Mul', [first!, second!]);
  assert.deepEqual(
    tape.nodes.map((n) => n.opType),
    ['Sigmoid', 'Split', 'Mul'],
  );
  assert.equal(tape.input.kind, 'input');
  assert.deepEqual([s.kind, first!.outputIndex, second!.outputIndex], ['node', 0, 1]);
  assert.equal(new Set([tape.input.id, s.id, first!.id, second!.id, y.id]).size, 5);
  assert.deepEqual(tape.nodes[2]!.inputs, [first, second]);
  assert.deepEqual(attrs(tape, 1), { axis: 1 });
  assert.deepEqual(tape.opCounts(), { Sigmoid: 1, Split: 1, Mul: 1 });
});

test('constants: named by key, checked against their dims, one per key, stored in the module float type', () => {
  const tape = new ModuleBuilder(13);
  const w = tape.floats('fc.weight', [2, 2], [1, 2, 3, 4]);
  assert.deepEqual([w.kind, w.constant!.key, w.constant!.tensor.dims.map(Number), w.constant!.tensor.dataType], ['constant', 'fc.weight', [2, 2], DT.FLOAT]);
  assert.deepEqual(Array.from(new Float32Array(w.constant!.tensor.rawData.slice().buffer)), [1, 2, 3, 4]);
  assert.throws(() => tape.floats('fc.bias', [3], [1, 2]), /constant fc\.bias: 2 values for dims \[3\]/);
  assert.throws(() => tape.floats('fc.weight', [1], [0]), /constant key 'fc\.weight' used twice in one module/);
  assert.deepEqual(readInts(tape.int64s('shape', [1, -1, 4]).constant!.tensor), [1, -1, 4]);

  const half = new ModuleBuilder(13, DT.FLOAT16);
  const h = half.floats('g', [2], [1, -2]);
  assert.equal(h.constant!.tensor.dataType, DT.FLOAT16);
  // IEEE half: 1 = 0x3c00, -2 = 0xc000.
  assert.deepEqual(Array.from(new Uint16Array(h.constant!.tensor.rawData.slice().buffer)), [0x3c00, 0xc000]);
  assert.throws(() => new ModuleBuilder(13, DT.INT64), /a module computes in float32, float16 or float64/);
});

test('reduce: axes an attribute up to opset 17 and an input from 18 (ReduceSum from 13), one constant per axes', () => {
  const old = new ModuleBuilder(17);
  old.reduce('ReduceMean', old.input, [2, 3]);
  assert.deepEqual([old.nodes[0]!.inputs.length, attrs(old, 0)], [1, { axes: [2, 3], keepdims: 1 }]);
  assert.equal(old.constants.length, 0);

  const now = new ModuleBuilder(18);
  now.reduce('ReduceMean', now.input, [2, 3]);
  now.reduce('ReduceMax', now.input, [2, 3], false);
  assert.deepEqual(
    now.constants.map((c) => c.constant!.key),
    ['axes_2_3'],
  );
  assert.deepEqual(readInts(now.constants[0]!.constant!.tensor), [2, 3]);
  assert.deepEqual(
    now.nodes.map((n) => n.inputs[1]),
    [now.constants[0], now.constants[0]],
  );
  assert.deepEqual([attrs(now, 0), attrs(now, 1)], [{ keepdims: 1 }, { keepdims: 0 }]);

  const sum = new ModuleBuilder(13);
  sum.reduce('ReduceSum', sum.input, [1]);
  assert.equal(sum.nodes[0]!.inputs.length, 2);
});

test('exporter-style attributes: Conv, pools, BatchNorm (training_mode from 14) and Reshape (allowzero from 14)', () => {
  const tape = new ModuleBuilder(14);
  const w = tape.floats('w', [4, 1, 3, 3], new Array(36).fill(0));
  tape.conv(tape.input, w, null, [3, 3], { pads: [1, 1, 1, 1], group: 4 });
  tape.pool('AveragePool', tape.input, [2, 2], [2, 2]);
  tape.batchNorm([tape.input, w, w, w, w], 1e-3);
  tape.reshape(tape.input, tape.int64s('s', [1, -1]));
  assert.deepEqual(attrs(tape, 0), { dilations: [1, 1], group: 4, kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
  assert.deepEqual(attrs(tape, 1), { ceil_mode: 0, kernel_shape: [2, 2], pads: [0, 0, 0, 0], strides: [2, 2] });
  assert.deepEqual(Object.keys(attrs(tape, 2)), ['epsilon', 'momentum', 'training_mode']);
  assert.deepEqual(attrs(tape, 3), { allowzero: 0 });
  const older = new ModuleBuilder(13);
  older.batchNorm([older.input], 1e-5);
  older.reshape(older.input, older.input);
  assert.deepEqual([Object.keys(attrs(older, 0)), attrs(older, 1)], [['epsilon', 'momentum'], {}]);
});

test('channelMax: ReduceMax below opset 18, Transpose-MaxPool-Transpose from 18, the same channel max in onnxruntime', async () => {
  const expected = Array.from({ length: 16 }, (_, i) => {
    const p = i % 4;
    return at(Math.floor(i / 4), p) * Math.max(at(0, p), at(1, p), at(2, p), at(3, p));
  });
  for (const [opset, ops] of [
    [17, { ReduceMax: 1, Mul: 1 }],
    [18, { Transpose: 2, MaxPool: 1, Mul: 1 }],
  ] as const) {
    const tape = new ModuleBuilder(opset);
    const y = tape.op('Mul', [tape.input, tape.channelMax(tape.input, 4)]);
    assert.deepEqual(tape.opCounts(), ops);
    close(await run(tape, y), expected);
  }
});

test('channelMean is a 1x1 Conv with weights 1/C: the mean over channels in onnxruntime', async () => {
  const tape = new ModuleBuilder(18);
  const y = tape.op('Mul', [tape.input, tape.channelMean(tape.input, 4)]);
  assert.deepEqual(tape.opCounts(), { Conv: 1, Mul: 1 });
  close(
    await run(tape, y),
    Array.from({ length: 16 }, (_, i) => {
      const p = i % 4;
      return at(Math.floor(i / 4), p) * ((at(0, p) + at(1, p) + at(2, p) + at(3, p)) / 4);
    }),
  );
});

test('hardSwish: one HardSwish from opset 14, HardSigmoid x Mul below it; both are x * relu6(x + 3) / 6', async () => {
  const expected = Array.from(X, (v) => (v * Math.min(6, Math.max(0, v + 3))) / 6);
  for (const [opset, ops] of [
    [13, { HardSigmoid: 1, Mul: 1 }],
    [14, { HardSwish: 1 }],
  ] as const) {
    const tape = new ModuleBuilder(opset);
    const y = tape.hardSwish(tape.input);
    assert.deepEqual(tape.opCounts(), ops);
    close(await run(tape, y), expected);
  }
});
