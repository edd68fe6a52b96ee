import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TensorProtoSchema } from '../onnx/proto.js';
import type { ModelProto } from '../onnx/proto.js';
import { tensorInfo } from '../onnx/tensor.js';
import type { ModuleBuilder, TapeValue } from './builder.js';

/**
 * A recorded module as a model of its own, x → y: what the golden tests run, the latency bench times and
 * `sweep` measures. Names follow the splice's pattern (`/<module>/<Op>_n`, `<node>_output_i`) so a reader sees
 * the same graph in both places.
 */

/** The lowest IR version that carries each opset (onnx/helper.py VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** A dimension of x: a size, a symbolic name or unknown (graph/graph.ts's Dim; build does not import the graph IR). */
type Dim = number | string | null;

export interface StandaloneOptions {
  /** Dims of x, e.g. [2, 16, 8, 8] or ['N', 16, 'H', 'W']. */
  inputDims: readonly Dim[];
  /** Name prefix of the nodes (the module name). */
  name: string;
  inputName?: string;
  outputName?: string;
}

export function standaloneModel(tape: ModuleBuilder, output: TapeValue, options: StandaloneOptions): ModelProto {
  const inputName = options.inputName ?? 'x';
  const outputName = options.outputName ?? 'y';
  const names = new Map<TapeValue, string>([[tape.input, inputName]]);
  const used = new Set<string>([inputName, outputName]);
  const unique = (base: string) => {
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
  const initializer = tape.constants.map((c) => {
    const name = unique(c.constant!.key);
    names.set(c, name);
    return create(TensorProtoSchema, { ...c.constant!.tensor, name });
  });
  const node = tape.nodes.map((t) => {
    const name = unique(`/${options.name}/${t.opType}`);
    t.outputs.forEach((v, i) => names.set(v, v === output ? outputName : unique(`${name}_output_${i}`)));
    return create(NodeProtoSchema, {
      name,
      opType: t.opType,
      input: t.inputs.map((v) => (v ? names.get(v)! : '')),
      output: t.outputs.map((v) => names.get(v)!),
      attribute: [...t.attributes],
    });
  });
  return create(ModelProtoSchema, {
    irVersion: BigInt(irVersionFor(tape.opset)),
    producerName: 'onnx-attn',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(tape.opset) })],
    graph: create(GraphProtoSchema, {
      name: options.name,
      node,
      initializer,
      input: [tensorInfo(inputName, options.inputDims)],
      output: [tensorInfo(outputName, options.inputDims)],
    }),
  });
}
