import { Graph, type TensorType, type Value } from './graph/graph.js';
import { inferShapes } from './graph/shapes.js';
import type { OnnxModel } from './onnx/load.js';

/**
 * Problems found in a model's structure; empty means the model is well-formed. This is the structural check of a
 * patched model; running it against the original is src/runtime/check-run.ts.
 *
 * `modules`: the input and output tensor of each inserted module, whose shapes must agree. With `inputType` (the
 * input's type from the analysis that placed the module) only the module's own nodes are inferred, not the graph.
 */
export function checkStructure(model: OnnxModel, modules: { input: string; output: string; inputType?: TensorType | null }[] = []): string[] {
  const problems: string[] = [];
  let graph: Graph;
  try {
    // Indexed afresh from the protobuf as it will be written (the wiring was committed to it), so single assignment
    // and defined inputs are checked on what the file will hold. Not round-tripped through bytes: on a node-rich
    // model (3,000 nodes) encoding and decoding the structure took longer than the whole edit.
    graph = Graph.fromModel(model);
  } catch (e) {
    return [(e as Error).message];
  }
  const seen = new Set(graph.inputs);
  for (const v of graph.values.values()) if (v.initializer) seen.add(v);
  for (const n of graph.nodes) {
    for (const v of n.inputs) {
      if (v && !seen.has(v)) problems.push(`node '${n.name}' reads '${v.name}' before it is produced (nodes are not in topological order)`);
    }
    for (const o of n.outputs) seen.add(o);
  }
  if (graph.opset('') === 0) problems.push('the model imports no ai.onnx opset');
  const names = new Set<string>();
  for (const n of graph.nodes) {
    if (n.name && names.has(n.name)) problems.push(`node name '${n.name}' is used twice`);
    names.add(n.name);
  }
  if (modules.length > 0) {
    // Every inserted module keeps its input's shape: its output stands in for the input in the rest of the model.
    const seeded = modules.every((m) => m.inputType !== undefined);
    const given = new Map(seeded ? modules.flatMap((m) => (m.inputType ? [[m.input, m.inputType] as const] : [])) : []);
    const outputs = modules.map((m) => graph.value(m.output)).filter((v): v is Value => v !== undefined);
    const types = seeded ? inferShapes(graph, { only: outputs, given }) : inferShapes(graph);
    for (const m of modules) {
      const x = graph.value(m.input);
      const y = graph.value(m.output);
      const a = x ? types.get(x)?.shape : null;
      const b = y ? types.get(y)?.shape : null;
      if (a && b && JSON.stringify(a) !== JSON.stringify(b)) problems.push(`module output '${m.output}' has shape [${b}], its input '${m.input}' has [${a}]`);
    }
  }
  return problems;
}
