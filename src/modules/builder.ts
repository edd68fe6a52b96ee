import { create } from '@bufbuild/protobuf';
import { AttributeProtoSchema, AttributeProto_AttributeType as AT, TensorProtoSchema, TensorProto_DataType as DT } from '../onnx/proto.js';
import type { AttributeProto, TensorProto } from '../onnx/proto.js';
import { toFloat16Array } from '../onnx/float16.js';

/**
 * A recording builder (onnx-ir's Tape): modules describe their subgraph here, away from any model. Splicing
 * (src/graph/splice.ts) later gives the nodes their final names and wires them in; tests turn the same tape
 * into a standalone model. Nothing here knows about the host graph.
 */

export interface TapeValue {
  readonly id: number;
  /** The module input (x), a node output, or a constant. */
  readonly kind: 'input' | 'node' | 'constant';
  /** For constants: the initializer and the key it is named by (`Channel_Att.bn2.folded_scale`, `axes_1`). */
  readonly constant?: { key: string; tensor: TensorProto };
  readonly producer?: TapeNode;
  readonly outputIndex?: number;
}

export interface TapeNode {
  readonly opType: string;
  readonly inputs: readonly (TapeValue | null)[];
  readonly outputs: readonly TapeValue[];
  readonly attributes: readonly AttributeProto[];
}

export type Attr = { i: number } | { ints: readonly number[] } | { f: number } | { floats: readonly number[] } | { s: string };

export const int = (i: number): Attr => ({ i });
export const ints = (v: readonly number[]): Attr => ({ ints: v });
export const float = (f: number): Attr => ({ f });

function attribute(name: string, a: Attr): AttributeProto {
  if ('i' in a) return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(a.i) });
  if ('ints' in a) return create(AttributeProtoSchema, { name, type: AT.INTS, ints: a.ints.map((x) => BigInt(x)) });
  if ('f' in a) return create(AttributeProtoSchema, { name, type: AT.FLOAT, f: a.f });
  if ('floats' in a) return create(AttributeProtoSchema, { name, type: AT.FLOATS, floats: [...a.floats] });
  return create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(a.s) });
}

/**
 * The most weights (state_dict elements) one module may have: 2^28, 1 GiB of float32, as for one model input.
 * GAM at C=2048 has about 10^8; past the limit the model's declared shape is wrong or hostile.
 */
export const MAX_MODULE_PARAMETERS = 2 ** 28;

/** The element types a module can compute in (TensorProto.DataType): those of feature maps. */
export const MODULE_FLOAT_TYPES: readonly number[] = [DT.FLOAT, DT.FLOAT16, DT.DOUBLE];

export class ModuleBuilder {
  readonly opset: number;
  /** The element type of x and of every float constant (`floats`); a Cast to float names it (`Cast to=floatType`). */
  readonly floatType: number;
  readonly nodes: TapeNode[] = [];
  readonly constants: TapeValue[] = [];
  readonly input: TapeValue;
  private nextId = 1;
  private readonly keys = new Set<string>();

  constructor(opset: number, floatType: number = DT.FLOAT) {
    if (!MODULE_FLOAT_TYPES.includes(floatType)) throw new Error(`a module computes in float32, float16 or float64, not type ${floatType}`);
    this.opset = opset;
    this.floatType = floatType;
    this.input = { id: 0, kind: 'input' };
  }

  /** One node with one output. */
  op(opType: string, inputs: readonly (TapeValue | null)[], attrs: Record<string, Attr> = {}): TapeValue {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  /** One node with `n` outputs. */
  opN(opType: string, inputs: readonly (TapeValue | null)[], n: number, attrs: Record<string, Attr> = {}): TapeValue[] {
    const outputs: TapeValue[] = [];
    const node: TapeNode = {
      opType,
      inputs: [...inputs],
      outputs,
      attributes: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    };
    for (let i = 0; i < n; i++) outputs.push({ id: this.nextId++, kind: 'node', producer: node, outputIndex: i });
    this.nodes.push(node);
    return outputs;
  }

  /**
   * A float initializer in the module's `floatType` (float32 unless the host is float16 or float64; float16 rounds
   * from the float32 value, as torch's `.half()` does). `key` is the reference state_dict key when the values are
   * that key's as given (`Channel_Att.bn2.running_mean`), or what it holds when folded or derived
   * (`Channel_Att.bn2.folded_scale`).
   */
  floats(key: string, dims: readonly number[], values: ArrayLike<number>): TapeValue {
    const data = Float32Array.from(values);
    if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`constant ${key}: ${data.length} values for dims [${dims}]`);
    const typed = this.floatType === DT.FLOAT16 ? toFloat16Array(data) : this.floatType === DT.DOUBLE ? Float64Array.from(values) : data;
    return this.constant(key, this.floatType, dims, new Uint8Array(typed.buffer));
  }

  /** An int64 initializer (axes, shapes, split sizes). */
  int64s(key: string, values: readonly number[], dims: readonly number[] = [values.length]): TapeValue {
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    return this.constant(key, DT.INT64, dims, new Uint8Array(data.buffer));
  }

  /** A ready tensor as a constant (a graph imported as a module keeps its initializers as they are). */
  tensor(key: string, tensor: TensorProto): TapeValue {
    if (this.keys.has(key)) throw new Error(`constant key '${key}' used twice in one module`);
    this.keys.add(key);
    const v: TapeValue = { id: this.nextId++, kind: 'constant', constant: { key, tensor: create(TensorProtoSchema, { ...tensor, name: '' }) } };
    this.constants.push(v);
    return v;
  }

