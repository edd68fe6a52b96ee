import { ModelError, UsageError } from '../errors.js';
import type { Dim, Graph } from '../graph/graph.js';
import { dtypeName } from '../onnx/dtype.js';
import { fromFloat16Array, toFloat16Array } from '../onnx/float16.js';
import type { ModelProto } from '../onnx/proto.js';
import { TensorProto_DataType as DT } from '../onnx/proto.js';

/** A model input after its dynamic dims are fixed. */
export interface InputSpec {
  name: string;
  elemType: number;
  dims: number[];
}

/** The element types onnxruntime-node feeds, as it names them; float16 travels as Uint16Array bit patterns. */
export type InputType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

/** Plain typed data, turned into ort.Tensor by the session layer. */
export interface InputTensor {
  name: string;
  type: InputType;
  dims: number[];
  data: Float32Array | Uint16Array | Float64Array | Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;
}

/** TensorProto.DataType → the type onnxruntime-node feeds it as; the others (string, bfloat16, float8, 4-bit, complex) it cannot. */
const INPUT_TYPES: Partial<Record<number, InputType>> = {
  [DT.FLOAT]: 'float32',
  [DT.FLOAT16]: 'float16',
  [DT.DOUBLE]: 'float64',
  [DT.INT8]: 'int8',
  [DT.UINT8]: 'uint8',
  [DT.INT16]: 'int16',
  [DT.UINT16]: 'uint16',
  [DT.INT32]: 'int32',
  [DT.UINT32]: 'uint32',
  [DT.INT64]: 'int64',
  [DT.UINT64]: 'uint64',
  [DT.BOOL]: 'bool',
};

/** The type an input is fed as; an element type onnxruntime-node cannot feed is exit 4 naming the input. */
export function inputTypeOf(spec: { name: string; elemType: number }, file?: string | null): InputType {
  const type = INPUT_TYPES[spec.elemType];
  if (type) return type;
  throw new ModelError(
    `${file ? `${file}: ` : ''}model input '${spec.name}' is ${dtypeName(spec.elemType)}, which onnxruntime-node cannot feed (it takes ${[...new Set(Object.values(INPUT_TYPES))].join(', ')}); onnx-attn cannot run this model`,
  );
}

/** A tensor of the spec's type holding `values` (integers truncated, bool as 0/1, float16 rounded to nearest). */
export function typedInput(spec: InputSpec, values: ArrayLike<number>): InputTensor {
  const type = inputTypeOf(spec);
  const n = values.length;
  const ints = (v: number) => (Number.isFinite(v) ? Math.trunc(v) : 0);
  let data: InputTensor['data'];
  switch (type) {
    case 'float32':
      data = Float32Array.from(values);
      break;
    case 'float16':
      data = toFloat16Array(values);
      break;
    case 'float64':
      data = Float64Array.from(values);
      break;
    case 'int8':
      data = Int8Array.from(values, ints);
      break;
    case 'uint8':
      data = Uint8Array.from(values, ints);
      break;
    case 'int16':
      data = Int16Array.from(values, ints);
      break;
    case 'uint16':
      data = Uint16Array.from(values, ints);
      break;
    case 'int32':
      data = Int32Array.from(values, ints);
      break;
    case 'uint32':
      data = Uint32Array.from(values, ints);
      break;
    case 'int64':
      data = BigInt64Array.from({ length: n }, (_, i) => BigInt(ints(values[i]!)));
      break;
    case 'uint64':
      data = BigUint64Array.from({ length: n }, (_, i) => BigInt(Math.max(0, ints(values[i]!))));
      break;
    case 'bool':
      data = Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
      break;
  }
  return { name: spec.name, type, dims: spec.dims, data };
}

/**
 * Input sets with every tensor in the type its model input declares: a source that gives numbers in another type
 * (a JSON file read as float32, images for a float16 model) is converted here, once, for every source.
 */
export function conformInputs(specs: readonly InputSpec[], sets: InputTensor[][]): InputTensor[][] {
  return sets.map((set) =>
    set.map((t) => {
      const spec = specs.find((s) => s.name === t.name);
      if (!spec || inputTypeOf(spec) === t.type) return t;
      const values = t.type === 'float16' ? fromFloat16Array(t.data as Uint16Array) : Array.from(t.data as ArrayLike<number | bigint>, Number);
      return typedInput({ ...spec, dims: t.dims }, values);
    }),
  );
}

export interface InputOptions {
  /** `random` (default): seeded image-like values in [0, 1]; `zeros`. */
  mode?: 'random' | 'zeros';
  seed?: number;
  /** Sizes for dynamic dims, by input name (`--shape images=1x3x640x640`). */
  shapes?: Record<string, number[]>;
}

/** The square image size ultralytics records in metadata (`imgsz` = "[640, 640]"), else 640. */
export function imageSizeOf(model: ModelProto): [number, number] {
  const imgsz = model.metadataProps.find((p) => p.key === 'imgsz')?.value;
  const nums = imgsz?.match(/\d+/g)?.map(Number);
  if (nums && nums.length >= 2) return [nums[0]!, nums[1]!];
  if (nums && nums.length === 1) return [nums[0]!, nums[0]!];
  return [640, 640];
}

/**
 * Fixes every dim: given sizes first, then the static ones; a dynamic batch is 1, a dynamic image side is the
 * model's image size, anything else 1.
 */
