import * as os from 'node:os';
import * as path from 'node:path';
import { effects } from '../effects.js';
import { Graph } from '../graph/graph.js';
import type { OnnxModel } from '../onnx/load.js';
import { renderModel } from '../onnx/save.js';
import { makeInputs, graphInputSpecs, type InputTensor } from './inputs.js';
import { openSession, type OutputTensor } from './session.js';

/**
 * The run check of a patched model: the original and the patched model run once in onnxruntime (CPU) on the same
 * seeded inputs, their outputs compared. The structural check stays in src/check.ts, a pure function of the graph.
 */

export interface RunCheck {
  outputs: { name: string; dtype: string; shape: number[] }[];
  /** Problems: outputs that differ from the original's in name, dtype or shape. */
  problems: string[];
  /** Outputs bit-identical to the original's (what `--gate zero` must give). */
  identical: boolean;
  /** Largest absolute difference from the original over all float outputs. */
  maxAbsDiff: number;
}

/**
 * Hands the model to onnxruntime as a file: the saver's rendering (payloads written by reference, byte-identical to
 * the protobuf encoder's output) into a temporary folder, removed afterwards. Neither a second copy of the weights
 * in this process nor the plain encoder (a second on a 130 MB model): onnxruntime's own copy is the only one.
 */
async function withModelFile<T>(m: OnnxModel, use: (file: string) => Promise<T>): Promise<T> {
  const dir = effects.fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-check-'));
  try {
    const file = path.join(dir, 'model.onnx');
    const fd = effects.fs.openSync(file, 'w');
    try {
      for (const chunk of renderModel(m, file, { externalData: 'never' }).modelChunks) effects.fs.writeSync(fd, chunk);
    } finally {
      effects.fs.closeSync(fd);
    }
    return await use(file);
  } finally {
    effects.fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The seeded inputs a check run feeds both models: the patched model's graph inputs (an insert keeps them). */
export function checkRunInputs(patched: OnnxModel, options: { shapes?: Record<string, number[]>; seed?: number } = {}): InputTensor[] {
  return makeInputs(graphInputSpecs(Graph.fromModel(patched), options.shapes), { seed: options.seed ?? 0 });
}

/**
 * Runs the original and the patched model once on CPU with the same seeded inputs and compares what comes out:
 * the same output names, dtypes and shapes, and whether the values are bit-identical. One onnxruntime session at a
 * time, released before the next. Either model may be given as its file (a regular file, read by onnxruntime
 * itself: no second load, no encoding); a patched model given as a file needs its `inputs` (`checkRunInputs`).
 */
export async function checkRun(
  original: OnnxModel | string,
  patched: OnnxModel | string,
  options: { shapes?: Record<string, number[]>; seed?: number; inputs?: InputTensor[] } = {},
): Promise<RunCheck> {
  if (typeof patched === 'string' && !options.inputs) throw new Error('checkRun: a patched model given as a file needs its inputs (checkRunInputs)');
  const inputs = options.inputs ?? checkRunInputs(patched as OnnxModel, options);
  const run = async (m: OnnxModel | string, label: string) => {
    const once = async (file: string) => {
      const s = await openSession(file, {}, label);
      try {
        return await s.run(inputs);
      } finally {
        await s.release();
      }
    };
    return typeof m === 'string' ? once(m) : withModelFile(m, once);
  };
  const a = await run(original, 'original model');
  const b = await run(patched, 'patched model');
  const problems: string[] = [];
  let identical = a.length === b.length;
  let maxAbsDiff = 0;
  for (const oa of a) {
    const ob = b.find((o) => o.name === oa.name);
    if (!ob) {
      problems.push(`output '${oa.name}' is missing from the patched model`);
      identical = false;
      continue;
    }
    if (ob.type !== oa.type) problems.push(`output '${oa.name}' is ${ob.type}, the original's is ${oa.type}`);
    if (JSON.stringify(ob.dims) !== JSON.stringify(oa.dims)) problems.push(`output '${oa.name}' has shape [${ob.dims}], the original's is [${oa.dims}]`);
    const d = diff(oa, ob);
    const introduced = nonFinite(ob) - nonFinite(oa);
    if (introduced > 0) {
      problems.push(
        `output '${oa.name}' has ${introduced} more non-finite value(s) than the original's (are the module's weights sane? a negative running_var, say)`,
      );
    }
    identical &&= d.identical;
    maxAbsDiff = Math.max(maxAbsDiff, d.maxAbs);
  }
  for (const ob of b) if (!a.some((o) => o.name === ob.name)) problems.push(`the patched model has an extra output '${ob.name}'`);
  return { outputs: b.map((o) => ({ name: o.name, dtype: o.type, shape: o.dims })), problems, identical: identical && problems.length === 0, maxAbsDiff };
}

function nonFinite(t: OutputTensor): number {
  if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) return 0;
  let n = 0;
  for (const v of t.data) if (!Number.isFinite(v)) n++;
  return n;
}

function diff(a: OutputTensor, b: OutputTensor): { identical: boolean; maxAbs: number } {
  if (a.data.length !== b.data.length) return { identical: false, maxAbs: Infinity };
  let identical = true;
  let maxAbs = 0;
  if (a.data instanceof Float32Array && b.data instanceof Float32Array) {
    const ua = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
    const ub = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
    for (let i = 0; i < ua.length; i++) {
      if (ua[i] !== ub[i]) {
        identical = false;
        const d = Math.abs(a.data[i]! - b.data[i]!);
        maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
      }
    }
    return { identical, maxAbs };
  }
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) {
      identical = false;
      maxAbs = Math.max(maxAbs, Math.abs(Number(a.data[i]) - Number(b.data[i])));
    }
  }
  return { identical, maxAbs };
}
