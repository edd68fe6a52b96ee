import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InputTensor } from './inputs.js';
import { readProfile, type Placement } from './placement.js';
import type { ProviderChoice } from './providers.js';
import { openSession, type ModelSession, type OutputTensor } from './session.js';

/** How a model is run and timed (the runtime options of cli-contract.md). */
export interface RunSettings {
  deviceId?: number;
  warmup?: number;
  iters?: number;
  /** Read per-node placement from onnxruntime's profile. */
  profile?: boolean;
  threads?: number;
  /** onnxruntime's graph optimisation level (default all). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  debug?: boolean;
  /** Called after each warm-up or timed run: (done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface ModelRun {
  /** Outputs of each input set, in the session's output order. */
  outputs: OutputTensor[][];
  /** Timed iterations on the first input set, in ms. */
  latenciesMs: number[];
  placement: Placement | null;
}

/**
 * Opens one session on the chosen providers, runs every input set once for the outputs, then times
 * `iters` runs after `warmup` (on the first set). Profiling, when asked, covers the output runs only, so the
 * placement reflects one pass of every node and the timing is not slowed by it.
 */
export async function runModel(bytes: Uint8Array, choice: ProviderChoice, sets: InputTensor[][], settings: RunSettings, label: string): Promise<ModelRun> {
  const warmup = settings.warmup ?? 3;
  const iters = settings.iters ?? 20;
  const total = sets.length + warmup + iters;
  let done = 0;
  const tick = () => settings.onProgress?.(++done, total);
  const profileDir = settings.profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-profile-')) : null;
  const options = {
    executionProviders: choice.used,
    ...(settings.deviceId !== undefined ? { deviceId: settings.deviceId } : {}),
    ...(settings.threads ? { intraOpNumThreads: settings.threads } : {}),
    ...(settings.optimization ? { graphOptimizationLevel: settings.optimization } : {}),
    ...(settings.debug ? { verbose: true } : {}),
  };
  try {
    const outputs: OutputTensor[][] = [];
    let placement: Placement | null = null;
    if (profileDir) {
      const profiled = await openSession(bytes, { ...options, profilePrefix: path.join(profileDir, 'profile') }, label);
      try {
        for (const set of sets) {
          outputs.push(await profiled.run(set));
          tick();
        }
        const file = profiled.endProfiling();
        if (file) placement = readProfile(file, choice.used[0] ?? 'cpu');
      } finally {
        await profiled.release();
      }
    }
    const session = await openSession(bytes, options, label);
    try {
      if (!profileDir) {
        for (const set of sets) {
          outputs.push(await session.run(set));
          tick();
        }
      }
      for (let i = 0; i < warmup; i++) {
        await session.run(sets[0]!);
        tick();
      }
      const latenciesMs: number[] = [];
      for (let i = 0; i < iters; i++) {
        const t = process.hrtime.bigint();
        await session.run(sets[0]!);
        latenciesMs.push(Number(process.hrtime.bigint() - t) / 1e6);
        tick();
      }
      return { outputs, latenciesMs, placement };
    } finally {
      await session.release();
    }
  } finally {
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  }
}

/**
 * Times two sessions on the same input, alternating run by run (and which goes first), so that machine drift
 * and a cache one of them warmed fall on both: what sweep and the latency bench compare.
 */
export async function timeAlternately(a: ModelSession, b: ModelSession, input: InputTensor[], warmup: number, iters: number): Promise<{ a: number[]; b: number[] }> {
  for (let i = 0; i < warmup; i++) {
    await a.run(input);
    await b.run(input);
  }
  const ta: number[] = [];
  const tb: number[] = [];
  const once = async (s: ModelSession, into: number[]) => {
    const t = process.hrtime.bigint();
    await s.run(input);
    into.push(Number(process.hrtime.bigint() - t) / 1e6);
  };
  for (let i = 0; i < iters; i++) {
    if (i % 2 === 0) {
      await once(a, ta);
      await once(b, tb);
    } else {
      await once(b, tb);
      await once(a, ta);
    }
  }
  return { a: ta, b: tb };
}
