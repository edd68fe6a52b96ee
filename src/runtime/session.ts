import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelError } from '../errors.js';
import type { InputTensor } from './inputs.js';
import { loadOrt } from './ort.js';

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
  /** Show onnxruntime's own log (default: errors only). */
  verbose?: boolean;
  /** GPU ordinal for cuda and tensorrt (`--device-id`). */
  deviceId?: number;
  /** Write onnxruntime's profile (per-node timing and provider) under this path prefix. */
  profilePrefix?: string;
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

/** Opens a session from model bytes (external data already inlined). Failures are ModelError, one line. */
export async function openSession(bytes: Uint8Array, options: SessionOptions = {}, label = 'model'): Promise<ModelSession> {
  const ort = await loadOrt();
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: (options.executionProviders ?? ['cpu']).map((ep) =>
        ep === 'cuda' || ep === 'tensorrt' ? { name: ep, deviceId: options.deviceId ?? 0 } : ep,
      ) as never,
      logSeverityLevel: options.verbose ? 0 : 3,
      ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    });
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
        throw new ModelError(`onnxruntime failed to run the ${label}: ${firstLine(e)}`, { cause: e });
      }
      return session.outputNames.map((name) => {
        const t = result[name]!;
        return { name, type: t.type, dims: [...t.dims], data: t.data as ArrayLike<number | bigint> };
      });
    },
    endProfiling() {
      if (!options.profilePrefix) return null;
      session.endProfiling();
      // onnxruntime names the file <prefix>_<timestamp>.json; the prefix's folder is ours alone.
      const dir = path.dirname(options.profilePrefix);
      const base = path.basename(options.profilePrefix);
      const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'));
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
