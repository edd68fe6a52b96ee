import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diamond, graphOutput, linear, runTiny, twoHeads, X } from '../../test/topologies.js';
import { ModelError } from '../errors.js';
import { Graph, type Node } from './graph.js';

/** Graph on named tiny topologies, through its public methods only: indexing, edits, order, and the proto it writes. */

const names = (nodes: readonly Node[]) => nodes.map((n) => n.name);

test('linear: each value knows its producer and consumers; inputs and outputs are indexed', () => {
  const g = Graph.fromModel(linear());
  assert.deepEqual(names(g.nodes), ['/model.0/Relu', '/model.1/Sigmoid', '/model.2/Neg']);
  assert.deepEqual(
    g.inputs.map((v) => v.name),
    ['x'],
  );
  assert.deepEqual(
    g.outputs.map((v) => v.name),
    ['y'],
  );
  const a = g.value('a')!;
  assert.equal(a.producer!.name, '/model.0/Relu');
  assert.deepEqual(names(a.consumers()).sort(), ['/model.1/Sigmoid']);
  assert.deepEqual([g.value('x')!.isGraphInput, g.value('y')!.isGraphOutput, a.isGraphOutput], [true, true, false]);
  assert.equal(g.value('missing'), undefined);
  assert.equal(g.opset(), 13);
  assert.equal(g.orderProblem(), null);
});

test('diamond: a value read twice has both consumers; topological order is file order when already sorted', () => {
  const g = Graph.fromModel(diamond());
  assert.deepEqual(names(g.value('a')!.consumers()).sort(), ['/model.1/Sigmoid', '/model.2/Tanh']);
  assert.deepEqual(
    g.value('y')!.producer!.inputs.map((v) => v!.name),
    ['b', 'c'],
  );
  assert.deepEqual(names(g.topologicalOrder()), names(g.nodes));
});

test('diamond out of file order: orderProblem names the early reader, topologicalOrder restores producers first', () => {
  const m = diamond();
  const [relu, sigmoid, tanh, add] = m.proto.graph!.node;
  m.proto.graph!.node = [add!, tanh!, relu!, sigmoid!];
  const g = Graph.fromModel(m);
  assert.match(g.orderProblem()!, /\/model\.3\/Add/);
  assert.equal(g.findCycle(), null);
  // Kahn stable to file order: of the ready nodes the earliest in the file goes first (Relu), then Tanh (file
  // position 1) before Sigmoid (3), then Add.
  assert.deepEqual(names(g.topologicalOrder()), ['/model.0/Relu', '/model.2/Tanh', '/model.1/Sigmoid', '/model.3/Add']);
});

test('a cycle is found and named, and topologicalOrder refuses it', () => {
  const m = linear();
  // Relu reads y: x is still read by nothing, Relu -> Sigmoid -> Neg -> Relu.
  m.proto.graph!.node[0]!.input = ['y'];
  const g = Graph.fromModel(m);
  assert.deepEqual(names(g.findCycle()!).sort(), ['/model.0/Relu', '/model.1/Sigmoid', '/model.2/Neg']);
  assert.match(g.orderProblem()!, /cycle/);
  assert.throws(() => g.topologicalOrder(), ModelError);
});

test('fromModel refuses what breaks ONNX rules, naming the tensor or node', () => {
  const twice = linear();
  twice.proto.graph!.node[1]!.output = ['a'];
  assert.throws(
    () => Graph.fromModel(twice),
    (e: Error) => e instanceof ModelError && /tensor 'a' is assigned twice/.test(e.message),
  );
  const dangling = linear();
  dangling.proto.graph!.node[1]!.input = ['nowhere'];
  assert.throws(
    () => Graph.fromModel(dangling),
    (e: Error) => e instanceof ModelError && /reads tensor 'nowhere', which no node, input or initializer defines/.test(e.message),
  );
  const sameName = diamond();
  sameName.proto.graph!.node[2]!.name = '/model.1/Sigmoid';
  assert.throws(
    () => Graph.fromModel(sameName),
    (e: Error) => e instanceof ModelError && /two nodes are named '\/model\.1\/Sigmoid'/.test(e.message),
  );
  const noOutput = linear();
  noOutput.proto.graph!.output[0]!.name = 'z';
  assert.throws(
    () => Graph.fromModel(noOutput),
    (e: Error) => e instanceof ModelError && /graph output 'z' is not produced/.test(e.message),
  );
});

