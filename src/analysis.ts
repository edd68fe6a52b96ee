import { Graph, type Dim, type TensorType, type Value } from './graph/graph.js';
import { inferShapes } from './graph/shapes.js';
import { analyzeStructure, type ModelStructure } from './locate/structure.js';
import type { OnnxModel } from './onnx/load.js';

/** How `analyzeModel` types a model's tensors (the options of `inspect` other than `at`). */
export interface AnalyzeOptions {
  /** Run onnxruntime once when static inference leaves boundary dims unknown (default true). */
  probe?: boolean;
  /** Sizes for dynamic input dims, by input name: the model is analysed as if its inputs had these shapes. */
  inputShapes?: Record<string, number[]>;
  /** Sizes for the probe run only (insert --shape): the dims stay dynamic, as the patched model must. */
  probeShapes?: Record<string, number[]>;
  /** Shapes already measured (by tensor name), e.g. from analysing the unpatched model: no second probe. */
  knownShapes?: ReadonlyMap<string, Dim[]>;
}

/** A loaded model with its graph index, inferred types and structure: what every command starts from. */
export interface AnalyzedModel {
  model: OnnxModel;
  graph: Graph;
  structure: ModelStructure;
  shapeSource: 'static' | 'probe';
}

/**
 * Indexes a model and types its tensors: declared shapes plus static inference, then (when asked) one
 * onnxruntime probe for the layer boundaries that inference could not reach (RT-DETR-l's computed Pad).
 */
export async function analyzeModel(model: OnnxModel, options: AnalyzeOptions = {}): Promise<AnalyzedModel> {
  const graph = Graph.fromModel(model);
  const types = inferShapes(graph, options.inputShapes ? { inputShapes: options.inputShapes } : {});
  if (options.knownShapes) {
    for (const [name, shape] of options.knownShapes) {
      const v = graph.value(name);
      const prev = v ? types.get(v) : undefined;
      if (v && (!prev?.shape || prev.shape.some((d) => d === null))) types.set(v, { elemType: prev?.elemType ?? v.declared?.elemType ?? 1, shape });
    }
  }
  let structure = analyzeStructure(graph, types);
  let shapeSource: 'static' | 'probe' = 'static';
  const unknown = new Set<Value>();
  const needs = (v: Value) => {
    const sh = structure.shapeOf(v);
    return sh === null || sh.some((d) => d === null);
  };
  for (const l of structure.layers) for (const v of l.boundary) if (needs(v)) unknown.add(v);
  for (const h of structure.head) if (needs(h.value)) unknown.add(h.value);
  // onnxruntime refuses a graph with a cycle; inspect still shows what static analysis knows.
  if (unknown.size > 0 && options.probe !== false && !structure.orderProblem) {
    // Loaded only here: `--help` and inspect of a static model never start onnxruntime.
    const { probeShapes } = await import('./runtime/probe.js');
    const sizes = options.inputShapes ?? options.probeShapes;
    const probed = await probeShapes(graph, [...unknown], sizes ? { inputShapes: sizes } : {});
    // A probe runs one input size. With dynamic inputs left free, only the channel count is a property of the
    // model; the batch and the spatial dims would be those of the probe's input, so they stay unknown.
    const free = graph.inputs.some((i) => !i.initializer && !options.inputShapes?.[i.name] && (i.declared?.shape ?? []).some((d) => typeof d !== 'number'));
    for (const [v, dims] of probed) {
      const prev: TensorType | undefined = types.get(v);
      const known = prev?.shape?.length === dims.length ? prev.shape : null;
      const shape = dims.map((d, i) => (known && known[i] !== null ? known[i]! : free && i !== 1 ? null : d));
      types.set(v, { elemType: prev?.elemType ?? v.declared?.elemType ?? 1, shape });
    }
    structure = analyzeStructure(graph, types);
    shapeSource = 'probe';
  }
  return { model, graph, structure, shapeSource };
}
