import { UsageError } from '../errors.js';
import type { Dim, Graph } from '../graph/graph.js';
import type { ModelProto } from '../onnx/proto.js';
import { TensorProto_DataType as DT } from '../onnx/proto.js';

/** A model input after its dynamic dims are fixed. */
export interface InputSpec {
  name: string;
  elemType: number;
  dims: number[];
}

/** Plain typed data, turned into ort.Tensor by the session layer. */
export interface InputTensor {
  name: string;
  type: 'float32' | 'int64' | 'int32' | 'uint8' | 'bool' | 'float64';
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Float64Array;
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
        throw new UsageError(`--shape ${i.name}=${given.join('x')}: input '${i.name}' has ${declared.length} dims [${declared.join(',')}], not ${given.length}`);
      }
      const clash = declared?.findIndex((d, k) => typeof d === 'number' && d > 0 && d !== given[k]) ?? -1;
      if (clash >= 0) {
        throw new UsageError(`--shape ${i.name}=${given.join('x')}: dim ${clash} of input '${i.name}' is fixed at ${declared![clash]} in the model [${declared!.join(',')}]; only its dynamic dims can be set`);
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
  const inputs = graph.inputs.filter((v) => !v.initializer).map((v) => ({ name: v.name, elemType: v.declared?.elemType ?? 1, shape: v.declared?.shape ?? null }));
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
 * Input tensors for one run. Float image inputs get smooth, image-like values in [0, 1] (a few random
 * gradients and blobs plus noise), so detectors see structure rather than white noise; `orig_target_sizes`
 * style inputs ([N, 2] integers) get the image size; other integer inputs are zeros.
 */
export function makeInputs(specs: InputSpec[], options: InputOptions = {}): InputTensor[] {
  const rand = seededRandom(options.seed ?? 0);
  const imageSpec = specs.find((s) => s.dims.length === 4);
  const imageHW = imageSpec ? [imageSpec.dims[2]!, imageSpec.dims[3]!] : [640, 640];
  return specs.map((s): InputTensor => {
    const n = s.dims.reduce((a, b) => a * b, 1);
    switch (s.elemType) {
      case DT.FLOAT: {
        const data = new Float32Array(n);
        if (options.mode !== 'zeros') fillImageLike(data, s.dims, rand);
        return { name: s.name, type: 'float32', dims: s.dims, data };
      }
      case DT.DOUBLE: {
        const f = new Float32Array(n);
        if (options.mode !== 'zeros') fillImageLike(f, s.dims, rand);
        return { name: s.name, type: 'float64', dims: s.dims, data: Float64Array.from(f) };
      }
      case DT.INT64: {
        const data = new BigInt64Array(n);
        if (s.dims.length === 2 && s.dims[1] === 2) for (let i = 0; i < n; i++) data[i] = BigInt(imageHW[i % 2]!);
        return { name: s.name, type: 'int64', dims: s.dims, data };
      }
      case DT.INT32: {
        const data = new Int32Array(n);
        if (s.dims.length === 2 && s.dims[1] === 2) for (let i = 0; i < n; i++) data[i] = imageHW[i % 2]!;
        return { name: s.name, type: 'int32', dims: s.dims, data };
      }
      case DT.BOOL:
        return { name: s.name, type: 'bool', dims: s.dims, data: new Uint8Array(n) };
      default:
        return { name: s.name, type: 'uint8', dims: s.dims, data: new Uint8Array(n) };
    }
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