export function resolveInputSpecs(
  inputs: { name: string; elemType: number; shape: Dim[] | null }[],
  model: ModelProto,
  shapes: Record<string, number[]> = {},
): InputSpec[] {
  const [h, w] = imageSizeOf(model);
  const unknown = Object.keys(shapes).find((name) => !inputs.some((i) => i.name === name));
  if (unknown !== undefined) {
    throw new UsageError(`--shape ${unknown}=...: the model has no input '${unknown}'; its inputs are ${inputs.map((i) => i.name).join(', ')}`);
  }
  return inputs.map((i) => {
    const given = shapes[i.name];
    if (given) {
      const declared = i.shape;
      if (declared && declared.length !== given.length) {
        throw new UsageError(
          `--shape ${i.name}=${given.join('x')}: input '${i.name}' has ${declared.length} dims [${declared.join(',')}], not ${given.length}`,
        );
      }
      const clash = declared?.findIndex((d, k) => typeof d === 'number' && d > 0 && d !== given[k]) ?? -1;
      if (clash >= 0) {
        throw new UsageError(
          `--shape ${i.name}=${given.join('x')}: dim ${clash} of input '${i.name}' is fixed at ${declared![clash]} in the model [${declared!.join(',')}]; only its dynamic dims can be set`,
        );
      }
      if (given.some((d) => !(d >= 1))) throw new UsageError(`--shape ${i.name}=${given.join('x')}: every dim must be at least 1`);
      checkSize(i.name, given, `--shape ${i.name}=${given.join('x')}`);
      return { name: i.name, elemType: i.elemType, dims: given };
    }
    const shape = i.shape ?? [];
    const dims = shape.map((d, k) => {
      if (typeof d === 'number' && d > 0) return d;
      if (k === 0) return 1;
      if (shape.length === 4 && k === 2) return h;
      if (shape.length === 4 && k === 3) return w;
      return 1;
    });
    checkSize(i.name, dims, `input '${i.name}' [${dims.join(',')}]`);
    return { name: i.name, elemType: i.elemType, dims };
  });
}

/** The most elements onnx-attn allocates for one input (2^28: 1 GiB of float32, a 1×3×9459×9459 image). */
export const MAX_INPUT_ELEMENTS = 2 ** 28;

function checkSize(name: string, dims: readonly number[], what: string): void {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n <= MAX_INPUT_ELEMENTS) return;
  const example = dims.length === 4 ? `, e.g. --shape ${name}=1x${dims[1]}x640x640` : '';
  throw new UsageError(`${what}: ${n} elements, more than the ${MAX_INPUT_ELEMENTS} (2^28) onnx-attn allocates for one input; give a smaller shape${example}`);
}

/** The specs of a graph's real inputs (initializers listed as inputs excluded), dynamic dims fixed as above. */
export function graphInputSpecs(graph: Graph, shapes: Record<string, number[]> = {}): InputSpec[] {
  const inputs = graph.inputs
    .filter((v) => !v.initializer)
    .map((v) => ({ name: v.name, elemType: v.declared?.elemType ?? 1, shape: v.declared?.shape ?? null }));
  for (const i of inputs) inputTypeOf(i, graph.model.path); // said here, where the file is known
  return resolveInputSpecs(inputs, graph.model.proto, shapes);
}

/** mulberry32: small, fast and good enough for test inputs; the same seed always gives the same stream. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Input tensors for one run, each in the type its model input declares. Float image inputs get smooth, image-like
 * values in [0, 1] (a few random gradients and blobs plus noise), so detectors see structure rather than white
 * noise (a uint8 image input gets them ×255); `orig_target_sizes` style inputs ([N, 2] integers) get the image
 * size; other integer and bool inputs are zeros. A type onnxruntime-node cannot feed is exit 4 (`inputTypeOf`).
 */
export function makeInputs(specs: InputSpec[], options: InputOptions = {}): InputTensor[] {
  const rand = seededRandom(options.seed ?? 0);
  const imageSpec = specs.find((s) => s.dims.length === 4);
  const imageHW = imageSpec ? [imageSpec.dims[2]!, imageSpec.dims[3]!] : [640, 640];
  return specs.map((s): InputTensor => {
    const type = inputTypeOf(s);
    const n = s.dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (type === 'float32' || type === 'float16' || type === 'float64') {
      if (options.mode !== 'zeros') fillImageLike(values, s.dims, rand);
    } else if (type === 'uint8' && s.dims.length === 4) {
      if (options.mode !== 'zeros') {
        fillImageLike(values, s.dims, rand);
        for (let i = 0; i < n; i++) values[i] = Math.round(values[i]! * 255);
      }
    } else if (type !== 'bool' && s.dims.length === 2 && s.dims[1] === 2) {
      for (let i = 0; i < n; i++) values[i] = imageHW[i % 2]!;
    }
    return type === 'float32' ? { name: s.name, type, dims: s.dims, data: values } : typedInput(s, values);
  });
}

function fillImageLike(data: Float32Array, dims: number[], rand: () => number): void {
  if (dims.length !== 4) {
    for (let i = 0; i < data.length; i++) data[i] = rand();
    return;
  }
  const [n, c, h, w] = dims as [number, number, number, number];
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      // A gradient, two soft blobs and noise per channel.
      const gx = rand() - 0.5;
      const gy = rand() - 0.5;
      const base = rand() * 0.5 + 0.25;
      const blobs = [0, 1].map(() => ({ x: rand() * w, y: rand() * h, r: (0.1 + rand() * 0.3) * Math.max(h, w), a: rand() - 0.5 }));
      const off = (b * c + ch) * h * w;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let v = base + gx * (x / w) + gy * (y / h);
          for (const bl of blobs) v += bl.a * Math.exp(-((x - bl.x) ** 2 + (y - bl.y) ** 2) / (bl.r * bl.r));
          v += (rand() - 0.5) * 0.1;
          data[off + y * w + x] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
}
