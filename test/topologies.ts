import { create, toBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../src/onnx/load.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, type ModelProto } from '../src/onnx/proto.js';
import { float32Tensor, tensorInfo } from '../src/onnx/tensor.js';

/**
 * Named tiny graphs for the unit tests of graph, splice and structure (graphsurgeon's test fixtures): each node is
 * named as the TorchScript exporter names it (`/model.<i>/<Op>`), so the locator sees one layer per node. Every
 * tensor is float32 [1, 4, 2, 2]; `x` is the only input.
 */

export const DIMS = [1, 4, 2, 2];

interface NodeSpec {
  layer: number;
  op: string;
  inputs: string[];
  output: string;
}

function model(nodes: NodeSpec[], outputs: string[], initializers: { name: string; values: number[] }[] = []): OnnxModel {
  const proto = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'pytorch',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })],
    graph: create(GraphProtoSchema, {
      name: 'tiny',
      node: nodes.map((n) => create(NodeProtoSchema, { opType: n.op, name: `/model.${n.layer}/${n.op}`, input: n.inputs, output: [n.output] })),
      input: [tensorInfo('x', DIMS)],
      output: outputs.map((o) => tensorInfo(o, DIMS)),
      initializer: initializers.map((i) => float32Tensor(i.name, [i.values.length], i.values)),
    }),
  });
  return { proto, path: null, externalData: new Map(), hadExternalData: false };
}

/**
 * linear:  x -> [0 Relu] -> a -> [1 Sigmoid] -> b -> [2 Neg] -> y
 */
export const linear = () =>
  model(
    [
      { layer: 0, op: 'Relu', inputs: ['x'], output: 'a' },
      { layer: 1, op: 'Sigmoid', inputs: ['a'], output: 'b' },
      { layer: 2, op: 'Neg', inputs: ['b'], output: 'y' },
    ],
    ['y'],
  );

/**
 * diamond:  x -> [0 Relu] -> a -+-> [1 Sigmoid] -> b -+-> [3 Add] -> y
 *                               +-> [2 Tanh]    -> c -+
 */
export const diamond = () =>
  model(
    [
      { layer: 0, op: 'Relu', inputs: ['x'], output: 'a' },
      { layer: 1, op: 'Sigmoid', inputs: ['a'], output: 'b' },
      { layer: 2, op: 'Tanh', inputs: ['a'], output: 'c' },
      { layer: 3, op: 'Add', inputs: ['b', 'c'], output: 'y' },
    ],
    ['y'],
  );

/**
 * two heads:  x -> [0 Relu] -> a -+-> [1 Sigmoid] -> y1 (output)
 *                                 +-> [2 Tanh]    -> y2 (output)
 */
export const twoHeads = () =>
  model(
    [
      { layer: 0, op: 'Relu', inputs: ['x'], output: 'a' },
      { layer: 1, op: 'Sigmoid', inputs: ['a'], output: 'y1' },
      { layer: 2, op: 'Tanh', inputs: ['a'], output: 'y2' },
    ],
    ['y1', 'y2'],
  );

/**
 * graph output:  x -> [0 Relu] -> a (output) -> [1 Sigmoid] -> y (output)
 * `a` is both a graph output and read by a node.
 */
export const graphOutput = () =>
  model(
    [
      { layer: 0, op: 'Relu', inputs: ['x'], output: 'a' },
      { layer: 1, op: 'Sigmoid', inputs: ['a'], output: 'y' },
    ],
    ['a', 'y'],
  );

/**
 * constant branch:  x -> [0 Relu] -> a -+-> [1 Mul] -> y
 *                   w -> [1 Identity] -> w1 -+
 * `w` is an initializer: `w1` derives only from it, so it is not data.
 */
export const constantBranch = () =>
  model(
    [
      { layer: 0, op: 'Relu', inputs: ['x'], output: 'a' },
      { layer: 1, op: 'Identity', inputs: ['w'], output: 'w1' },
      { layer: 1, op: 'Mul', inputs: ['a', 'w1'], output: 'y' },
    ],
    ['y'],
    [{ name: 'w', values: [2] }],
  );

/** The input every run test feeds: 16 values with negatives, zeros and positives. */
export const X = Float32Array.from({ length: 16 }, (_, i) => (i - 6) / 4);

/** Runs a model in onnxruntime-node on X and returns each output by name. */
export async function runTiny(proto: ModelProto): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, proto));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', X, DIMS) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v.data as Float32Array)]));
  } finally {
    await session.release();
  }
}
