import type { Dim, Graph, Node, TensorType, Value } from '../graph/graph.js';
import { isWithin, labelFor, layerIndexOf, nodeScopes, type Scope } from './scope.js';

export type Family = 'yolov5' | 'yolov8' | 'yolo11' | 'rtdetr' | 'rtdetr-official' | 'unknown';

/** A module of the model as the locator sees it: a scope and the data tensors that leave it. */
export interface Layer {
  /** Display scope as the exporter wrote it: `model.23`, `model/backbone/res_layers.1`. */
  scope: string;
  /** Dotted module path used for matching. */
  path: string;
  /** yolov5/ultralytics module index, or null. */
  index: number | null;
  /** Module type recognised from the scope's structure (`C3`, `C2f`, `Detect`, ...), or `op:<Op>` for a lone op. */
  type: string;
  nodes: Node[];
  /** Data tensors produced inside and read outside (or graph outputs), in file order. */
  boundary: Value[];
  /** Layer indexes (or scopes) that feed this one. */
  from: string[];
  isHead: boolean;
}

export interface HeadInput {
  value: Value;
  /** Scope of the producing layer (`model.17`). */
  fromScope: string;
  fromIndex: number | null;
}

/**
 * What the locator knows of a model: the family, the scope of each node, which tensors are data, the layer
 * table and the head. Built once per loaded model; edits build a new one.
 */
export interface ModelStructure {
  graph: Graph;
  family: Family;
  types: Map<Value, TensorType>;
  scopes: Map<Node, Scope | null>;
  layers: Layer[];
  /** The head's scope (`model.24`, `model.decoder`), or null when it is found by structure alone. */
  headPath: string | null;
  head: HeadInput[];
  isData(v: Value): boolean;
  shapeOf(v: Value): Dim[] | null;
  /** The layer that contains a node, if any. */
  layerOf(node: Node): Layer | null;
  /** A cycle or unsorted nodes (Graph.orderProblem), found once: commands that edit or locate refuse such a graph. */
  orderProblem: string | null;
}

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

/** Data tensors from outside the head's scope read by its nodes, ordered P3, P4, P5 (finest first). */
function headInputsByScope(s: ModelStructure, headPath: string): HeadInput[] {
  const inHead = (n: Node) => {
    const sc = s.scopes.get(n);
    return sc ? isWithin(sc.path, headPath) : false;
  };
  const seen = new Set<Value>();
  const inputs: HeadInput[] = [];
  for (const n of s.graph.nodes) {
    if (!inHead(n)) continue;
    for (const v of n.inputs) {
      if (!v || seen.has(v) || !s.isData(v) || v.isGraphInput) continue;
      if (!v.producer || inHead(v.producer)) continue;
      // Image-sized side inputs (official RT-DETR's orig_target_sizes path) are not feature maps.
      const shape = s.shapeOf(v);
      if (shape && shape.length !== 4) continue;
      seen.add(v);
      const layer = s.layerOf(v.producer);
      inputs.push({ value: v, fromScope: layer?.scope ?? s.scopes.get(v.producer)?.segments.join('/') ?? v.producer.name, fromIndex: layer?.index ?? null });
    }
  }
  return orderLevels(s, inputs);
}

/** Finest level first: by H·W when known, else by producing layer, else by file order. */
function orderLevels(s: ModelStructure, inputs: HeadInput[]): HeadInput[] {
  const area = (h: HeadInput) => {
    const shape = s.shapeOf(h.value);
    const hw = shape && typeof shape[2] === 'number' && typeof shape[3] === 'number' ? shape[2] * shape[3] : null;
    return hw;
  };
  const pos = new Map(s.graph.nodes.map((n, i) => [n, i]));
  return [...inputs].sort((a, b) => {
    const aa = area(a);
    const ab = area(b);
    if (aa !== null && ab !== null && aa !== ab) return ab - aa;
    if (a.fromIndex !== null && b.fromIndex !== null && a.fromIndex !== b.fromIndex) return a.fromIndex - b.fromIndex;
    return (pos.get(a.value.producer!) ?? 0) - (pos.get(b.value.producer!) ?? 0);
  });
}

/**
 * Head of a model without scopes: walk back from the per-level maps where 4-D features are flattened, in
 * step across levels, while the levels stay alike (same producing op, same channel count); the first step
 * where they differ is where the neck hands each level to the head.
 */
