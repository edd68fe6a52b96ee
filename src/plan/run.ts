import { effects } from '../effects.js';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { ExitCode, InsertItemError, isOnnxAttnError, type OnnxAttnError } from '../errors.js';
import { checkPatchedModel, patchedModelFailureText } from '../insert/check.js';
import { applyInsertItems } from '../insert/items.js';
import type { Insertion } from '../insert/plan.js';
import { loadModel, type OnnxModel } from '../onnx/load.js';
import { renderModel, type RenderedModel } from '../onnx/save.js';
import type { RunCheck } from '../runtime/check-run.js';
import { PlanError, type LoadedPlan, type PlanEntry, type PlanIssue } from './load.js';

/**
 * Building a plan's entries in memory: one load per entry, every insert item in order, one structure check and
 * (when the outputs will be written) one onnxruntime run against the original. Insert items that do not resolve
 * or cannot be built are plan errors at their line; checks that fail are the entry's failure.
 */

export interface BuiltEntry {
  entry: PlanEntry;
  /** The patched model in memory; null once the caller has saved it and let it go. */
  model: OnnxModel | null;
  insertions: Insertion[];
  check: { structure: string[]; run: RunCheck | null };
  /** Why the entry failed its checks (it is then not written); empty when it passed. */
  problems: string[];
  exitCode: number;
}

/** A damaged model or weights file keeps its exit code (4) at the plan's line; the plan's own mistakes stay 2. */
function fileFault(issue: PlanIssue, e: OnnxAttnError): PlanIssue {
  return e.name === 'ModelError' || e.name === 'DataFileError' ? { ...issue, exitCode: e.exitCode } : issue;
}

/** Flags in library messages read as the plan's keys here. */
const asPlanText = (m: string) => m.replace(/--(after|weights|consumers|opt|bn-eps)\b/g, '$1');

export async function buildEntries(plan: LoadedPlan, entries: readonly PlanEntry[], options: { runCheck: boolean }): Promise<BuiltEntry[]> {
  const issues: PlanIssue[] = [];
  const built: BuiltEntry[] = [];
  for (const entry of entries) {
    let model: OnnxModel;
    try {
      model = await loadModel(entry.input);
    } catch (e) {
      if (!isOnnxAttnError(e)) throw e;
      issues.push(fileFault(plan.issue([...entry.path, 'input'], e.message), e));
      continue;
    }
    let insertions: Insertion[];
    try {
      insertions = await applyInsertItems(
        model,
        entry.items.map((i) => i.options),
        { ...(entry.shapes ? { shapes: entry.shapes } : {}), extraProvenance: { plan: plan.sha256, entry: entry.name } },
      );
    } catch (e) {
      if (!(e instanceof InsertItemError)) throw e;
      const item = entry.items[e.index]!;
      // The plan key the error is about (set where the insert code refused that option), so it points at its line.
      const key = e.option ?? null;
      // `--consumers: node 'x' does not read ...` under `...consumers:` needs no second label.
      const message = key && e.message.startsWith(`--${key}: `) ? e.message.slice(key.length + 4) : e.message;
      issues.push(fileFault(plan.issue(key ? [...item.path, key] : item.path, asPlanText(message)), e.cause));
      continue;
    }
    const { structure, run, failure } = await checkPatchedModel(model, insertions, {
      original: options.runCheck ? () => loadModel(entry.input) : null,
      ...(entry.shapes ? { shapes: entry.shapes } : {}),
    });
    const problems = failure ? [patchedModelFailureText(failure, { gate: 'gate', notWritten: 'not written' })] : [];
    const exitCode: number = failure ? failure.exitCode : ExitCode.pass;
    built.push({ entry, model, insertions, check: { structure, run }, problems, exitCode });
  }
  if (issues.length > 0)
    throw new PlanError(
      plan.file,
      issues.sort((a, b) => a.line - b.line),
    );
  return built;
}

export interface Rendered extends RenderedModel {
  /** sha256 of the model file's bytes. */
  sha256: string;
}

export function render(model: OnnxModel, entry: PlanEntry): Rendered {
  const r = renderModel(model, entry.output, { externalData: entry.externalData });
  const hash = createHash('sha256');
  for (const c of r.modelChunks) hash.update(c);
  return { ...r, sha256: hash.digest('hex') };
}

function sameBytes(file: string, chunks: readonly Uint8Array[]): boolean {
  let bytes: Buffer;
  try {
    bytes = effects.fs.readFileSync(file);
  } catch {
    return false;
  }
  let offset = 0;
  for (const c of chunks) {
    if (offset + c.length > bytes.length) return false;
    if (Buffer.compare(bytes.subarray(offset, offset + c.length), c) !== 0) return false;
    offset += c.length;
  }
  return offset === bytes.length;
}

/** Why the files on disk are not byte-identical to what would be written (model, then external data), or null. */
export function staleReason(r: RenderedModel): string | null {
  const shown = (p: string) => path.relative(process.cwd(), p) || p;
  if (!effects.fs.existsSync(r.path)) return `${shown(r.path)} does not exist`;
  if (!sameBytes(r.path, r.modelChunks)) return `${shown(r.path)} differs from what apply would write now`;
  if (r.dataChunks && !effects.fs.existsSync(r.dataPath!)) return `its external data ${shown(r.dataPath!)} does not exist`;
  if (r.dataChunks && !sameBytes(r.dataPath!, r.dataChunks)) return `its external data ${shown(r.dataPath!)} differs from what apply would write now`;
  return null;
}
