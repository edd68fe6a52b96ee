import { ModelError } from '../errors.js';
import type { ModelProto } from '../onnx/proto.js';
import { ModuleBuilder, type TapeValue } from './builder.js';

/**
 * A one-input, one-output ONNX model (say a module as torch.onnx.export wrote it, fixtures/torch-form) recorded
 * as a module tape, so that it splices into a host graph exactly as onnx-attn's own forms do. The latency bench
 * uses it to put the exporter's form and the minimal form at the same points of the same model.
 */
export function tapeFromModel(model: ModelProto, opset: number): { tape: ModuleBuilder; output: TapeValue } {
  const g = model.graph;
  if (!g) throw new ModelError('the module model has no graph');
  const inits = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((i) => !inits.has(i.name));
  if (inputs.length !== 1 || g.output.length !== 1)
    throw new ModelError(`a module model has one input and one output; this one has ${inputs.length} and ${g.output.length}`);
  const tape = new ModuleBuilder(opset);
  const values = new Map<string, TapeValue>([[inputs[0]!.name, tape.input]]);
  for (const t of g.initializer) values.set(t.name, tape.tensor(t.name.replace(/[^\w.]/g, '_'), t));
  for (const n of g.node) {
    const ins = n.input.map((name) => {
      if (name === '') return null;
      const v = values.get(name);
      if (!v) throw new ModelError(`node '${n.name}' reads '${name}', which nothing before it defines`);
      return v;
    });
    const outs = tape.opRaw(n.opType, ins, n.output.length, n.attribute);
    n.output.forEach((name, i) => values.set(name, outs[i]!));
  }
  const output = values.get(g.output[0]!.name);
  if (!output) throw new ModelError(`the module model's output '${g.output[0]!.name}' is not produced`);
  return { tape, output };
}
