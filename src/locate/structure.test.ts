import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constantBranch, diamond, graphOutput, linear, twoHeads } from '../../test/topologies.js';
import type { OnnxModel } from '../onnx/load.js';
import { Graph } from '../graph/graph.js';
import { analyzeStructure, type ModelStructure } from './structure.js';

/**
 * analyzeStructure on named tiny topologies whose nodes are scoped `/model.<i>/<Op>` as the TorchScript exporter
 * writes them: the layer table (scope, index, boundary, from), the head (the last layer) and its inputs, and which
 * tensors are data.
 */

const analyze = (m: OnnxModel) => analyzeStructure(Graph.fromModel(m), new Map());
/** Each layer as [scope, index, boundary tensors, from]. */
const table = (s: ModelStructure) => s.layers.map((l) => [l.scope, l.index, l.boundary.map((v) => v.name), l.from]);
const headInputs = (s: ModelStructure) => s.head.map((h) => [h.value.name, h.fromScope, h.fromIndex]);

test('linear: one layer per scope, each boundary the tensor the next layer reads, the last layer is the head', () => {
  const s = analyze(linear());
  assert.deepEqual(table(s), [
    ['model.0', 0, ['a'], ['input']],
    ['model.1', 1, ['b'], ['0']],
    ['model.2', 2, ['y'], ['1']],
  ]);
  assert.deepEqual(
    s.layers.map((l) => l.isHead),
    [false, false, true],
  );
  assert.equal(s.headPath, 'model.2');
  assert.deepEqual(headInputs(s), [['b', 'model.1', 1]]);
  // A layer that is one op is named by it.
  assert.deepEqual(
    s.layers.slice(0, 2).map((l) => l.type),
    ['op:Relu', 'op:Sigmoid'],
  );
  assert.equal(s.family, 'unknown');
  assert.equal(s.orderProblem, null);
});

test('diamond: a tensor read by two layers is one boundary; the join lists both layers it comes from', () => {
  const s = analyze(diamond());
  assert.deepEqual(table(s), [
    ['model.0', 0, ['a'], ['input']],
    ['model.1', 1, ['b'], ['0']],
    ['model.2', 2, ['c'], ['0']],
    ['model.3', 3, ['y'], ['1', '2']],
  ]);
  assert.deepEqual(headInputs(s), [
    ['b', 'model.1', 1],
    ['c', 'model.2', 2],
  ]);
  const add = s.graph.value('y')!.producer!;
  assert.equal(s.layerOf(add)!.scope, 'model.3');
});

test('two heads: both output layers have their output as boundary; the head is the highest index and reads a', () => {
  const s = analyze(twoHeads());
  assert.deepEqual(table(s), [
    ['model.0', 0, ['a'], ['input']],
    ['model.1', 1, ['y1'], ['0']],
    ['model.2', 2, ['y2'], ['0']],
  ]);
  assert.equal(s.headPath, 'model.2');
  assert.deepEqual(headInputs(s), [['a', 'model.0', 0]]);
});

test("graph output: a tensor that is a graph output and read by the next layer is that layer's one boundary", () => {
  const s = analyze(graphOutput());
  assert.deepEqual(table(s), [
    ['model.0', 0, ['a'], ['input']],
    ['model.1', 1, ['y'], ['0']],
  ]);
  // A graph output read by nobody is a boundary too.
  const m = graphOutput();
  m.proto.graph!.node[1]!.input = ['x'];
  assert.deepEqual(table(analyze(m))[0], ['model.0', 0, ['a'], ['input']]);
});

test('constant branch: tensors made only from initializers are not data, never boundaries, never head inputs', () => {
  const s = analyze(constantBranch());
  const data = Object.fromEntries([...s.graph.values.values()].map((v) => [v.name, s.isData(v)]));
  assert.deepEqual(data, { w: false, x: true, a: true, w1: false, y: true });
  assert.deepEqual(headInputs(s), [['a', 'model.0', 0]]);
  // The Identity moved into layer 0: its output crosses into layer 1 but is not data, so not a boundary.
  const m = constantBranch();
  m.proto.graph!.node[1]!.name = '/model.0/Identity';
  const moved = analyze(m);
  assert.deepEqual(table(moved), [
    ['model.0', 0, ['a'], ['input']],
    ['model.1', 1, ['y'], ['0']],
  ]);
});

test('no scopes: no layers and no head guessed from a graph that is no pyramid', () => {
  const m = diamond();
  m.proto.graph!.node.forEach((n, i) => (n.name = `node_${n.opType}_${i}`));
  const s = analyze(m);
  assert.deepEqual([s.layers, s.headPath, s.head, s.family], [[], null, [], 'unknown']);
  assert.equal(s.layerOf(s.graph.nodes[0]!), null);
});

test('an unsorted graph is analysed, and its order problem is kept for the commands that refuse it', () => {
  const m = linear();
  m.proto.graph!.node.reverse();
  const s = analyze(m);
  assert.match(s.orderProblem!, /\/model\.\d\//);
  assert.deepEqual(
    s.layers.map((l) => l.scope),
    ['model.0', 'model.1', 'model.2'],
  );
});
