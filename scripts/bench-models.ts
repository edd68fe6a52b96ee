/**
 * Node-rich bench models, generated here (no Python, nothing downloaded): graphs with the structure of real exports
 * rather than a few huge tensors, so the bench measures what a real `insert` does per node (decode, shape
 * inference, locate, encode), not byte copying alone.
 *
 * - `rtdetr-like`: about RT-DETR-l's counts (3,206 nodes, 1,037 Constants, 446 initializers, 129 MB): 28 layers of
 *   units, each a fused Conv block (Conv, Sigmoid, Mul), a decomposed LayerNorm (ReduceMean, Sub, Pow, Add, Sqrt,
 *   Div with Constant operands) and the exporter's Shape → Gather → Unsqueeze → Concat → Reshape flatten and
 *   unflatten with its Constant indexes and axes; a Detect head at layer 28 reading three pyramid levels.
 * - `yolov5s-like`: about YOLOv5s's (264 nodes, 29 MB): fused Conv blocks only, the same head at layer 24.
 *
 * Every name follows the TorchScript exporter's conventions (export-conventions.md 1.1-1.5): nodes
 * `/model.<i>/<path>/<Op>[_k]`, tensors `<node>_output_0`, initializers `model.<i>.<path>.weight|bias`, Constants'
 * outputs `/model.<i>/.../Constant_<k>_output_0`. So `--after 23`, `--after head` and `--after model.5/m.1` resolve.
 */
import { create } from '@bufbuild/protobuf';
import type { OnnxModel } from '../src/onnx/load.js';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
} from '../src/onnx/proto.js';
import { float32Tensor, int64Tensor, tensorInfo } from '../src/onnx/tensor.js';

export interface NodeRichSpec {
  /** Layers before the head (the head is layer `layers`). */
  layers: number;
  /** Units per layer. */
  units: number;
  channels: number;
  /** Input H = W; three stages, each halving it, feed the head. */
  size: number;
  /** Add the LayerNorm and flatten/unflatten blocks to each unit (Constants, shape arithmetic). */
  rich: boolean;
  opset: number;
}

export const BENCH_MODELS: Record<'rtdetr-like' | 'yolov5s-like', NodeRichSpec> = {
  // 28 × 4 units × 30 nodes + head ≈ 3,370 nodes; 8 Constants a unit ≈ 900 + head; 4 initializers a unit ≈ 450;
  // 112 Conv weights of 178·178·9 floats ≈ 128 MB.
  'rtdetr-like': { layers: 28, units: 4, channels: 178, size: 32, rich: true, opset: 16 },
  // 24 × 3 units × 3 nodes + head; 72 Conv weights of 104·104·9 floats ≈ 28 MB.
  'yolov5s-like': { layers: 24, units: 3, channels: 104, size: 32, rich: false, opset: 12 },
};

/** A deterministic stream of small weights (an LCG: the same file on every run and machine). */
function weights(n: number, seed: number): Float32Array {
  const w = new Float32Array(n);
  let s = seed >>> 0;
  for (let j = 0; j < n; j++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    w[j] = (s / 2 ** 32 - 0.5) * 0.02;
  }
  return w;
}

function ints(name: string, values: number[]): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AT.INTS, ints: values.map(BigInt) });
}

function int(name: string, value: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(value) });
}

function tensorAttr(t: TensorProto): AttributeProto {
  return create(AttributeProtoSchema, { name: 'value', type: AT.TENSOR, t });
}

