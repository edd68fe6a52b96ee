/**
 * The layer table of a model: its nodes grouped by module scope (`model.N` for YOLOv5/ultralytics, the blocks of an
 * official RT-DETR), each layer's boundary tensors and inputs, the family and the head (head.ts, family.ts).
 */
import type { Graph, Node, TensorType, Value } from '../graph/graph.js';
import { detectYoloFamily, moduleType } from './family.js';
import { headInputsByScope, headInputsByShape } from './head.js';
import type { Family, Layer, ModelStructure } from './model-structure.js';
import { isWithin, labelFor, layerIndexOf, nodeScopes } from './scope.js';

export type { Family, HeadInput, Layer, ModelStructure } from './model-structure.js';

/** A tensor is data unless it derives only from initializers and Constant nodes (export-conventions 1.6, 1.7). */
export function dataPredicate(): (v: Value) => boolean {
  const memo = new Map<Value, boolean>();
  // Values whose inputs are being resolved: meeting one again means a cycle, which counts as data (never constant).
  const open = new Set<Value>();
  const isConst = (start: Value): boolean => {
    // Iterative DFS: real graphs have chains thousands of nodes deep.
    const stack: Value[] = [start];
    while (stack.length > 0) {
      const v = stack[stack.length - 1]!;
      if (memo.has(v)) {
        stack.pop();
        continue;
      }
      if (v.isGraphInput) memo.set(v, false);
      else if (v.initializer) memo.set(v, true);
      else if (!v.producer) memo.set(v, false);
      else {
        const ins = v.producer.inputs.filter((x): x is Value => x !== null);
        if (!open.has(v)) {
          open.add(v);
          const pending = ins.filter((x) => !memo.has(x) && !open.has(x));
          if (pending.length > 0) {
            stack.push(...pending);
            continue;
          }
        }
        const op = v.producer.opType;
        const random = op.startsWith('Random');
        memo.set(v, !random && ins.every((x) => memo.get(x) === true));
        open.delete(v);
      }
      stack.pop();
    }
    return memo.get(start)!;
  };
  return (v) => !isConst(v);
}

export function analyzeStructure(graph: Graph, types: Map<Value, TensorType>): ModelStructure {
  const scopes = nodeScopes(graph.nodes);
  const isData = dataPredicate();
  const shapeOf = (v: Value) => types.get(v)?.shape ?? v.declared?.shape ?? null;

  const hasOfficial = [...scopes.values()].some((s) => s && /^model\.(backbone|encoder|decoder)(\.|$)/.test(s.path));
  const layerPaths = new Map<number, Node[]>();
  for (const [n, s] of scopes) {
    const i = s ? layerIndexOf(s.path) : null;
    if (i !== null) {
      const list = layerPaths.get(i) ?? [];
      list.push(n);
      layerPaths.set(i, list);
    }
  }

  let layers: Layer[] = [];
  let headPath: string | null = null;
  let family: Family = 'unknown';
  const sampleScope = (nodes: Node[]) => scopes.get(nodes[0]!) ?? null;

  if (hasOfficial) {
    family = 'rtdetr-official';
    headPath = 'model.decoder';
    const groups = new Map<string, Node[]>();
    for (const [n, s] of scopes) {
      if (!s) continue;
      let key: string | null = null;
      const m = /^(model\.(?:backbone|encoder)\.[^.]+(?:\.\d+)?)(?:\.|$)/.exec(s.path);
      if (m) key = m[1]!;
      else if (isWithin(s.path, 'model.decoder')) key = 'model.decoder';
      else if (isWithin(s.path, 'postprocessor')) key = 'postprocessor';
      if (!key) continue;
      const list = groups.get(key) ?? [];
      list.push(n);
      groups.set(key, list);
    }
    for (const [path, nodes] of groups) {
      layers.push(makeLayer(path, labelFor(path, sampleScope(nodes)), null, nodes));
    }
  } else if (layerPaths.size > 0) {
    const headIndex = Math.max(...layerPaths.keys());
    headPath = `model.${headIndex}`;
    for (const i of [...layerPaths.keys()].sort((a, b) => a - b)) {
      layers.push(makeLayer(`model.${i}`, `model.${i}`, i, layerPaths.get(i)!));
    }
    family = detectYoloFamily(layers, scopes, headIndex);
  }

  function makeLayer(path: string, scope: string, index: number | null, nodes: Node[]): Layer {
    const inside = new Set(nodes);
    const boundary: Value[] = [];
    const from = new Set<string>();
    for (const n of nodes) {
      for (const out of n.outputs) {
        if (!isData(out)) continue;
        if (out.isGraphOutput || out.consumers().some((c) => !inside.has(c))) boundary.push(out);
      }
      for (const v of n.inputs) {
        if (!v || !isData(v) || (v.producer && inside.has(v.producer))) continue;
        if (v.isGraphInput) from.add('input');
        else if (v.producer) {
          const s = scopes.get(v.producer);
          const i = s ? layerIndexOf(s.path) : null;
          from.add(i !== null && index !== null ? String(i) : s ? s.segments.join('/') : v.producer.name);
        }
      }
    }
    return { scope, path, index, type: '', nodes, boundary, from: [...from], isHead: path === headPath };
  }

  for (const l of layers) l.type = moduleType(l, scopes, family);
  // Official RT-DETR: list the blocks in model order (backbone, encoder, decoder, postprocessor).
  if (family === 'rtdetr-official') {
    const order = (l: Layer) => Math.min(...l.nodes.map((n) => graph.nodes.indexOf(n)));
    layers = layers.sort((a, b) => order(a) - order(b));
  }

  const layerByNode = new Map<Node, Layer>();
  for (const l of layers) for (const n of l.nodes) layerByNode.set(n, l);

  const structure: ModelStructure = {
    graph,
    family,
    types,
    scopes,
    layers,
    headPath,
    head: [],
    isData,
    shapeOf,
    layerOf: (n) => layerByNode.get(n) ?? null,
    orderProblem: graph.orderProblem(),
  };
  structure.head = headPath ? headInputsByScope(structure, headPath) : headInputsByShape(structure);
  return structure;
}
