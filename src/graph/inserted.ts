import type { Graph, Node } from './graph.js';

/**
 * The modules onnx-attn inserted into a graph, found from the graph itself (nodes under `/onnx_attn/<k>_<module>/`),
 * with what surrounds each: the tensor it reads and who made it, and who reads its output now. What the HTML
 * report draws as "before and after".
 */
export interface InsertedModule {
  k: number;
  module: string;
  nodes: { name: string; opType: string }[];
  input: string;
  /** The node producing the input (`graph input` when none). */
  producer: { name: string; opType: string } | null;
  output: string;
  /** Readers of the module output outside the module (the rewired consumers). */
  consumers: { name: string; opType: string }[];
  /** Readers of the input left as they were (not rewired). */
  untouched: { name: string; opType: string }[];
  isGraphOutput: boolean;
}

const SCOPE = /^\/onnx_attn\/(\d+)_([^/]+)\//;

export function insertedModules(graph: Graph): InsertedModule[] {
  const groups = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    const m = SCOPE.exec(n.name);
    if (!m) continue;
    const key = `${m[1]}_${m[2]}`;
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  const brief = (n: Node) => ({ name: n.name, opType: n.opType });
  /** Readers outside a module, each other inserted module counted once (modules stacked at one point). */
  const readers = (nodes: Node[]) => {
    const seen = new Map<string, { name: string; opType: string }>();
    for (const n of nodes) {
      const m = SCOPE.exec(n.name);
      const r = m ? { name: `/onnx_attn/${m[1]}_${m[2]}`, opType: `${m[2]} (k=${m[1]})` } : brief(n);
      if (!seen.has(r.name)) seen.set(r.name, r);
    }
    return [...seen.values()];
  };
  const found: InsertedModule[] = [];
  for (const [key, nodes] of groups) {
    const inside = new Set(nodes);
    const input = nodes.flatMap((n) => n.inputs).find((v) => v && !v.initializer && !(v.producer && inside.has(v.producer)));
    const output = nodes.flatMap((n) => n.outputs).find((v) => v.isGraphOutput || v.consumers().some((c) => !inside.has(c)));
    if (!input || !output) continue;
    const [k, module] = [Number(key.slice(0, key.indexOf('_'))), key.slice(key.indexOf('_') + 1)];
    found.push({
      k,
      module,
      nodes: nodes.map(brief),
      input: input.name,
      producer: input.producer ? brief(input.producer) : null,
      output: output.name,
      consumers: readers(output.consumers().filter((c) => !inside.has(c))),
      untouched: readers(input.consumers().filter((c) => !inside.has(c))),
      isGraphOutput: output.isGraphOutput,
    });
  }
  return found.sort((a, b) => a.k - b.k);
}
