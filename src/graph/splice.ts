import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema } from '../onnx/proto.js';
import type { ModuleBuilder, TapeValue } from '../modules/builder.js';
import type { Graph, Node, Value } from './graph.js';

/** Where a recorded module goes: after `value`, read by `consumers` from now on. */
export interface SplicePoint {
  value: Value;
  /** Nodes whose reads of `value` move to the module's output. */
  consumers: readonly Node[];
}

export interface SpliceNaming {
  /** Insertion number: nodes `/onnx_attn/<k>_<module>/<Op>`, initializers `onnx_attn.<k>.<key>`. */
  k: number;
  module: string;
}

export interface SpliceResult {
  nodes: Node[];
  initializers: string[];
  /** The value now carrying attention(x). */
  output: Value;
  /** Consumers that were rewired (the graph output too, when the point was one). */
  rewired: Node[];
}

/**
 * Splices a recorded module into the graph (the graphsurgeon recipe, done once): constants become initializers,
 * nodes get exporter-style names under `/onnx_attn/<k>_<module>/`, they go right after the producer, and the
 * chosen consumers read the module's output. A graph output keeps its name and now carries attention(x): the
 * producer's tensor is renamed instead (cli-contract "Consumers").
 */
export function spliceModule(graph: Graph, point: SplicePoint, tape: ModuleBuilder, output: TapeValue, naming: SpliceNaming): SpliceResult {
  const x = point.value;
  for (const c of point.consumers) {
    if (!c.inputs.includes(x)) throw new Error(`node '${c.name}' does not read '${x.name}'`);
  }
  const scope = `/onnx_attn/${naming.k}_${naming.module}`;
  const mapped = new Map<TapeValue, Value>([[tape.input, x]]);
  const initializers: string[] = [];
  for (const c of tape.constants) {
    const tensor = c.constant!.tensor;
    tensor.name = graph.uniqueName(`onnx_attn.${naming.k}.${c.constant!.key}`);
    mapped.set(c, graph.addInitializer(tensor));
    initializers.push(tensor.name);
  }

  const graphOutputAt = x.isGraphOutput ? graph.outputs.indexOf(x) : -1;
  // After the producer; a graph input's module goes first.
  let after: Node | null = x.producer;
  const nodes: Node[] = [];
  for (const t of tape.nodes) {
    const name = graph.uniqueName(`${scope}/${t.opType}`);
    const outputs = t.outputs.map((_, i) => graph.uniqueName(`${name}_output_${i}`));
    const inputs = t.inputs.map((v) => {
      if (!v) return null;
      const m = mapped.get(v);
      if (!m) throw new Error(`module ${naming.module}: a node reads a value recorded after it`);
      return m;
    });
    const node = graph.addNode({ opType: t.opType, name, inputs, outputs, attributes: [...t.attributes] }, after);
    node.proto.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'onnx_attn.module', value: `${naming.k}_${naming.module}` }));
    t.outputs.forEach((tv, i) => mapped.set(tv, node.outputs[i]!));
    nodes.push(node);
    after = node;
  }
  const out = mapped.get(output);
  if (!out || out === x) throw new Error(`module ${naming.module} returned no new value`);

  const rewired: Node[] = [];
  for (const c of point.consumers) {
    c.inputs.forEach((v, i) => {
      if (v === x) graph.replaceInput(c, i, out);
    });
    rewired.push(c);
  }
  if (graphOutputAt >= 0) {
    // The graph output's name moves to the module output; the producer's tensor gets a fresh one.
    const keep = x.name;
    graph.renameValue(x, graph.uniqueName(`${keep}_before_onnx_attn_${naming.k}`), { keepGraphOutputName: true });
    graph.renameValue(out, keep);
    x.isGraphOutput = false;
    out.isGraphOutput = true;
    graph.outputs[graphOutputAt] = out;
  }
  return { nodes, initializers, output: out, rewired };
}