test('uniqueName: the base, then _1, _2, skipping names already taken; each name is reserved', () => {
  const g = Graph.fromModel(linear());
  assert.equal(g.uniqueName('a'), 'a_1');
  assert.equal(g.uniqueName('a'), 'a_2');
  assert.equal(g.uniqueName('/model.0/Relu'), '/model.0/Relu_1');
  assert.equal(g.uniqueName('fresh'), 'fresh');
  assert.equal(g.hasName('fresh'), true);
  assert.equal(g.uniqueName('fresh'), 'fresh_1');
});

test('two heads: addNode after a producer and replaceInput move one reader; commit writes the wiring into the proto', async () => {
  const m = twoHeads();
  const g = Graph.fromModel(m);
  const a = g.value('a')!;
  const relu = a.producer!;
  const neg = g.addNode({ opType: 'Neg', name: '/extra/Neg', inputs: [a], outputs: ['n'] }, relu);
  assert.deepEqual(names(g.nodes), ['/model.0/Relu', '/extra/Neg', '/model.1/Sigmoid', '/model.2/Tanh']);
  const sigmoid = g.nodes.find((n) => n.name === '/model.1/Sigmoid')!;
  g.replaceInput(sigmoid, 0, neg.outputs[0]!);
  assert.deepEqual(names(a.consumers()).sort(), ['/extra/Neg', '/model.2/Tanh']);
  assert.deepEqual(names(g.value('n')!.consumers()).sort(), ['/model.1/Sigmoid']);
  assert.throws(() => g.addNode({ opType: 'Neg', name: '/extra/Neg2', inputs: [a], outputs: ['n'] }), /name 'n' is already used/);
  assert.throws(() => g.replaceInput(sigmoid, 3, a), RangeError);

  g.commit();
  const written = m.proto.graph!.node.map((n) => [n.name, [...n.input], [...n.output]]);
  assert.deepEqual(written, [
    ['/model.0/Relu', ['x'], ['a']],
    ['/extra/Neg', ['a'], ['n']],
    ['/model.1/Sigmoid', ['n'], ['y1']],
    ['/model.2/Tanh', ['a'], ['y2']],
  ]);
  // The edited model runs: y1 = sigmoid(-relu(x)), y2 = tanh(relu(x)).
  const out = await runTiny(m.proto);
  const relu0 = Array.from(X, (v) => Math.max(0, v));
  relu0.forEach((r, i) => {
    assert.ok(Math.abs(out['y1']![i]! - 1 / (1 + Math.exp(r))) < 1e-6);
    assert.ok(Math.abs(out['y2']![i]! - Math.tanh(r)) < 1e-6);
  });
});

test('addNode with after=null puts the node first; without after, last', () => {
  const g = Graph.fromModel(linear());
  g.addNode({ opType: 'Identity', name: 'first', inputs: [g.value('x')!], outputs: ['x1'] }, null);
  g.addNode({ opType: 'Identity', name: 'last', inputs: [g.value('y')!], outputs: ['y1'] });
  assert.deepEqual(names(g.nodes), ['first', '/model.0/Relu', '/model.1/Sigmoid', '/model.2/Neg', 'last']);
});

test('graph output: renameValue renames the tensor everywhere, or keeps the declared output name when asked', () => {
  const m = graphOutput();
  const g = Graph.fromModel(m);
  g.renameValue(g.value('a')!, 'a2');
  g.commit();
  assert.deepEqual(
    m.proto.graph!.output.map((o) => o.name),
    ['a2', 'y'],
  );
  assert.deepEqual([...m.proto.graph!.node[1]!.input], ['a2']);
  assert.equal(g.value('a'), undefined);
  assert.throws(() => g.renameValue(g.value('a2')!, 'y'), /name 'y' is already used/);

  const kept = graphOutput();
  const g2 = Graph.fromModel(kept);
  g2.renameValue(g2.value('a')!, 'a_inner', { keepGraphOutputName: true });
  assert.deepEqual(
    kept.proto.graph!.output.map((o) => o.name),
    ['a', 'y'],
  );
  assert.equal(g2.value('a_inner')!.isGraphOutput, true);
});
