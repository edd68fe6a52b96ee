import { effects } from '../effects.js';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InputTensor } from './inputs.js';
import { readProfile, type Placement } from './placement.js';
import type { ProviderChoice } from './providers.js';
import { openSession, type ModelSession, type OutputTensor } from './session.js';
import { numberIn } from '../options.js';
import { MAX_RUNS } from './limits.js';
import { stopReason, type Overhead, type TimingTarget } from './paired.js';

/** `warmup` and `iters` of the settings, defaults filled in, checked for library callers as the CLI checks its flags. */
export function runCounts(settings: Pick<RunSettings, 'warmup' | 'iters'>): { warmup: number; iters: number } {
  return { warmup: numberIn('warmup', settings.warmup, 0, MAX_RUNS, true) ?? 3, iters: numberIn('iters', settings.iters, 1, MAX_RUNS, true) ?? 20 };
}

/** How a model is run and timed (the runtime options of cli-contract.md). */
export interface RunSettings {
  /** GPU index for cuda and tensorrt (default 0). */
  deviceId?: number;
  /** Untimed runs before timing (default 3, at most 100000). */
  warmup?: number;
  /** Timed runs (default 20, at most 100000). */
  iters?: number;
  /** Read per-node placement from onnxruntime's profile (default false). */
  profile?: boolean;
  /** onnxruntime's intra-op threads (default: onnxruntime's choice, one per core). */
  threads?: number;
  /** onnxruntime's graph optimisation level (default all). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** onnxruntime's own log on stderr, verbose (default false: it stays quiet and errors come back as exceptions). */
  debug?: boolean;
  /** Sizes the user gave dynamic inputs (`--shape`), for the hint of a failed run. */
  shapes?: Record<string, number[]>;
  /** Called after each warm-up or timed run: (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** onnxruntime (default) or opencv (OpenCV.js in a worker thread, src/runtime/opencv.ts; loaded only then). */
  runtime?: 'onnxruntime' | 'opencv';
}

export interface ModelRun {
  /** Outputs of each input set, in the session's output order. */
  outputs: OutputTensor[][];
  /** Timed iterations on the first input set, in ms. */
  latenciesMs: number[];
  placement: Placement | null;
}

/** Session options from the runtime settings: providers, device, threads, optimisation level, log level. */
export function sessionOptions(choice: ProviderChoice, settings: RunSettings) {
  return {
    executionProviders: choice.used,
    ...(settings.deviceId !== undefined ? { deviceId: settings.deviceId } : {}),
    ...(settings.threads ? { intraOpNumThreads: settings.threads } : {}),
    ...(settings.optimization ? { graphOptimizationLevel: settings.optimization } : {}),
    ...(settings.debug ? { verbose: true } : {}),
    ...(settings.shapes ? { shapes: settings.shapes } : {}),
  };
}

/**
 * A session on the chosen providers, left open for timing, with the outputs of every input set. With `profile`,
 * the outputs come from a separate profiled session (closed again), so the placement reflects one pass of every
 * node and the timed session is not slowed by profiling.
 */
