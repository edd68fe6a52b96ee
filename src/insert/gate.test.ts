import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModuleBuilder } from '../modules/builder.js';
import { findModule, resolveOptions } from '../modules/index.js';
import type { ModuleContext } from '../modules/types.js';
import { initWeights } from '../weights/init.js';
import { recordGatedModule, ZeroGate } from './gate.js';

const sum = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) => {
  const out: Record<string, number> = { ...a };
  for (const [op, n] of Object.entries(b)) out[op] = (out[op] ?? 0) + n;
  return out;
};

test('the zero gate records exactly the ops it declares: Sub, Mul, Add, and one scalar initializer g = 0', () => {
  const tape = new ModuleBuilder(17);
  const y = tape.op('Relu', [tape.input]);
  ZeroGate.record(tape, tape.input, y);
  assert.deepEqual(tape.opCounts(), sum({ Relu: 1 }, ZeroGate.ops()));
  assert.deepEqual(ZeroGate.ops(), { Sub: 1, Mul: 1, Add: 1 });
  const nodes = tape.nodes.map((n) => [n.opType, n.inputs.map((v) => v?.kind)]);
  // x + (y − x)·g: the Add reads x itself, so with g = 0 the output is x exactly.
  assert.deepEqual(nodes, [
    ['Relu', ['input']],
    ['Sub', ['node', 'input']],
    ['Mul', ['node', 'constant']],
    ['Add', ['input', 'node']],
  ]);
  assert.deepEqual(
    tape.constants.map((c) => c.constant!.key),
    ['gate'],
  );
  const g = tape.constants[0]!.constant!.tensor;
  assert.deepEqual([g.dims, [...new Float32Array(g.rawData.slice().buffer)]], [[], [0]]);
});

test("a gated module's op counts are the module's plus the gate's, at every opset form; ungated, the module's alone", () => {
  for (const [name, over] of [
    ['SE', {}],
    ['SimAM', { height: null, width: null, opset: 14 }],
    ['CBAM', { opset: 18 }],
  ] as const) {
    const module = findModule(name);
    const ctx: ModuleContext = { channels: 32, height: 8, width: 8, opset: 17, bnEps: 1e-3, options: resolveOptions(module, {}), ...over };
    const weights = initWeights(module.params(ctx), 'torch', 0);
    assert.deepEqual(recordGatedModule(module, ctx, weights, 'zero').tape.opCounts(), sum(module.ops(ctx), ZeroGate.ops()), name);
    assert.deepEqual(recordGatedModule(module, ctx, weights, 'none').tape.opCounts(), { ...module.ops(ctx) }, name);
  }
});

test('the gate adds one parameter and C·H·W MACs (none counted when H or W is dynamic: the module reports null then)', () => {
  assert.equal(ZeroGate.params, 1);
  assert.equal(ZeroGate.macs({ channels: 16, height: 5, width: 7 }), 560);
  assert.equal(ZeroGate.macs({ channels: 16, height: null, width: 7 }), 0);
});