export function nodeRichModel(spec: NodeRichSpec): OnnxModel {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  // The exporter's per-scope counters: the 2nd Constant in a scope is Constant_1.
  const counters = new Map<string, number>();
  const add = (scope: string, opType: string, input: string[], attribute: AttributeProto[] = []): string => {
    const key = `${scope}/${opType}`;
    const k = counters.get(key) ?? 0;
    counters.set(key, k + 1);
    const name = `${scope}/${opType}${k === 0 ? '' : `_${k}`}`;
    nodes.push(create(NodeProtoSchema, { name, opType, input, output: [`${name}_output_0`], attribute }));
    return `${name}_output_0`;
  };
  const constant = (scope: string, t: TensorProto) => add(scope, 'Constant', [], [tensorAttr(t)]);
  const scalar = (v: number) => float32Tensor('', [], [v]);
  const i64 = (v: number[], dims: number[] = [v.length]) => int64Tensor('', dims, v);
  let seed = 1;
  const C = spec.channels;

  const convBlock = (layer: number, path: string, x: string, stride: number): string => {
    const scope = `/model.${layer}/${path}`;
    const wName = `model.${layer}.${path.replaceAll('/', '.')}.conv.weight`;
    const bName = `model.${layer}.${path.replaceAll('/', '.')}.conv.bias`;
    inits.push(float32Tensor(wName, [C, C, 3, 3], weights(C * C * 9, seed++)), float32Tensor(bName, [C], weights(C, seed++)));
    const conv = add(
      `${scope}/conv`,
      'Conv',
      [x, wName, bName],
      [ints('dilations', [1, 1]), int('group', 1), ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [stride, stride])],
    );
    const sig = add(`${scope}/act`, 'Sigmoid', [conv]);
    return add(`${scope}/act`, 'Mul', [conv, sig]);
  };

  // LayerNorm over channels as opset 16 exports it (decomposed), with its Constants and affine initializers.
  const normBlock = (layer: number, path: string, x: string): string => {
    const scope = `/model.${layer}/${path}`;
    const mean = add(scope, 'ReduceMean', [x], [ints('axes', [1]), int('keepdims', 1)]);
    const d = add(scope, 'Sub', [x, mean]);
    const sq = add(scope, 'Pow', [d, constant(scope, scalar(2))]);
    const v = add(scope, 'ReduceMean', [sq], [ints('axes', [1]), int('keepdims', 1)]);
    const ve = add(scope, 'Add', [v, constant(scope, scalar(1e-5))]);
    const n = add(scope, 'Div', [d, add(scope, 'Sqrt', [ve])]);
    const gName = `model.${layer}.${path.replaceAll('/', '.')}.weight`;
    const bName = `model.${layer}.${path.replaceAll('/', '.')}.bias`;
    inits.push(float32Tensor(gName, [1, C, 1, 1], weights(C, seed++)), float32Tensor(bName, [1, C, 1, 1], weights(C, seed++)));
    return add(scope, 'Add', [add(scope, 'Mul', [n, gName]), bName]);
  };

  // x.flatten(2) and back, as the exporter writes a view with sizes read at run time.
  const flattenBlock = (layer: number, path: string, x: string): string => {
    const scope = `/model.${layer}/${path}`;
    const shape = add(scope, 'Shape', [x]);
    const dim = (i: number) =>
      add(scope, 'Unsqueeze', [add(scope, 'Gather', [shape, constant(scope, i64([i], []))], [int('axis', 0)]), constant(scope, i64([0]))]);
    const target = add(scope, 'Concat', [dim(0), dim(1), constant(scope, i64([-1]))], [int('axis', 0)]);
    const flat = add(scope, 'Reshape', [x, target]);
    const scaled = add(scope, 'Mul', [flat, constant(scope, scalar(1))]);
    return add(scope, 'Reshape', [scaled, shape]);
  };

  let x = 'images';
  const levels: string[] = [];
  const stageEnds = new Set([Math.floor(spec.layers / 3) - 1, Math.floor((2 * spec.layers) / 3) - 1, spec.layers - 1]);
  const stageStarts = new Set([Math.floor(spec.layers / 3), Math.floor((2 * spec.layers) / 3)]);
  for (let layer = 0; layer < spec.layers; layer++) {
    for (let u = 0; u < spec.units; u++) {
      const path = `m.${u}`;
      x = convBlock(layer, `${path}/cv1`, x, u === 0 && stageStarts.has(layer) ? 2 : 1);
      if (spec.rich) {
        x = normBlock(layer, `${path}/norm`, x);
        x = flattenBlock(layer, `${path}/attn`, x);
      }
    }
    if (stageEnds.has(layer)) levels.push(x);
  }

  // Detect (YOLOv5's): per level a 1x1 Conv to 3·85, reshaped to [1, 3·h·w, 85], joined in one output.
  const head = spec.layers;
  const outs: string[] = [];
  levels.forEach((level, i) => {
    const h = spec.size >> i;
    const wName = `model.${head}.m.${i}.weight`;
    const bName = `model.${head}.m.${i}.bias`;
    inits.push(float32Tensor(wName, [255, C, 1, 1], weights(255 * C, seed++)), float32Tensor(bName, [255], weights(255, seed++)));
    const conv = add(
      `/model.${head}/m.${i}`,
      'Conv',
      [level, wName, bName],
      [ints('dilations', [1, 1]), int('group', 1), ints('kernel_shape', [1, 1]), ints('pads', [0, 0, 0, 0]), ints('strides', [1, 1])],
    );
    const r = add(`/model.${head}`, 'Reshape', [conv, constant(`/model.${head}`, i64([1, 3, 85, h, h]))]);
    const t = add(`/model.${head}`, 'Transpose', [r], [ints('perm', [0, 1, 3, 4, 2])]);
    const s = add(`/model.${head}`, 'Sigmoid', [t]);
    outs.push(add(`/model.${head}`, 'Reshape', [s, constant(`/model.${head}`, i64([1, 3 * h * h, 85]))]));
  });
  const anchors = 3 * levels.reduce((n, _, i) => n + (spec.size >> i) ** 2, 0);
  const last = nodes.length;
  add(`/model.${head}`, 'Concat', outs, [int('axis', 1)]);
  nodes[last]!.output = ['output0'];
  const proto = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'pytorch',
    producerVersion: '1.13.0',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(spec.opset) })],
    graph: create(GraphProtoSchema, {
      name: 'main_graph',
      node: nodes,
      initializer: inits,
      input: [tensorInfo('images', [1, C, spec.size, spec.size])],
      output: [tensorInfo('output0', [1, anchors, 85])],
    }),
  });
  return { proto, path: null, externalData: new Map(), hadExternalData: false };
}
