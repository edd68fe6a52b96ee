/** The driver of shape inference: seeds what is known, runs the op rules in topological order, merges declarations. */
import type { Graph, Node, TensorType, Value } from '../graph.js';
import { RuleContext, type RuleOutput } from './context.js';
import { cleanDim, cleanShape, isNum, numel } from './dims.js';
import { fromTensor, MAX_DATA, type Known } from './fold.js';
import { RULES } from './rules/index.js';

export interface InferOptions {
  /** Concrete sizes for graph inputs, by input name; they replace the declared (possibly symbolic) dims. */
  inputShapes?: Record<string, number[]>;
  /**
   * Infer only what these values need: the nodes they depend on, back to graph inputs, initializers and `given`
   * values. Every other value keeps its declared type. (Shapes flow forward only, so the values asked for come out
   * as a whole-graph inference would give them, when `given` holds what that inference gives too.)
   */
  only?: readonly Value[];
  /** Types already known by value name (an earlier inference of the same tensors): taken as they are, values unread. */
  given?: ReadonlyMap<string, TensorType>;
}

function fromDeclared(t: TensorType | null): Known | null {
  return t ? { elemType: Number.isInteger(t.elemType) ? t.elemType : 0, shape: cleanShape(t.shape), data: null } : null;
}

/** Inferred knowledge refined by the declared type: known sizes beat symbols, symbols beat unknowns. */
function merge(o: RuleOutput | null, dec: Known | null): Known {
  if (!o) return dec ?? { elemType: 0, shape: null, data: null };
  let shape = cleanShape(o.shape);
  if (dec?.shape) {
    if (!shape) shape = dec.shape;
    else if (shape.length === dec.shape.length) {
      shape = shape.map((d, i) => (isNum(d) ? d : isNum(dec.shape![i]) ? dec.shape![i] : (d ?? dec.shape![i]!)));
    }
  }
  const k: Known = { elemType: (Number.isInteger(o.elemType) && o.elemType > 0 ? o.elemType : 0) || dec?.elemType || 0, shape };
  const n = numel(shape);
  if (Array.isArray(o.data) && o.data.length === n && n <= MAX_DATA) {
    k.data = o.data.map((x) => (typeof x === 'string' ? x : isNum(x) && Number.isFinite(x) ? x : null));
  } else if (o.data === undefined && o.src) k.src = o.src;
  else k.data = null;
  return k;
}

/**
 * Types every value it can: graph inputs (with `inputShapes` applied), initializers, node outputs. Declared
 * value_info fills in what inference cannot reach; inferred sizes refine declared unknown dims. Never throws.
 */
export function inferShapes(graph: Graph, options: InferOptions = {}): Map<Value, TensorType> {
  const known = new Map<Value, Known>();
  try {
    run(graph, options, known);
  } catch {
    // Keep what was inferred so far; the rest falls back to declarations below.
  }
  const result = new Map<Value, TensorType>();
  try {
    for (const v of graph.values.values()) {
      if (!v.name) continue;
      const k = known.get(v) ?? fromDeclared(v.declared);
      if (k && (k.elemType > 0 || k.shape)) result.set(v, { elemType: k.elemType, shape: k.shape ? [...k.shape] : null });
    }
  } catch {
    // A graph so damaged its values cannot be listed: return what there is.
  }
  return result;
}

/** The nodes `targets` depend on, walking producers back and stopping at `stop` values. */
function coneOf(targets: readonly Value[], stop: ReadonlySet<Value>): Set<Node> {
  const cone = new Set<Node>();
  const stack = targets.filter((v) => !stop.has(v)).map((v) => v.producer);
  while (stack.length > 0) {
    const n = stack.pop();
    if (!n || cone.has(n)) continue;
    cone.add(n);
    for (const v of n.inputs) if (v?.producer && !stop.has(v)) stack.push(v.producer);
  }
  return cone;
}

function run(graph: Graph, options: InferOptions, known: Map<Value, Known>): void {
  for (const v of graph.values.values()) {
    // A sparse initializer's stand-in has no values: its type and shape are known, its data is not read.
    if (v.initializer) known.set(v, v.sparse ? { ...fromTensor(v.initializer), src: undefined, data: null } : fromTensor(v.initializer));
  }
  const given = options.inputShapes ?? {};
  for (const v of graph.inputs) {
    const dec = fromDeclared(v.declared);
    const dims = Object.hasOwn(given, v.name) ? given[v.name] : undefined;
    if (Array.isArray(dims)) {
      const shape = cleanShape(dims.map((d, i) => cleanDim(d) ?? dec?.shape?.[i] ?? null));
      known.set(v, { elemType: dec?.elemType ?? known.get(v)?.elemType ?? 0, shape, data: null });
    } else if (!v.initializer && dec) known.set(v, dec);
  }
  const seeded = new Set<Value>();
  for (const [name, t] of options.given ?? []) {
    const v = graph.value(name);
    if (!v || v.initializer) continue;
    known.set(v, { elemType: Number.isInteger(t.elemType) ? t.elemType : 0, shape: cleanShape(t.shape), data: null });
    seeded.add(v);
  }
  let order: Node[];
  try {
    order = graph.topologicalOrder();
  } catch {
    order = graph.nodes; // a cycle: file order still types the acyclic part
  }
  if (options.only) {
    const needed = coneOf(options.only, seeded);
    order = order.filter((n) => needed.has(n));
  }
  const opset = graph.opset('');
  for (const node of order) {
    let outs: (RuleOutput | null)[] = [];
    const op = node.opType;
    if ((node.domain === '' || node.domain === 'ai.onnx') && Object.hasOwn(RULES, op)) {
      try {
        const r = RULES[op]!(new RuleContext(node, opset, graph.model, known));
        outs = Array.isArray(r) ? r : [r];
      } catch {
        outs = []; // wrong attribute types, inconsistent inputs: leave these outputs to their declarations
      }
    }
    for (const v of node.outputs) {
      if (v.producer !== node) continue;
      let k: Known;
      try {
        k = merge(outs[v.producerIndex] ?? null, fromDeclared(v.declared));
      } catch {
        k = fromDeclared(v.declared) ?? { elemType: 0, shape: null, data: null };
      }
      known.set(v, k);
    }
  }
}
