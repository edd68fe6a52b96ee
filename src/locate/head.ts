/**
 * The head of a model: the feature maps its detection head reads, finest level first. By scope when the exporter
 * kept module names (the head's scope is known), by structure otherwise (the per-level blocks the neck hands over).
 */
import type { Node, Value } from '../graph/graph.js';
import type { HeadInput, ModelStructure } from './model-structure.js';
import { isWithin } from './scope.js';

/** Data tensors from outside the head's scope read by its nodes, ordered P3, P4, P5 (finest first). */
export function headInputsByScope(s: ModelStructure, headPath: string): HeadInput[] {
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
export function headInputsByShape(s: ModelStructure): HeadInput[] {
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