  /** One node with `n` outputs and attributes as protobufs, copied from another graph. */
  opRaw(opType: string, inputs: readonly (TapeValue | null)[], n: number, attributes: readonly AttributeProto[]): TapeValue[] {
    const outputs = this.opN(opType, inputs, n);
    (outputs[0]!.producer!.attributes as AttributeProto[]).push(...attributes);
    return outputs;
  }

  private constant(key: string, dataType: number, dims: readonly number[], raw: Uint8Array): TapeValue {
    if (this.keys.has(key)) throw new Error(`constant key '${key}' used twice in one module`);
    this.keys.add(key);
    const tensor = create(TensorProtoSchema, { dims: dims.map((d) => BigInt(d)), dataType, rawData: raw as Uint8Array<ArrayBuffer> });
    const v: TapeValue = { id: this.nextId++, kind: 'constant', constant: { key, tensor } };
    this.constants.push(v);
    return v;
  }

  // Ops whose form changes with the opset (attention-modules.md section 0), so modules never branch on it.

  /** ReduceMean/Max/Min/Prod/L2: axes an attribute up to opset 17, an input from 18. ReduceSum: input from 13. */
  reduce(
    op: 'ReduceMean' | 'ReduceSum' | 'ReduceMax' | 'ReduceMin' | 'ReduceProd' | 'ReduceL2',
    x: TapeValue,
    axes: readonly number[],
    keepdims = true,
    axesKey = `axes_${axes.join('_')}`,
  ): TapeValue {
    const axesAsInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    if (axesAsInput) {
      const a = this.constants.find((c) => c.constant!.key === axesKey) ?? this.int64s(axesKey, axes);
      return this.op(op, [x, a], { keepdims: int(keepdims ? 1 : 0) });
    }
    return this.op(op, [x], { axes: ints(axes), keepdims: int(keepdims ? 1 : 0) });
  }

  // Attributes as PyTorch's exporter writes them: runtimes that read only attributes (OpenCV's importer needs
  // Conv's kernel_shape) then see every value, not ONNX's defaults.

  /** A 2-D Conv with dilations, group, kernel_shape, pads and strides written out, as torch.onnx.export does. */
  conv(
    x: TapeValue,
    weight: TapeValue,
    bias: TapeValue | null,
    kernel: readonly [number, number],
    options: { pads?: readonly number[]; group?: number } = {},
  ): TapeValue {
    return this.op('Conv', bias ? [x, weight, bias] : [x, weight], {
      dilations: ints([1, 1]),
      group: int(options.group ?? 1),
      kernel_shape: ints(kernel),
      pads: ints(options.pads ?? [0, 0, 0, 0]),
      strides: ints([1, 1]),
    });
  }

  /** MaxPool/AveragePool with ceil_mode, kernel_shape, pads and strides, as torch.onnx.export writes them. */
  pool(op: 'MaxPool' | 'AveragePool', x: TapeValue, kernel: readonly [number, number], strides: readonly [number, number]): TapeValue {
    return this.op(op, [x], { ceil_mode: int(0), kernel_shape: ints(kernel), pads: ints([0, 0, 0, 0]), strides: ints(strides) });
  }

  /** BatchNormalization in eval: epsilon, momentum and (from opset 14) training_mode=0, as the exporter writes. */
  batchNorm(inputs: readonly TapeValue[], epsilon: number): TapeValue {
    const attrs: Record<string, Attr> = { epsilon: float(epsilon), momentum: float(0.9) };
    if (this.opset >= 14) attrs['training_mode'] = int(0);
    return this.op('BatchNormalization', inputs, attrs);
  }

  /** Reshape, with allowzero=0 from opset 14 where the attribute exists (the exporter writes it). */
  reshape(x: TapeValue, shape: TapeValue): TapeValue {
    return this.op('Reshape', [x, shape], this.opset >= 14 ? { allowzero: int(0) } : {});
  }

  /**
   * Max over channels (axis 1, kept) of an [N,C,H,W] map. ReduceMax with the axes attribute up to opset 17; from
   * 18 the axes are an input, which OpenCV 4.6 reads as "all axes" (a silently wrong result), so there it is a
   * MaxPool over the channels moved to a spatial axis: Transpose → MaxPool(C×1) → Transpose, exact in every runtime.
   */
  channelMax(x: TapeValue, channels: number): TapeValue {
    if (this.opset < 18) return this.reduce('ReduceMax', x, [1]);
    const perm = ints([0, 2, 1, 3]);
    const pooled = this.pool('MaxPool', this.op('Transpose', [x], { perm }), [channels, 1], [1, 1]);
    return this.op('Transpose', [pooled], { perm });
  }

  /**
   * Mean over channels (axis 1, kept) as a 1×1 Conv with weights 1/C: one op at every opset, where ReduceMean's
   * axes become an input at 18 (misread by OpenCV 4.6) and every runtime has Conv.
   */
  channelMean(x: TapeValue, channels: number, key = 'channel_mean_weight'): TapeValue {
    return this.conv(x, this.floats(key, [1, channels, 1, 1], new Array<number>(channels).fill(1 / channels)), null, [1, 1]);
  }

  /** HardSwish from opset 14; below it, z·HardSigmoid(z; α=1/6, β=0.5): the same function in two ops. */
  hardSwish(z: TapeValue): TapeValue {
    if (this.opset >= 14) return this.op('HardSwish', [z]);
    const hs = this.op('HardSigmoid', [z], { alpha: float(1 / 6), beta: float(0.5) });
    return this.op('Mul', [z, hs]);
  }

  /** Op-type histogram of what was recorded: what a module's `ops` declares. */
  opCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const n of this.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    return counts;
  }
}
