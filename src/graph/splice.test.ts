import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diamond, graphOutput, linear, runTiny, twoHeads, X } from '../../test/topologies.js';
import { ModuleBuilder, type TapeValue } from '../modules/builder.js';
import { readFloats } from '../onnx/tensor.js';
import { Graph } from './graph.js';
import { spliceModule } from './splice.js';

/** spliceModule on named tiny topologies: names, placement, which readers move, a graph output, and the numbers. */

/** A two-constant module, y = x · sigmoid(x · s) + b, with s = 2 and b = 0.5 (so the run can be checked by hand). */
function gatedModule(): { tape: ModuleBuilder; out: TapeValue } {
  const tape = new ModuleBuilder(13);
  const scaled = tape.op('Mul', [tape.input, tape.floats('scale', [1], [2])]);
  const gated = tape.op('Mul', [tape.input, tape.op('Sigmoid', [scaled])]);
  return { tape, out: tape.op('Add', [gated, tape.floats('bias', [1], [0.5])]) };
}
const attention = (v: number) => v / (1 + Math.exp(-2 * v)) + 0.5;
const relu = (v: number) => Math.max(0, v);
const close = (actual: number[], expected: number[]) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `[${i}] ${v} vs ${expected[i]}`));
};

test('linear: nodes named under /onnx_attn/<k>_<module>/, placed after the producer, constants as named initializers', async () => {
  const m = linear();
  const g = Graph.fromModel(m);
  const a = g.value('a')!;
  const { tape, out } = gatedModule();
  const r = spliceModule(g, { value: a, consumers: a.consumers() }, tape, out, { k: 0, module: 'Gate' });
  assert.deepEqual(
    r.nodes.map((n) => n.name),
    ['/onnx_attn/0_Gate/Mul', '/onnx_attn/0_Gate/Sigmoid', '/onnx_attn/0_Gate/Mul_1', '/onnx_attn/0_Gate/Add'],
  );
  assert.deepEqual(
    g.nodes.map((n) => n.name),
    ['/model.0/Relu', ...r.nodes.map((n) => n.name), '/model.1/Sigmoid', '/model.2/Neg'],
  );
  assert.deepEqual(r.initializers, ['onnx_attn.0.scale', 'onnx_attn.0.bias']);
  assert.deepEqual(
    r.initializers.map((name) => readFloats(m.proto.graph!.initializer.find((t) => t.name === name)!)),
    [[2], [0.5]],
  );
  assert.equal(r.output.name, '/onnx_attn/0_Gate/Add_output_0');
  assert.deepEqual(
    r.rewired.map((n) => n.name),
    ['/model.1/Sigmoid'],
  );
  assert.deepEqual(
    a
      .consumers()
      .map((n) => n.name)
      .sort(),
    ['/onnx_attn/0_Gate/Mul', '/onnx_attn/0_Gate/Mul_1'],
  );
  // Every spliced node says which insertion it belongs to.
  assert.ok(r.nodes.every((n) => n.proto.metadataProps.some((p) => p.key === 'onnx_attn.module' && p.value === '0_Gate')));

  g.commit();
  const y = (await runTiny(m.proto))['y']!;
  close(
    y,
    Array.from(X, (v) => -1 / (1 + Math.exp(-attention(relu(v))))),
  );
});

test('a second insertion gets k=1 names, and a clashing name gets a suffix instead of a duplicate', () => {
  const g = Graph.fromModel(linear());
  const b = g.value('b')!;
  // Someone already owns the name the first node would take.
  g.addNode({ opType: 'Identity', name: '/onnx_attn/1_Gate/Mul', inputs: [b], outputs: ['taken'] });
  const { tape, out } = gatedModule();
  const r = spliceModule(g, { value: b, consumers: b.consumers().filter((n) => n.name === '/model.2/Neg') }, tape, out, { k: 1, module: 'Gate' });
  assert.equal(r.nodes[0]!.name, '/onnx_attn/1_Gate/Mul_1');
  assert.deepEqual(r.initializers, ['onnx_attn.1.scale', 'onnx_attn.1.bias']);
  assert.equal(new Set(g.nodes.map((n) => n.name)).size, g.nodes.length);
});

