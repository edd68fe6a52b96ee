/**
 * Node order: the checks and the sort that ONNX's "nodes in topological order" rule needs, linear in nodes + edges
 * (the sort adds a heap's log). Written over the few members they read, so they need no Graph.
 */
import { ModelError } from '../errors.js';

/** What the order algorithms read of a node: its name and op for messages, and the use-def links. */
export interface OrderNode<N> {
  name: string;
  opType: string;
  inputs: readonly ({ producer: N | null; name: string } | null)[];
  outputs: readonly { uses: readonly { node: N }[] }[];
}

export function orderProblem<N extends OrderNode<N>>(nodes: readonly N[]): string | null {
  const label = (n: N) => `'${n.name || `${n.opType} #${nodes.indexOf(n)}`}'`;
  const cycle = findCycle(nodes);
  if (cycle) {
    const shown = cycle.length > 6 ? [...cycle.slice(0, 5).map(label), '...'] : cycle.map(label);
    return `the graph has a cycle through node ${label(cycle[0]!)} (${[...shown, label(cycle[0]!)].join(' -> ')}); an ONNX graph must be acyclic`;
  }
  const position = new Map(nodes.map((n, i) => [n, i]));
  for (const [i, n] of nodes.entries()) {
    const late = n.inputs.find((v) => v?.producer && position.get(v.producer)! > i);
    if (late) {
      return `node ${label(n)} reads '${late.name}' before node ${label(late.producer!)} produces it; ONNX requires nodes in topological order (onnx's checker says the same); re-export or sort the model`;
    }
  }
  return null;
}

/** The nodes of one cycle, in data-flow order, or null (iterative three-colour DFS: linear in nodes + edges). */
export function findCycle<N extends OrderNode<N>>(nodes: readonly N[]): N[] | null {
  const state = new Map<N, 1 | 2>(); // 1: on the DFS path, 2: finished
  for (const root of nodes) {
    if (state.has(root)) continue;
    // Walks producers: a node's predecessors are the producers of its inputs.
    const path: { node: N; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 1);
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      const inputs = top.node.inputs;
      let pushed = false;
      while (top.next < inputs.length) {
        const p = inputs[top.next++]?.producer;
        if (!p) continue;
        const st = state.get(p);
        if (st === 1) {
          // p is on the path: the cycle is p ... top, reversed into data-flow order (p feeds ... feeds top feeds p).
          const at = path.findIndex((f) => f.node === p);
          return path
            .slice(at)
            .map((f) => f.node)
            .reverse();
        }
        if (st === undefined) {
          state.set(p, 1);
          path.push({ node: p, next: 0 });
          pushed = true;
          break;
        }
      }
      if (!pushed) {
        state.set(top.node, 2);
        path.pop();
      }
    }
  }
  return null;
}

/**
 * Nodes in an order where every producer comes before its consumers (Kahn, stable to file order: of the nodes
 * ready at each step, the earliest in the file goes first). Linear in nodes + edges apart from the heap's log.
 */
export function topologicalOrder<N extends OrderNode<N>>(nodes: readonly N[]): N[] {
  const position = new Map<N, number>();
  nodes.forEach((n, i) => position.set(n, i));
  // Distinct input values with a producer in the graph: a node is ready once each of their producers is placed.
  const indegree = new Int32Array(nodes.length);
  nodes.forEach((n, i) => {
    for (const v of new Set(n.inputs)) if (v?.producer && position.has(v.producer)) indegree[i]!++;
  });
  const ready = new MinHeap();
  for (let i = 0; i < nodes.length; i++) if (indegree[i] === 0) ready.push(i);
  const order: N[] = [];
  while (ready.size > 0) {
    const n = nodes[ready.pop()]!;
    order.push(n);
    const released = new Set<N>();
    for (const o of n.outputs) for (const u of o.uses) released.add(u.node);
    for (const c of released) {
      const ci = position.get(c);
      if (ci === undefined) continue;
      const producersFromN = new Set(c.inputs.filter((v) => v?.producer === n)).size;
      indegree[ci] = indegree[ci]! - producersFromN;
      if (indegree[ci] === 0) ready.push(ci);
    }
  }
  if (order.length !== nodes.length) {
    const ordered = new Set(order);
    const stuck = nodes
      .filter((n) => !ordered.has(n))
      .slice(0, 3)
      .map((n) => n.name || n.opType);
    throw new ModelError(`the graph has a cycle (through ${stuck.join(', ')}); it is not a valid ONNX model`);
  }
  return order;
}

/** A binary min-heap of node positions: the ready node earliest in the file comes out first. */
class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(x: number): void {
    const a = this.items;
    let i = a.push(x) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= x) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
