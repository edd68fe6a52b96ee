import { checkStructure } from '../check.js';
import { ExitCode, type ExitCodeValue } from '../errors.js';
import type { TensorType } from '../graph/graph.js';
import type { OnnxModel } from '../onnx/load.js';
import { checkRun, type RunCheck } from '../runtime/check-run.js';
import type { Insertion } from './plan.js';

/**
 * The one check of a patched model, for `insert` and for plans (`apply`): its structure, then (when asked) one
 * onnxruntime run against the original; a model whose every module is zero-gated must give the original's
 * outputs bit for bit. The verdict is returned, not thrown: insert refuses to write, a plan marks its entry.
 */

export interface PatchedModelFailure {
  /** structure: not a valid model (a bug of onnx-attn); run: does not run like the original; gate: gated but not identical. */
  kind: 'structure' | 'run' | 'gate';
  /** 4 for structure and run (the patched model is invalid), 1 for gate (outputs that should agree do not). */
  exitCode: ExitCodeValue;
  /** The first structure or run problem, or the largest difference of a gated patch. */
  problem: string;
}

export interface PatchedModelCheck {
  structure: string[];
  /** Null when the run was not asked for, or the structure already failed. */
  run: RunCheck | null;
  failure: PatchedModelFailure | null;
}

export interface PatchedModelCheckOptions {
  /** The original model (or its file), fetched only if the run check happens; null: no run check. */
  original: (() => Promise<OnnxModel | string>) | null;
  /** Sizes for dynamic inputs of the run. */
  shapes?: Record<string, number[]>;
  /**
   * Each insertion's input type from the analysis that placed it: only the modules' own nodes are then inferred.
   * Without it the whole graph is.
   */
  inputTypes?: readonly (TensorType | null)[];
}

export async function checkPatchedModel(model: OnnxModel, insertions: readonly Insertion[], options: PatchedModelCheckOptions): Promise<PatchedModelCheck> {
  const types = options.inputTypes;
  const structure = checkStructure(
    model,
    insertions.map((ins, i) => ({ input: ins.moduleInput!, output: ins.moduleOutput!, ...(types ? { inputType: types[i] ?? null } : {}) })),
  );
  if (structure.length > 0) return { structure, run: null, failure: { kind: 'structure', exitCode: ExitCode.invalidModel, problem: structure[0]! } };
  if (options.original === null) return { structure, run: null, failure: null };
  const run = await checkRun(await options.original(), model, options.shapes ? { shapes: options.shapes } : {});
  return { structure, run, failure: runFailure(run, insertions) };
}

/** What a check run says of the patched model: it runs like the original, and a wholly zero-gated patch is an identity. */
export function runFailure(run: RunCheck, insertions: readonly Insertion[]): PatchedModelFailure | null {
  if (run.problems.length > 0) return { kind: 'run', exitCode: ExitCode.invalidModel, problem: run.problems[0]! };
  if (insertions.every((i) => i.gate === 'zero') && !run.identical) return { kind: 'gate', exitCode: ExitCode.comparisonFailed, problem: `${run.maxAbsDiff}` };
  return null;
}

/**
 * A failure in words. `gate` is how the caller names the option (`--gate` on the command line, `gate` in a plan);
 * `notWritten` what became of the output (`nothing was written`).
 */
export function patchedModelFailureText(f: PatchedModelFailure, words: { gate: string; notWritten: string }): string {
  switch (f.kind) {
    case 'structure':
      return `the patched model is not valid (${f.problem}); ${words.notWritten}. Please report this with --debug output`;
    case 'run':
      return `the patched model does not run like the original: ${f.problem}; ${words.notWritten}`;
    case 'gate':
      return `${words.gate} zero must reproduce the original outputs exactly, but they differ by up to ${f.problem}; ${words.notWritten}`;
  }
}