test('diamond: only the chosen consumer moves to the module output; the other branch still reads x', async () => {
  const m = diamond();
  const g = Graph.fromModel(m);
  const a = g.value('a')!;
  const sigmoid = a.consumers().find((n) => n.opType === 'Sigmoid')!;
  const { tape, out } = gatedModule();
  const r = spliceModule(g, { value: a, consumers: [sigmoid] }, tape, out, { k: 0, module: 'Gate' });
  assert.deepEqual(
    sigmoid.inputs.map((v) => v!.name),
    [r.output.name],
  );
  assert.deepEqual(
    a
      .consumers()
      .map((n) => n.name)
      .filter((n) => n.startsWith('/model.')),
    ['/model.2/Tanh'],
  );
  g.commit();
  close(
    (await runTiny(m.proto))['y']!,
    Array.from(X, (v) => 1 / (1 + Math.exp(-attention(relu(v)))) + Math.tanh(relu(v))),
  );
});

test('two heads: both readers move; a node that does not read the point is refused before anything changes', () => {
  const g = Graph.fromModel(twoHeads());
  const a = g.value('a')!;
  const readers = a.consumers();
  const { tape, out } = gatedModule();
  const before = g.nodes.length;
  assert.throws(
    () => spliceModule(g, { value: a, consumers: [a.producer!] }, tape, out, { k: 0, module: 'Gate' }),
    /node '\/model\.0\/Relu' does not read 'a'/,
  );
  assert.equal(g.nodes.length, before);
  const r = spliceModule(g, { value: a, consumers: readers }, tape, out, { k: 0, module: 'Gate' });
  assert.deepEqual(r.rewired.map((n) => n.name).sort(), ['/model.1/Sigmoid', '/model.2/Tanh']);
  for (const n of readers)
    assert.deepEqual(
      n.inputs.map((v) => v!.name),
      [r.output.name],
    );
});

test('graph output: the output keeps its name and carries attention(x); the producer tensor is renamed', async () => {
  const m = graphOutput();
  const g = Graph.fromModel(m);
  const a = g.value('a')!;
  const { tape, out } = gatedModule();
  const r = spliceModule(g, { value: a, consumers: a.consumers() }, tape, out, { k: 0, module: 'Gate' });
  // The module's output took the name `a`; Relu now writes `a_before_onnx_attn_0`.
  assert.equal(r.output.name, 'a');
  assert.equal(a.name, 'a_before_onnx_attn_0');
  assert.deepEqual([a.isGraphOutput, r.output.isGraphOutput], [false, true]);
  assert.deepEqual(
    g.outputs.map((v) => v.name),
    ['a', 'y'],
  );
  assert.deepEqual(
    g.value('y')!.producer!.inputs.map((v) => v!.name),
    ['a'],
  );
  g.commit();
  assert.deepEqual(
    m.proto.graph!.output.map((o) => o.name),
    ['a', 'y'],
  );
  assert.deepEqual([...m.proto.graph!.node[0]!.output], ['a_before_onnx_attn_0']);

  const run = await runTiny(m.proto);
  const patched = Array.from(X, (v) => attention(relu(v)));
  close(run['a']!, patched);
  close(
    run['y']!,
    patched.map((v) => 1 / (1 + Math.exp(-v))),
  );
});

test('graph output with no node reading it: the module still takes over the output', async () => {
  const m = twoHeads();
  const g = Graph.fromModel(m);
  const y2 = g.value('y2')!;
  const { tape, out } = gatedModule();
  const r = spliceModule(g, { value: y2, consumers: [] }, tape, out, { k: 0, module: 'Gate' });
  assert.deepEqual(r.rewired, []);
  assert.deepEqual(
    g.outputs.map((v) => v.name),
    ['y1', 'y2'],
  );
  assert.equal(g.outputs[1], r.output);
  g.commit();
  close(
    (await runTiny(m.proto))['y2']!,
    Array.from(X, (v) => attention(Math.tanh(relu(v)))),
  );
});
