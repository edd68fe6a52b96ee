import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { OnnxModel } from '../onnx/load.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema } from '../onnx/proto.js';
import { tensorInfo } from '../onnx/tensor.js';
import { Graph, type Node } from './graph.js';

/** Topological order at scale and against a reference: the heap-based Kahn must pick what the simple one picks. */

/** A model of Relu/Add nodes `n<i>`; `edges[i]` lists the nodes whose outputs node i reads (none: the input x). */
function dag(edges: number[][], fileOrder: number[]): OnnxModel {
  const node = (i: number) =>
    create(NodeProtoSchema, {
      name: `n${i}`,
      opType: edges[i]!.length > 1 ? 'Add' : 'Relu',
      input: edges[i]!.length === 0 ? ['x'] : edges[i]!.map((p) => `t${p}`),
      output: [`t${i}`],
    });
  const sinks = edges.map((_, i) => i).filter((i) => !edges.some((e) => e.includes(i)));
  const proto = create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })],
    graph: create(GraphProtoSchema, {
      name: 'g',
      node: fileOrder.map(node),
      input: [tensorInfo('x', [1])],
      output: sinks.map((i) => tensorInfo(`t${i}`, [1])),
    }),
  });
  return { proto, path: null, externalData: new Map(), hadExternalData: false };
}

/** The definition: repeatedly take the earliest node in the file whose producers are all placed. */
function referenceOrder(g: Graph): Node[] {
  const placed = new Set<Node>();
  const order: Node[] = [];
  while (order.length < g.nodes.length) {
    const next = g.nodes.find((n) => !placed.has(n) && n.inputs.every((v) => !v?.producer || placed.has(v.producer)));
    assert.ok(next, 'the reference found no ready node');
    placed.add(next);
    order.push(next);
  }
  return order;
}

function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const names = (nodes: readonly Node[]) => nodes.map((n) => n.name);

test('a 20,000-node chain stored backwards comes out producers first, in chain order', () => {
  const n = 20_000;
  const edges = Array.from({ length: n }, (_, i) => (i === 0 ? [] : [i - 1]));
  const g = Graph.fromModel(
    dag(
      edges,
      edges.map((_, i) => n - 1 - i),
    ),
  );
  const order = g.topologicalOrder();
  assert.equal(order.length, n);
  assert.deepEqual(names(order.slice(0, 3)), ['n0', 'n1', 'n2']);
  assert.equal(order[n - 1]!.name, `n${n - 1}`);
  assert.ok(order.every((node, i) => node.name === `n${i}`));
});

test('a diamond read twice by one node (x + x) and a wide fan-in keep the reference order', () => {
  // n0 → n1, n2 (both read n0); n3 reads n1 twice; n4 reads n2, n3, n0.
  const edges = [[], [0], [0], [1, 1], [2, 3, 0]];
  for (const fileOrder of [
    [0, 1, 2, 3, 4],
    [4, 3, 2, 1, 0],
    [2, 0, 4, 1, 3],
  ]) {
    const g = Graph.fromModel(dag(edges, fileOrder));
    assert.deepEqual(names(g.topologicalOrder()), names(referenceOrder(g)), `file order ${fileOrder}`);
  }
});

test('random DAGs in shuffled file order: the same order as the reference, node for node', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const n = 60 + seed * 7;
    let s = seed * 7919;
    const rand = (k: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s % k;
    };
    // Each node reads 0-3 earlier nodes (repeats allowed); the file stores them shuffled.
    const edges = Array.from({ length: n }, (_, i) => (i === 0 ? [] : Array.from({ length: rand(4) }, () => rand(i))));
    const g = Graph.fromModel(dag(edges, shuffled(n, seed)));
    assert.deepEqual(names(g.topologicalOrder()), names(referenceOrder(g)), `seed ${seed}`);
  }
});
