import { effects } from '../effects.js';
import * as path from 'node:path';
import { ModelError } from '../errors.js';
import type { InputTensor } from './inputs.js';
import { loadOrt } from './ort.js';
import { fromFloat16Array } from '../onnx/float16.js';

export interface OutputTensor {
  name: string;
  type: string;
  dims: number[];
  data: ArrayLike<number | bigint>;
}

export interface SessionOptions {
  /** Execution providers in preference order (default cpu). */
  executionProviders?: string[];
  intraOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Show onnxruntime's own log (default: none; its errors reach the user as our one line). */
  verbose?: boolean;
  /** GPU ordinal for cuda and tensorrt (`--device-id`). */
  deviceId?: number;
  /** Write onnxruntime's profile (per-node timing and provider) under this path prefix. */
  profilePrefix?: string;
  /** The sizes the user gave dynamic inputs (`--shape`): a failed run then says which sizes to try. */
  shapes?: Record<string, number[]>;
}

/** The largest stride of the detectors onnx-attn patches (YOLO P5, RT-DETR's last level). */
const STRIDE = 32;

/**
 * What to try when a run fails on sizes the user chose: spatial sizes that are not multiples of the stride break
 * the Concat of upsampled and lateral maps (13 → 7 → 4 → 2 → 1, then 1 upsampled is 2, not 4).
 */
export function shapeHint(shapes: Record<string, number[]> | undefined): string {
  if (!shapes) return '';
  const odd = Object.entries(shapes).filter(([, d]) => d.length === 4 && (d[2]! % STRIDE !== 0 || d[3]! % STRIDE !== 0));
  if (odd.length === 0) return '';
  const up = (n: number) => Math.max(STRIDE, Math.ceil(n / STRIDE) * STRIDE);
  const tries = odd.map(([name, d]) => `--shape ${name}=${[d[0], d[1], up(d[2]!), up(d[3]!)].join('x')}`).join(' ');
  return `; the model may need sizes that are multiples of its stride (${STRIDE}); try ${tries}`;
}

/** A model loaded in onnxruntime-node, run as many times as needed. */
export interface ModelSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(inputs: InputTensor[]): Promise<OutputTensor[]>;
  /** Stops profiling (when `profilePrefix` was given) and returns the profile file's path, or null. */
  endProfiling(): string | null;
  release(): Promise<void>;
}

/** onnxruntime's options for a session opened with these (the bench's session floor uses the same). */
export function ortSessionOptions(options: SessionOptions = {}) {
  return {
    executionProviders: (options.executionProviders ?? ['cpu']).map((ep) =>
      ep === 'cuda' || ep === 'tensorrt' ? { name: ep, deviceId: options.deviceId ?? 0 } : ep,
    ) as never,
    logSeverityLevel: options.verbose ? (0 as const) : (4 as const),
    ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
}

/**
 * Opens a session from model bytes (external data already inlined), or from a model file that onnxruntime reads
 * itself (external data beside it). Failures are ModelError, one line.
 */
export async function openSession(bytes: Uint8Array | string, options: SessionOptions = {}, label = 'model'): Promise<ModelSession> {
  const ort = await loadOrt();
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  // onnxruntime's own log goes straight to stderr, in colour, before our one line: only --debug shows it. The
  // environment's level is read once, when the first session is made; each session has its own as well.
  ort.env.logLevel = options.verbose ? 'verbose' : 'fatal';
  try {
    const sessionOptions = ortSessionOptions(options);
    session = typeof bytes === 'string' ? await ort.InferenceSession.create(bytes, sessionOptions) : await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (e) {
    throw new ModelError(`onnxruntime cannot load the ${label}: ${firstLine(e)}`, { cause: e });
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs) {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const t of inputs) feeds[t.name] = new ort.Tensor(t.type, t.data as never, t.dims);
      let result: Record<string, InstanceType<typeof ort.Tensor>>;
      try {
        result = await session.run(feeds);
      } catch (e) {
        throw new ModelError(`onnxruntime failed to run the ${label}: ${firstLine(e)}${shapeHint(options.shapes)}`, { cause: e });
      }
      return session.outputNames.map((name) => {
        const t = result[name]!;
        // float16 comes back as bit patterns (no Float16Array in Node 20): as float32 values (exact), every metric,
        // finiteness check and detection decoder reads it as numbers; `type` still says float16.
        const data = t.type === 'float16' && t.data instanceof Uint16Array ? fromFloat16Array(t.data) : (t.data as ArrayLike<number | bigint>);
        return { name, type: t.type, dims: [...t.dims], data };
      });
    },
    endProfiling() {
      if (!options.profilePrefix) return null;
      session.endProfiling();
      // onnxruntime names the file <prefix>_<timestamp>.json; the prefix's folder is ours alone.
      const dir = path.dirname(options.profilePrefix);
      const base = path.basename(options.profilePrefix);
      const files = effects.fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'));
      files.sort();
      return files.length > 0 ? path.join(dir, files[files.length - 1]!) : null;
    },
    release: () => session.release(),
  };
}

export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.trim();
}