function headInputsByShape(s: ModelStructure): HeadInput[] {
  const rank4 = (v: Value) => {
    const sh = s.shapeOf(v);
    return sh !== null && sh.length === 4 && s.isData(v);
  };
  const hw = (v: Value) => {
    const sh = s.shapeOf(v)!;
    return `${sh[2]}x${sh[3]}`;
  };
  // A pyramid level is the image divided by one stride (2 or more) on both sides, and still a map: YOLOv8's DFL
  // ([1,1,4,A]), the image itself and a global pool's 1x1 are not.
  const image = s.graph.inputs.map((v) => s.shapeOf(v)).find((sh) => sh?.length === 4 && typeof sh[2] === 'number' && typeof sh[3] === 'number');
  const onStrideGrid = (v: Value) => {
    if (v.isGraphInput) return false;
    const sh = s.shapeOf(v)!;
    if (sh[2] === 1 && sh[3] === 1) return false;
    if (!image || typeof sh[2] !== 'number' || typeof sh[3] !== 'number') return true;
    const [ih, iw] = [image[2] as number, image[3] as number];
    return ih % sh[2] === 0 && iw % sh[3] === 0 && ih / sh[2] === iw / sh[3] && ih / sh[2] >= 2;
  };
  // Levels: rank-4 maps read by a node whose output is not rank 4, on the way to a graph output.
  const cone = new Set<Node>();
  const stack = s.graph.outputs.map((o) => o.producer).filter((n): n is Node => n !== null);
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (cone.has(n)) continue;
    cone.add(n);
    for (const v of n.inputs) if (v?.producer) stack.push(v.producer);
  }
  const byLevel = new Map<string, Set<Value>>();
  for (const n of s.graph.nodes) {
    if (!cone.has(n)) continue;
    const x = n.inputs[0];
    const y = n.outputs[0];
    if (!x || !y || !rank4(x)) continue;
    const ys = s.shapeOf(y);
    if (ys && ys.length === 4) continue;
    if (!onStrideGrid(x)) continue;
    const set = byLevel.get(hw(x)) ?? new Set<Value>();
    set.add(x);
    byLevel.set(hw(x), set);
  }
  if (byLevel.size < 2) return [];
  // Each level's head nodes, grown backwards in lockstep while every level adds the same op types and the added
  // nodes feed only that level's head: the head is one block replicated per level, the neck is not.
  const levels = [...byLevel.values()].map((set) => new Set([...set].flatMap((v) => v.consumers().filter((c) => cone.has(c)))));
  const dataInputs = (n: Node) => n.inputs.filter((v): v is Value => v !== null && rank4(v));
  for (let step = 0; step < 256; step++) {
    const candidates = levels.map((head) => {
      const found = new Set<Node>();
      for (const n of head) for (const v of dataInputs(n)) if (v.producer && !head.has(v.producer)) found.add(v.producer);
      return found;
    });
    // Only nodes whose outputs stay inside this level's head; one branch may reach the neck before another does.
    const owned = candidates.map((c, i) => [...c].filter((n) => n.outputs.every((o) => o.consumers().every((u) => levels[i]!.has(u) || c.has(u)))));
    // The op types every level can add this step: the last level's neck may look private, but no other level has it.
    const common = new Map<string, number>();
    owned[0]!.forEach((n) => common.set(n.opType, (common.get(n.opType) ?? 0) + 1));
    for (const c of owned.slice(1)) {
      for (const [op, k] of common) common.set(op, Math.min(k, c.filter((n) => n.opType === op).length));
    }
    if ([...common.values()].every((k) => k === 0)) break;
    owned.forEach((c, i) => {
      const quota = new Map(common);
      for (const n of c) {
        const left = quota.get(n.opType) ?? 0;
        if (left > 0) {
          levels[i]!.add(n);
          quota.set(n.opType, left - 1);
        }
      }
    });
  }
  const inputs = levels.flatMap((head) => {
    const seen = new Set<Value>();
    for (const n of head) for (const v of dataInputs(n)) if (!v.producer || !head.has(v.producer)) seen.add(v);
    return [...seen];
  });
  if (!isPyramid(s, inputs)) return [];
  return orderLevels(
    s,
    inputs.map((value) => ({ value, fromScope: value.producer?.name ?? value.name, fromIndex: null })),
  );
}

/**
 * Without scopes, the head found by structure is trusted only when it looks like one: one map per level, each at
 * its own known H×W. Several maps at one size (RT-DETR's encoder feeds its decoder from one stride twice) or sizes
 * that are not known (dynamic H, W) mean the levels cannot be told apart, and a wrong guess would patch the wrong
 * tensors silently; `head` then says no head was found, and the user names the points.
 */
