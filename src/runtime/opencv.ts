import { Worker } from 'node:worker_threads';
import { ModelError } from '../errors.js';
import { decodeModel } from '../onnx/load.js';
import { typeOf } from '../graph/graph.js';
import { dtypeName } from '../onnx/dtype.js';
import type { InputTensor } from './inputs.js';
import type { ModelSession, OutputTensor } from './session.js';

/**
 * OpenCV's DNN module as a second runtime (`validate --runtime opencv`, `compare --runtime-pair
 * onnxruntime,opencv`): `@techstark/opencv-js`, an OpenCV.js build (WebAssembly, CPU) pinned to 4.12.0-release.1,
 * the first on npm whose ONNX importer loads the exporters' YOLO graphs. It runs in a worker thread
 * (opencv-worker.ts), loaded only when asked for: the build installs process-wide handlers that abort the process
 * on any uncaught error and print its 10 MB source, which in a worker end the worker alone.
 */
export const RUNTIMES = ['onnxruntime', 'opencv'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** The OpenCV version of the last model loaded (the package is pinned; its build information says which). */
let loadedVersion: string | null = null;
export const opencvVersion = (): string | null => loadedVersion;

/** What OpenCV.js can be given: this build makes N-D blobs only from images (blobFromImage: batch 1, 1-4 channels). */
export function opencvInputProblem(t: { name: string; type: string; dims: readonly number[] }): string | null {
  const what = `input '${t.name}' is ${t.type} [${t.dims.join(',')}]`;
  if (t.type !== 'float32' || t.dims.length !== 4) return `${what}; OpenCV.js takes NCHW float32 image blobs only`;
  if (t.dims[0] !== 1) return `${what}; OpenCV.js builds a blob from one image (batch 1); give --shape ${t.name}=1x${t.dims.slice(1).join('x')}`;
  if (t.dims[1]! < 1 || t.dims[1]! > 4) return `${what}; OpenCV.js builds blobs of 1 to 4 channels (blobFromImage)`;
  return null;
}

/** OpenCV's message without its build path: `(-215:Assertion failed) ... in function 'f' (dnn/src/x.cpp:318)`. */
export function opencvMessage(raw: string): string {
  const line = raw
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  const m = /OpenCV\([\d.]+\)\s+\S*?modules\/(\S+?):(\d+): error: (.*)$/.exec(line);
  if (!m) return line;
  // This build logs no node names; the source file names the layer kind that refused (slice_layer.cpp: Slice).
  const kind = /layers\/(\w+?)_layers?\.cpp$/.exec(m[1]!)?.[1];
  const layer = kind
    ? `its ${
        kind === 'nary_eltwise'
          ? 'element-wise (Add, Sub, Mul, Div, ...)'
          : kind
              .split('_')
              .map((w) => w[0]!.toUpperCase() + w.slice(1))
              .join('')
      } layer: `
    : '';
  return `${layer}${m[3]!.trim()} (${m[1]}:${m[2]})`;
}

/** WebAssembly traps and failed allocations: this build's heap stops short of 2 GB, far below onnxruntime's. */
function memoryHint(message: string): string {
  return /memory access out of bounds|Insufficient memory|Failed to allocate|OOM|Cannot enlarge memory/i.test(message)
    ? ' (OpenCV.js has under 2 GB of WebAssembly memory: its blobs for this model do not fit; run it in onnxruntime)'
    : '';
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

/**
 * Loads a model in OpenCV.js in a fresh worker. Failures are ModelError (exit 4) with OpenCV's message, or the
 * worker's end when OpenCV aborted. The session's outputs come in the model's declared output order.
 */
export async function openOpencvSession(bytes: Uint8Array, label = 'model'): Promise<ModelSession> {
  const proto = decodeModel(bytes, label);
  const initializers = new Set(proto.graph!.initializer.map((t) => t.name));
  const inputs = proto.graph!.input.filter((i) => !initializers.has(i.name));
  const inputNames = inputs.map((i) => i.name);
  const outputNames = proto.graph!.output.map((o) => o.name);
  // Declared inputs first (a dynamic dim reads as 1): what this build cannot be fed is said before it loads.
  for (const i of inputs) {
    const t = typeOf(i);
    const elemType = t?.elemType ?? 1;
    const problem = opencvInputProblem({
      name: i.name,
      type: elemType === 1 ? 'float32' : dtypeName(elemType),
      dims: (t?.shape ?? [1, 3, 1, 1]).map((d) => (typeof d === 'number' && d > 0 ? d : 1)),
    });
    if (problem) throw new ModelError(`OpenCV.js cannot run the ${label}: ${problem}`);
  }
  // Its stderr is ours to read: an abort prints the whole 10 MB build; only the tail says anything.
  const worker = new Worker(new URL('./opencv-worker.js', import.meta.url), { stdout: true, stderr: true });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  worker.stdout.on('data', keep);
  worker.stderr.on('data', keep);
  const pending = new Map<number, Pending>();
  let dead: Error | null = null;
  const die = (why: string) => {
    // The last line OpenCV or Emscripten wrote that is not its source: `abort(...)` or an OpenCV error.
    const said = tail
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && l.length < 500)
      .pop();
    dead = new ModelError(`OpenCV.js stopped while running the ${label}: ${said ? opencvMessage(said) : why}`);
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  };
  worker.on('error', (e) => die(e.message.split('\n')[0]!));
  worker.on('exit', (code) => {
    if (!dead) die(`its worker exited (code ${code})`);
  });
  let next = 0;
  const call = (message: Record<string, unknown>, transfer: ArrayBuffer[] = []) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (dead) return reject(dead);
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id }, transfer);
    });
  worker.on('message', (m: { id: number; ok: boolean; message?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m);
    else
      p.reject(
        new ModelError(
          `OpenCV.js ${loadedVersion ?? ''} failed on the ${label}: ${opencvMessage(m.message ?? 'no message')}${memoryHint(m.message ?? '')}`.replace(
            / {2}/,
            ' ',
          ),
        ),
      );
  });
  const closed = () => {
    dead ??= new ModelError(`OpenCV.js session of the ${label} is closed`);
    return worker.terminate();
  };
  try {
    const loaded = await call({ kind: 'load', bytes: bytes.slice(), outputNames }).catch((e: Error) => {
      throw new ModelError(e.message.replace(/failed on the/, 'cannot load the').replace(/stopped while running the/, 'stopped while loading the'));
    });
    loadedVersion = String(loaded.version);
  } catch (e) {
    await closed();
    throw e;
  }
  return {
    inputNames,
    outputNames,
    async run(inputs: InputTensor[]): Promise<OutputTensor[]> {
      for (const t of inputs) {
        const problem = opencvInputProblem(t);
        if (problem) throw new ModelError(`OpenCV.js cannot run the ${label}: ${problem}`);
      }
      const result = await call({ kind: 'run', inputs: inputs.map((t) => ({ name: t.name, dims: t.dims, data: t.data })) });
      return result.outputs as OutputTensor[];
    },
    endProfiling: () => null,
    release: async () => {
      await closed();
    },
  };
}
