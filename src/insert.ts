import * as path from 'node:path';
import { clone } from '@bufbuild/protobuf';
import { analyzeModel } from './analysis.js';
import { effects } from './effects.js';
import { MismatchError, ModelError, UsageError } from './errors.js';
import { checkPatchedModel, patchedModelFailureText } from './insert/check.js';
import type { InsertOptions } from './insert/options.js';
import { applyInsertions } from './insert/items.js';
import { planInsertions, type Insertion } from './insert/plan.js';
import { findModule } from './modules/index.js';
import { loadModel } from './onnx/load.js';
import { ModelProtoSchema } from './onnx/proto.js';
import { checkOutputPath, saveModel, type ExternalDataMode } from './onnx/save.js';
import type { RunCheck } from './runtime/check-run.js';

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
 */
export async function insertIntoFile(input: string, options: InsertFileOptions): Promise<InsertResult> {
  const output = options.inPlace ? input : (options.output ?? defaultOutputPath(input, findModule(options.module).name));
  if (!options.inPlace && path.resolve(output) === path.resolve(input)) {
    throw new UsageError(`refusing to overwrite the input ${input}; choose another -o, or pass --in-place`);
  }
  if (!options.dryRun) checkOutputPath(output, { force: options.force ?? false, inPlace: options.inPlace ?? false });
  const model = await loadModel(input);
  // A model read from a pipe cannot be read a second time for the check run: its original is kept as a copy.
  const original = isRegularFile(input) ? null : { ...model, proto: clone(ModelProtoSchema, model.proto) };
  // --shape sizes the probe and the check run; the modules see the model's own (possibly dynamic) dims.
  const analyzed = await analyzeModel(model, options.shapes ? { probeShapes: options.shapes } : {});
  const plans = planInsertions(analyzed, options);
  // A dry run splices too, in memory only, so it reports the very node and initializer names a real run writes.
  if (options.dryRun) return { input, output, dryRun: true, insertions: applyInsertions(analyzed, plans), check: null };

  const insertions = applyInsertions(analyzed, plans);
  // Each module is checked against the type it was built for (the analysis already typed the whole graph). The
  // original for the run: its file, which onnxruntime reads without a second load and encoding here. External data
  // is read by our loader (it may be a pipe or lie outside rules onnxruntime does not check), as before.
  const { structure, run, failure } = await checkPatchedModel(model, insertions, {
    inputTypes: plans.map((p) => analyzed.structure.types.get(p.site.value) ?? null),
    original: options.check === false ? null : async () => original ?? (model.hadExternalData ? await loadModel(input) : input),
    ...(options.shapes ? { shapes: options.shapes } : {}),
  });
  if (failure) {
    const message = patchedModelFailureText(failure, { gate: '--gate', notWritten: 'nothing was written' });
    throw failure.kind === 'gate' ? new MismatchError(message) : new ModelError(message);
  }
  saveModel(model, output, {
    ...(options.externalData ? { externalData: options.externalData } : {}),
    force: options.force ?? false,
    inPlace: options.inPlace ?? false,
  });
  return { input, output, dryRun: false, insertions, check: { structure, run } };
}

function isRegularFile(file: string): boolean {
  try {
    return effects.fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
