import * as path from 'node:path';
import { clone } from '@bufbuild/protobuf';
import { analyzeModel } from './analysis.js';
import { effects } from './effects.js';
import { MismatchError, ModelError, UsageError } from './errors.js';
import { checkPatchedModel, patchedModelFailureText, runFailure, type PatchedModelFailure } from './insert/check.js';
import type { InsertOptions } from './insert/options.js';
import { applyInsertions } from './insert/items.js';
import { planInsertions, type Insertion } from './insert/plan.js';
import { findModule } from './modules/index.js';
import { loadModel, type OnnxModel } from './onnx/load.js';
import { ModelProtoSchema } from './onnx/proto.js';
import { checkOutputPath, stageModel, type ExternalDataMode, type StagedModel } from './onnx/save.js';
import { checkRun, checkRunInputs, type RunCheck } from './runtime/check-run.js';
import type { InputTensor } from './runtime/inputs.js';

/**
 * The `insert` command: its file options (output, force, in-place, dry run, check), the model read and the
 * result written. The insert pipeline's parts live in src/insert/: the flag mapping (options.ts), planning
 * (plan.ts, weights.ts), the gate (gate.ts), applying (items.ts) and the patched-model check (check.ts); their
 * names are re-exported here for the importers of this file.
 */

export { insertOptionsFrom, type InsertFlags, type InsertOptions } from './insert/options.js';
export { defaultBnEps, planInsertions, type Insertion, type InsertionPlan } from './insert/plan.js';
export { applyInsertions, applyInsertItems, type InsertItemsOptions } from './insert/items.js';
export { InsertItemError } from './errors.js';

/** `<stem>-<module>.onnx` beside the input. */
export function defaultOutputPath(input: string, module: string): string {
  const ext = path.extname(input);
  return path.join(path.dirname(input), `${path.basename(input, ext)}-${module.toLowerCase()}${ext || '.onnx'}`);
}

export interface InsertFileOptions extends InsertOptions {
  /** Output path (default `<stem>-<module>.onnx` beside the input). */
  output?: string;
  /** Replace an existing output (default false: refused, exit 2). */
  force?: boolean;
  /** Write over the input file (default false). */
  inPlace?: boolean;
  /** `auto` (default): as the input was stored; `always`: weights to `<output>.data`; `never`: all inline. */
  externalData?: ExternalDataMode;
  /** Plan only: locate, validate and count, write nothing. */
  dryRun?: boolean;
  /** Run the original and patched models once in onnxruntime (CPU) before saving (default true). */
  check?: boolean;
  /** Sizes for dynamic inputs (probe and check runs). */
  shapes?: Record<string, number[]>;
}

/** The `insert --json` document (cli-contract "JSON output"). */
export interface InsertResult {
  input: string;
  output: string;
  dryRun: boolean;
  insertions: Insertion[];
  check: { structure: string[]; run: RunCheck | null } | null;
}

/**
 * The `insert` command as a library call: load → locate → build → splice → check → save. Nothing is written
 * unless every step passed; the output appears atomically.
 *
 * The output is staged (written under a temporary name beside it) before the check run, and the run reads the
 * patched model from that file: the model is rendered and written once, and this process holds no model while
 * onnxruntime's sessions hold theirs. A failed run removes the staged files; a passed one publishes them.
 */
export async function insertIntoFile(input: string, options: InsertFileOptions): Promise<InsertResult> {
  const output = options.inPlace ? input : (options.output ?? defaultOutputPath(input, findModule(options.module).name));
  if (!options.inPlace && path.resolve(output) === path.resolve(input)) {
    throw new UsageError(`refusing to overwrite the input ${input}; choose another -o, or pass --in-place`);
  }
  if (!options.dryRun) checkOutputPath(output, { force: options.force ?? false, inPlace: options.inPlace ?? false });
  const patched = await patchAndStage(input, output, options);
  if (patched.staged === null) return { input, output, dryRun: true, insertions: patched.insertions, check: null };
  const { staged, insertions, structure } = patched;
  let run = patched.run;
  try {
    if (patched.runStaged) {
      await releaseModelMemory();
      run = await checkRun(patched.runStaged.original, staged.stagedPath, { inputs: patched.runStaged.inputs });
      const failure = runFailure(run, insertions);
      if (failure) throw failureError(failure);
    }
  } catch (e) {
    staged.discard();
    throw e;
  }
  staged.publish();
  return { input, output, dryRun: false, insertions, check: { structure, run } };
}