async function openWithOutputs(
  bytes: Uint8Array,
  choice: ProviderChoice,
  sets: InputTensor[][],
  settings: RunSettings,
  label: string,
  tick: () => void,
): Promise<{ session: ModelSession; outputs: OutputTensor[][]; placement: Placement | null }> {
  const options = sessionOptions(choice, settings);
  const outputs: OutputTensor[][] = [];
  let placement: Placement | null = null;
  if (settings.profile) {
    const dir = effects.fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-profile-'));
    try {
      const profiled = await openSession(bytes, { ...options, profilePrefix: path.join(dir, 'profile') }, label);
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
    } finally {
      effects.fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const session =
    settings.runtime === 'opencv' ? await (await import('./opencv.js')).openOpencvSession(bytes, label) : await openSession(bytes, options, label);
  if (!settings.profile) {
    try {
      for (const set of sets) {
        outputs.push(await session.run(set));
        tick();
      }
    } catch (e) {
      await session.release();
      throw e;
    }
  }
  return { session, outputs, placement };
}

/**
 * One model: the outputs of every input set, then `iters` timed runs after `warmup` (on the first set).
 */
export async function runModel(bytes: Uint8Array, choice: ProviderChoice, sets: InputTensor[][], settings: RunSettings, label: string): Promise<ModelRun> {
  const { warmup, iters } = runCounts(settings);
  const total = sets.length + warmup + iters;
  let done = 0;
  const tick = () => settings.onProgress?.(++done, total);
  const { session, outputs, placement } = await openWithOutputs(bytes, choice, sets, settings, label, tick);
  try {
    for (let i = 0; i < warmup; i++) {
      await session.run(sets[0]!);
      tick();
    }
    const latenciesMs: number[] = [];
    for (let i = 0; i < iters; i++) {
      const t = effects.now();
      await session.run(sets[0]!);
      latenciesMs.push(effects.now() - t);
      tick();
    }
    return { outputs, latenciesMs, placement };
  } finally {
    await session.release();
  }
}

export interface PairSide {
  bytes: Uint8Array;
  choice: ProviderChoice;
  label: string;
  profile?: boolean;
  /** This side's runtime (default: the settings'). */
  runtime?: 'onnxruntime' | 'opencv';
}

/**
 * Two models (or one model on two providers) on the same inputs: the outputs of each, then their timed runs
 * alternated run by run, so the overhead compare reports is not the machine's drift between two runs.
 */
export async function runPair(
  a: PairSide,
  b: PairSide,
  sets: InputTensor[][],
  settings: RunSettings,
  target: TimingTarget = {},
): Promise<{ a: ModelRun; b: ModelRun; stoppedBy: Overhead['stoppedBy'] }> {
  const { warmup, iters } = runCounts(settings);
  const total = 2 * (sets.length + warmup + iters);
  let done = 0;
  const tick = () => settings.onProgress?.(++done, total);
  const ra = await openWithOutputs(a.bytes, a.choice, sets, { ...settings, profile: !!a.profile, ...(a.runtime ? { runtime: a.runtime } : {}) }, a.label, tick);
  try {
    const rb = await openWithOutputs(
      b.bytes,
      b.choice,
      sets,
      { ...settings, profile: !!b.profile, ...(b.runtime ? { runtime: b.runtime } : {}) },
      b.label,
      tick,
    );
    try {
      const times = await timeAlternately(ra.session, rb.session, sets[0]!, warmup, iters, target);
      done = total;
      settings.onProgress?.(done, total);
      return {
        a: { outputs: ra.outputs, latenciesMs: times.a, placement: ra.placement },
        b: { outputs: rb.outputs, latenciesMs: times.b, placement: rb.placement },
        stoppedBy: times.stoppedBy,
      };
    } finally {
      await rb.session.release();
    }
  } finally {
    await ra.session.release();
  }
}

/**
 * Times two sessions on the same input, alternating run by run (and which goes first), so that machine drift
 * and a cache one of them warmed fall on both: what sweep and the latency bench compare. Run i of a and run i of
 * b are a pair (see paired.ts); `target` times on past `iters` to a precision or until a budget ends.
 */
export async function timeAlternately(
  a: ModelSession,
  b: ModelSession,
  input: InputTensor[],
  warmup: number,
  iters: number,
  target: TimingTarget = {},
): Promise<{ a: number[]; b: number[]; stoppedBy: Overhead['stoppedBy'] }> {
  for (let i = 0; i < warmup; i++) {
    await a.run(input);
    await b.run(input);
  }
  const ta: number[] = [];
  const tb: number[] = [];
  const once = async (s: ModelSession, into: number[]) => {
    const t = effects.now();
    await s.run(input);
    into.push(effects.now() - t);
  };
  // `iters` pairs, or on to the precision target or the budget (stopReason); the budget counts timed runs only.
  const start = effects.now();
  for (let i = 0; ; i++) {
    if (i % 2 === 0) {
      await once(a, ta);
      await once(b, tb);
    } else {
      await once(b, tb);
      await once(a, ta);
    }
    const stoppedBy = stopReason(ta, tb, iters, (effects.now() - start) / 1e3, target);
    if (stoppedBy) return { a: ta, b: tb, stoppedBy };
  }
}