function isPyramid(s: ModelStructure, inputs: readonly Value[]): boolean {
  if (inputs.length < 2) return false;
  const sizes = inputs.map((v) => {
    const sh = s.shapeOf(v);
    return sh && typeof sh[2] === 'number' && typeof sh[3] === 'number' ? `${sh[2]}x${sh[3]}` : null;
  });
  return sizes.every((x) => x !== null) && new Set(sizes).size === sizes.length;
}

function detectYoloFamily(layers: Layer[], scopes: Map<Node, Scope | null>, headIndex: number): Family {
  const head = layers.find((l) => l.index === headIndex);
  if (!head) return 'unknown';
  const headPaths = head.nodes.map((n) => scopes.get(n)?.path ?? '');
  if (head.nodes.some((n) => n.opType === 'GridSample') || headPaths.some((p) => /\.decoder(\.|$)/.test(p))) return 'rtdetr';
  if (headPaths.some((p) => /\.dfl(\.|$)/.test(p) || /\.cv2\.\d+/.test(p))) {
    // YOLO11: Detect's class branch starts with a DWConv Sequential (cv3.i.0.0), and C2PSA/C3k appear in the body.
    const nested = headPaths.some((p) => /\.cv3\.\d+\.\d+\.\d+/.test(p));
    const yolo11Body = layers.some((l) => l.nodes.some((n) => /\.(attn|m\.\d+\.m\.\d+)(\.|$)/.test(scopes.get(n)?.path ?? '')));
    return nested || yolo11Body ? 'yolo11' : 'yolov8';
  }
  if (headPaths.some((p) => /^model\.\d+\.m\.\d+$/.test(p))) return 'yolov5';
  return 'unknown';
}

/** Names the module type of a layer from the scopes and ops inside it. */
function moduleType(layer: Layer, scopes: Map<Node, Scope | null>, family: Family): string {
  const rel = new Set(
    layer.nodes.map((n) => {
      const p = scopes.get(n)?.path ?? '';
      return p === layer.path ? '' : p.slice(layer.path.length + 1);
    }),
  );
  const has = (re: RegExp) => [...rel].some((p) => re.test(p));
  const ops = new Set(layer.nodes.map((n) => n.opType));
  if (layer.isHead) return family === 'rtdetr' || family === 'rtdetr-official' ? 'RTDETRDecoder' : 'Detect';
  if (family === 'rtdetr-official') {
    const last = layer.path.split('.').slice(-2).join('.');
    if (layer.path === 'postprocessor') return 'RTDETRPostProcessor';
    if (/res_layers/.test(last)) return 'Blocks';
    if (/fpn_blocks|pan_blocks/.test(last)) return 'CSPRepLayer';
    if (/^encoder\.\d+$/.test(last)) return 'TransformerEncoder';
  }
  if (has(/^stem\d/)) return 'HGStem';
  if (has(/^ec(\.|$)/) && has(/^sc(\.|$)/)) return 'HGBlock';
  if (has(/^attn(\.|$)/) || has(/\.attn(\.|$)/)) return 'C2PSA';
  if (ops.has('MatMul') && ops.has('Softmax')) return 'AIFI';
  if (has(/^cv3(\.|$)/) && has(/^m\.\d+/)) return 'C3';
  if (has(/^m(_\d+)?$/) && ops.has('MaxPool')) return 'SPPF';
  if (has(/^m\.\d+\.m\.\d+/) || (family === 'yolo11' && has(/^m\.\d+/) && ops.has('Split'))) return 'C3k2';
  if (has(/^cv1(\.|$)/) && has(/^m\.\d+/) && (ops.has('Split') || ops.has('Slice'))) return 'C2f';
  if (has(/^cv1(\.|$)/) && has(/^m\.\d+/) && ops.has('Add')) return 'RepC3';
  if (layer.nodes.length === 1 || ops.size === 1) {
    const op = layer.nodes.find((n) => n.opType !== 'Constant')?.opType ?? 'Constant';
    if (op === 'Resize' || op === 'Upsample') return 'Upsample';
    if (op === 'Concat') return 'Concat';
    if (op === 'Conv') {
      const c = layer.nodes.find((n) => n.opType === 'Conv')!;
      return c.attrInt('group', 1) > 1 ? 'DWConv' : 'Conv';
    }
    return `op:${op}`;
  }
  if (ops.has('Resize') && [...ops].every((o) => o === 'Resize' || o === 'Constant')) return 'Upsample';
  if (ops.has('Conv') && [...ops].every((o) => ['Conv', 'Sigmoid', 'Mul', 'Relu'].includes(o))) {
    const c = layer.nodes.find((n) => n.opType === 'Conv')!;
    return c.attrInt('group', 1) > 1 ? 'DWConv' : 'Conv';
  }
  return 'Module';
}