/**
 * The model is garbage once patchAndStage returns: a full collection hands its buffer back before onnxruntime's
 * sessions take memory V8 does not see (peak on a 129 MB model: 3.4 → 2.1 × the file). V8 returns the buffers'
 * memory on a later turn of the event loop, and creating a session blocks this thread, hence the yield and the
 * second collection. Only where the host exposes `gc` (`node --expose-gc`; the CLI does); a no-op otherwise.
 */
async function releaseModelMemory(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return;
  gc();
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
}

function failureError(failure: PatchedModelFailure): Error {
  const message = patchedModelFailureText(failure, { gate: '--gate', notWritten: 'nothing was written' });
  return failure.kind === 'gate' ? new MismatchError(message) : new ModelError(message);
}

interface Patched {
  insertions: Insertion[];
  structure: string[];
  /** Null for a dry run. */
  staged: StagedModel | null;
  /** The check run already made (from memory), or null. */
  run: RunCheck | null;
  /** What the check run of the staged file needs, when it is still to be made. */
  runStaged: { original: OnnxModel | string; inputs: InputTensor[] } | null;
}

/**
 * Everything that needs the model in this process: load, analyse, plan, splice, the structural check and the staged
 * write. Its own function, so that the model is garbage once it returns, before the check run's sessions open.
 */
async function patchAndStage(input: string, output: string, options: InsertFileOptions): Promise<Patched> {
  const model = await loadModel(input);
  // A model read from a pipe cannot be read a second time for the check run: its original is kept as a copy.
  const original = isRegularFile(input) ? null : { ...model, proto: clone(ModelProtoSchema, model.proto) };
  // --shape sizes the probe and the check run; the modules see the model's own (possibly dynamic) dims.
  const analyzed = await analyzeModel(model, options.shapes ? { probeShapes: options.shapes } : {});
  const plans = planInsertions(analyzed, options);
  // A dry run splices too, in memory only, so it reports the very node and initializer names a real run writes.
  if (options.dryRun) return { insertions: applyInsertions(analyzed, plans), structure: [], staged: null, run: null, runStaged: null };

  const insertions = applyInsertions(analyzed, plans);
  // Each module is checked against the type it was built for (the analysis already typed the whole graph).
  const inputTypes = plans.map((p) => analyzed.structure.types.get(p.site.value) ?? null);
  const { structure, failure } = await checkPatchedModel(model, insertions, { inputTypes, original: null });
  if (failure) throw failureError(failure);
  const staged = stageModel(model, output, {
    ...(options.externalData ? { externalData: options.externalData } : {}),
    force: options.force ?? false,
    inPlace: options.inPlace ?? false,
  });
  if (options.check === false) return { insertions, structure, staged, run: null, runStaged: null };
  try {
    // The original for the run: its file, which onnxruntime reads without a second load and encoding here. External
    // data is read by our loader (it may be a pipe or lie outside rules onnxruntime does not check), as before.
    const originalForRun = original ?? (model.hadExternalData ? await loadModel(input) : input);
    const shapes = options.shapes ? { shapes: options.shapes } : {};
    // A staged model with external data names its final data file, not there until published: it runs from memory.
    if (staged.hasExternalData) {
      const run = await checkRun(originalForRun, model, shapes);
      const runFailed = runFailure(run, insertions);
      if (runFailed) throw failureError(runFailed);
      return { insertions, structure, staged, run, runStaged: null };
    }
    return { insertions, structure, staged, run: null, runStaged: { original: originalForRun, inputs: checkRunInputs(model, shapes) } };
  } catch (e) {
    staged.discard();
    throw e;
  }
}

function isRegularFile(file: string): boolean {
  try {
    return effects.fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
