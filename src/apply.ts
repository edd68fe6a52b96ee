import * as path from 'node:path';
import { compare } from './compare.js';
import { effects } from './effects.js';
import { ExitCode, isOnnxAttnError, UsageError, verdictExitCode, worstExitCode } from './errors.js';
import { saveModel } from './onnx/save.js';
import { loadPlan, type LoadedPlan, type PlanEntry } from './plan/load.js';
import type { ApplyEntryResult, ApplyReportWriter, ApplyResult } from './plan/result.js';
import { buildEntries, render, staleReason } from './plan/run.js';
import { validate } from './validate.js';
import { VERSION } from './version.js';

export type { ApplyEntryResult, ApplyReportWriter, ApplyResult } from './plan/result.js';

/**
 * `onnx-attn apply PLAN`: the CI form of insert + validate + compare (cli-contract "Patch plans"). The whole plan
 * is read, checked and every entry built in memory before the first file is written; then each output is saved
 * (atomically, and only when its bytes change), validated and compared with its input as the entry says.
 */

export interface ApplyOptions {
  /** Run only the entries with these names. */
  only?: readonly string[];
  /** Write nothing; report which outputs differ from what apply would write now (exit 1 when any does). */
  check?: boolean;
  /** Write nothing; report what would be done. */
  dryRun?: boolean;
  /**
   * Let the plan's outputs and `reports:` resolve outside the plan's folder (default false: refused as a bad plan,
   * exit 2, so that a plan someone else committed cannot write anywhere on the machine). `reports` given here are
   * the caller's own and may be anywhere.
   */
  allowOutside?: boolean;
  /** More report files (relative to the working directory), besides the plan's `reports:`. */
  reports?: readonly string[];
  /** A progress display for one timed step (validate or compare of one entry). */
  progress?: (label: string) => { update: (done: number, total: number) => void; stop: () => void };
  /** Called when an entry is done, before the next starts. */
  onEntry?: (entry: ApplyEntryResult) => void;
  /**
   * Checks and writes the plan's `reports:` and `reports` (the public index and the CLI pass report/apply.ts's
   * `applyReportWriter`). Without one, a plan or call that asks for reports is a bug of the caller.
   */
  reportWriter?: ApplyReportWriter;
}

/** The report writer, when any report is asked for: a caller that asks for reports without one made a mistake. */
function writerFor(options: ApplyOptions, plan: LoadedPlan | null): ApplyReportWriter | null {
  if (options.reportWriter) return options.reportWriter;
  if ((options.reports?.length ?? 0) === 0 && (plan?.reports.length ?? 0) === 0) return null;
  throw new Error("apply: reports were asked for but no reportWriter was given (the public index passes report/apply.ts's applyReportWriter)");
}

const display = (abs: string) => {
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
};

function selectEntries(plan: LoadedPlan, only: readonly string[] | undefined): PlanEntry[] {
  if (!only || only.length === 0) return plan.entries;
  const names = only
    .flatMap((n) => n.split(','))
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!plan.entries.some((e) => e.name === n)) {
      throw new UsageError(`--only ${n}: ${plan.file} has no entry of that name; its entries are ${plan.entries.map((e) => e.name).join(', ')}`);
    }
  }
  return plan.entries.filter((e) => names.includes(e.name));
}

