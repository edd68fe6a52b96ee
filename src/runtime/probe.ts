import { create } from '@bufbuild/protobuf';
import type { Graph, Value } from '../graph/graph.js';
import { encodeModel } from '../onnx/save.js';
import { ValueInfoProtoSchema } from '../onnx/proto.js';
import { makeInputs, graphInputSpecs } from './inputs.js';
import { openSession } from './session.js';

export interface ProbeOptions {
  /** Sizes for dynamic input dims, by input name. */
  inputShapes?: Record<string, number[]>;
}

/**
 * Measures the shapes static inference could not reach (RT-DETR-l's computed Pad loses H and W): one CPU run of
 * the model with those tensors exposed as extra graph outputs. The model itself is left as it was: the outputs
 * are added to the protobuf only while it is encoded. Runs with the same seeded inputs `validate` uses.
 */
export async function probeShapes(graph: Graph, values: readonly Value[], options: ProbeOptions = {}): Promise<Map<Value, number[]>> {
  const wanted = values.filter((v) => !v.isGraphOutput && !v.initializer);
  const outputs = graph.model.proto.graph!.output;
  const added = wanted.map((v) => create(ValueInfoProtoSchema, { name: v.name }));
  let bytes: Uint8Array;
  outputs.push(...added);
  try {
    bytes = encodeModel(graph.model);
  } finally {
    outputs.splice(outputs.length - added.length, added.length);
  }
  const specs = graphInputSpecs(graph, options.inputShapes);
  // No graph optimisation: fusions could drop the intermediate tensors asked for.
  const session = await openSession(bytes, { graphOptimizationLevel: 'disabled' }, 'model (shape probe)');
  try {
    const result = await session.run(makeInputs(specs, { seed: 0 }));
    const byName = new Map(result.map((o) => [o.name, o.dims]));
    const shapes = new Map<Value, number[]>();
    for (const v of values) {
      const dims = byName.get(v.name);
      if (dims) shapes.set(v, dims);
    }
    return shapes;
  } finally {
    await session.release();
  }
}
