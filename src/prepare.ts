import { Graph } from './graph/graph.js';
import { insertedModules, type InsertedModule } from './graph/inserted.js';
import { inferShapes } from './graph/shapes.js';
import { analyzeStructure } from './locate/structure.js';
import { loadModel, type OnnxModel } from './onnx/load.js';
import { encodeModel } from './onnx/save.js';
import { readProvenance } from './provenance.js';
import { conformInputs, graphInputSpecs, type InputSpec, type InputTensor } from './runtime/inputs.js';
import { sourceName, type ModelSource, type RuntimeOptions } from './runtime/shared.js';
import { inputSets } from './runtime/sources.js';

/** A model loaded and ready to run: its bytes, input specs, family and what onnx-attn inserted into it. */
export interface PreparedModel {
  path: string;
  model: OnnxModel;
  bytes: Uint8Array;
  specs: InputSpec[];
  family: string;
  inserted: InsertedModule[];
  provenance: Record<string, unknown>[];
}

export async function prepareModel(source: ModelSource, shapes: Record<string, number[]> = {}): Promise<PreparedModel> {
  const model = typeof source === 'string' ? await loadModel(source) : source;
  const file = sourceName(source);
  const graph = Graph.fromModel(model);
  const specs = graphInputSpecs(graph, shapes);
  let family = 'unknown';
  try {
    family = analyzeStructure(graph, inferShapes(graph, { inputShapes: shapes })).family;
  } catch {
    // The family only picks the detection decoder; a model we cannot analyse is decoded by its output shapes.
  }
  return {
    path: file,
    model,
    bytes: encodeModel(model),
    specs,
    family,
    inserted: insertedModules(graph),
    provenance: readProvenance(model.proto.metadataProps) as Record<string, unknown>[],
  };
}

export async function loadInputs(prepared: PreparedModel, options: RuntimeOptions): Promise<InputTensor[][]> {
  // Every source (a JSON file, images) is fed in the dtype the model declares: float16 models included.
  return conformInputs(prepared.specs, await inputSets(options.inputs ?? 'random', prepared.specs, options.seed ?? 0));
}