export async function apply(planFile: string, options: ApplyOptions = {}): Promise<ApplyResult> {
  if (options.check && options.dryRun) throw new UsageError('--check and --dry-run contradict each other; pass one');
  const mode: ApplyResult['mode'] = options.check ? 'check' : options.dryRun ? 'dry-run' : 'apply';
  writerFor(options, null)?.checkPaths(options.reports ?? []);
  const plan = loadPlan(planFile, { allowOutside: options.allowOutside ?? false });
  // No report (the plan's or --report's) may replace the plan, a model, a weights or inputs file: before anything runs.
  const reportWriter = writerFor(options, plan);
  reportWriter?.checkAgainstPlan(plan, options.reports ?? []);
  const selected = selectEntries(plan, options.only);
  const built = await buildEntries(plan, selected, { runCheck: mode === 'apply' });

  const entries: ApplyEntryResult[] = [];
  for (const b of built) {
    const e = b.entry;
    // What apply writes, in memory (it references the model's weights: keep only what is needed of it).
    const rendered = ((r) => ({ sha256: r.sha256, bytes: r.bytes, dataPath: r.dataPath, stale: staleReason(r) }))(render(b.model!, e));
    const stale = rendered.stale;
    const current = stale === null;
    const result: ApplyEntryResult = {
      name: e.name,
      input: display(e.input),
      output: display(e.output),
      dataFile: rendered.dataPath ? display(rendered.dataPath) : null,
      sha256: rendered.sha256,
      bytes: rendered.bytes,
      upToDate: current,
      written: false,
      insertions: b.insertions,
      check: b.check,
      validate: null,
      compare: null,
      planned: {
        validate: e.validate !== null,
        compare: e.compare !== null,
        tolerance: e.compare ? [...((e.compare.tolerance as string[] | undefined) ?? ['fp32'])] : null,
      },
      pass: b.problems.length === 0,
      exitCode: b.exitCode,
      problems: [...b.problems],
    };
    entries.push(result);
    if (mode === 'check') {
      result.pass = current;
      result.exitCode = current ? ExitCode.pass : ExitCode.comparisonFailed;
      if (stale) result.problems.push(stale);
    }
    if (mode !== 'apply' || b.problems.length > 0) {
      options.onEntry?.(result);
      continue;
    }
    if (!current) {
      effects.fs.mkdirSync(path.dirname(e.output), { recursive: true });
      saveModel(b.model!, e.output, { externalData: e.externalData, force: true });
      result.written = true;
    }
    // The runs read the file: let the in-memory model's weights go first.
    b.model = null;
    const step = async <T>(what: 'validate' | 'compare', run: (onProgress: (d: number, t: number) => void) => Promise<T>): Promise<T | null> => {
      const bar = options.progress?.(`${e.name}: ${what}`);
      try {
        return await run(bar ? bar.update : () => {});
      } catch (err) {
        if (!isOnnxAttnError(err)) throw err;
        result.problems.push(`${what}: ${err.message}`);
        result.exitCode = worstExitCode([result.exitCode, err.exitCode]);
        return null;
      } finally {
        bar?.stop();
      }
    };
    if (e.validate) {
      const opts = e.validate;
      result.validate = await step('validate', (onProgress) => validate(result.output, { ...opts, onProgress }));
      if (result.validate) {
        result.exitCode = worstExitCode([result.exitCode, verdictExitCode(result.validate)]);
        if (!result.validate.pass) result.problems.push(...result.validate.problems.map((p) => `validate: ${p}`));
      }
    }
    if (e.compare) {
      const opts = e.compare;
      result.compare = await step('compare', (onProgress) => compare(result.input, result.output, { ...opts, onProgress }));
      if (result.compare) {
        result.exitCode = worstExitCode([result.exitCode, verdictExitCode(result.compare)]);
        if (!result.compare.pass) result.problems.push(...result.compare.problems.filter((p) => !p.startsWith('fell back')).map((p) => `compare: ${p}`));
      }
    }
    result.pass = result.exitCode === ExitCode.pass;
    options.onEntry?.(result);
  }

  const exitCode = worstExitCode(entries.map((r) => r.exitCode));
  const result: ApplyResult = {
    schema: 'onnx-attn/apply@1',
    tool: `onnx-attn ${VERSION}`,
    mode,
    pass: exitCode === 0,
    exitCode,
    plan: plan.file,
    planSha256: plan.sha256,
    entries,
    stale: mode === 'check' ? entries.filter((r) => !r.upToDate).map((r) => r.name) : [],
    reports: [],
  };
  if (mode === 'apply') {
    // Plan reports are relative to the plan (their folders are made, like the outputs'); --report ones to the cwd.
    const files = [...plan.reports, ...(options.reports ?? []).map((r) => path.resolve(r))];
    result.reports = files.map(display);
    for (const file of files) {
      effects.fs.mkdirSync(path.dirname(file), { recursive: true });
      reportWriter!.write(file, result);
    }
  }
  return result;
}
