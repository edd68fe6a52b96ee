import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunCheck } from './runtime/check-run.js';
import { compare, type CompareResult } from './compare.js';
import { ExitCode, isOnnxAttnError, UsageError, verdictExitCode, worstExitCode } from './errors.js';
import type { Insertion } from './insert.js';
import { saveModel } from './onnx/save.js';
import { loadPlan, type LoadedPlan, type PlanEntry } from './plan/load.js';
import { buildEntries, render, staleReason } from './plan/run.js';
import { checkApplyReports, checkReportPaths, writeText } from './report/index.js';
import { renderApplyReport } from './report/apply.js';
import { validate, type ValidateResult } from './validate.js';
import { VERSION } from './version.js';

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
}

export interface ApplyEntryResult {
  name: string;
  /** Paths relative to the working directory when inside it, else absolute. */
  input: string;
  output: string;
  /** External data file of the output, or null when everything is inline. */
  dataFile: string | null;
  /** sha256 of the output model file (what apply writes, or would write). */
  sha256: string;
  bytes: number;
  /** The output on disk was already byte-identical to what apply writes. */
  upToDate: boolean;
  /** This run wrote the output. */
  written: boolean;
  insertions: Insertion[];
  /** Structure and CPU run checks of the patched model (the run is skipped by --check and --dry-run). */
  check: { structure: string[]; run: RunCheck | null };
  validate: ValidateResult | null;
  compare: CompareResult | null;
  /** What this run planned for validate and compare (null: skipped by the plan). */
  planned: { validate: boolean; compare: boolean; tolerance: string[] | null };
  pass: boolean;
  exitCode: number;
  problems: string[];
}

export interface ApplyResult {
  schema: 'onnx-attn/apply@1';
  tool: string;
  mode: 'apply' | 'check' | 'dry-run';
  pass: boolean;
  /** The worst entry's exit status (cli-contract "Exit codes"); with --check, 1 when any output is stale. */
  exitCode: number;
  plan: string;
  planSha256: string;
  entries: ApplyEntryResult[];
  /** --check: the entries whose output is missing or differs. */
  stale: string[];
  /** Report files written. */
  reports: string[];
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
  checkReportPaths(options.reports ?? []);
  const plan = loadPlan(planFile, { allowOutside: options.allowOutside ?? false });
  // No report (the plan's or --report's) may replace the plan, a model, a weights or inputs file: before anything runs.
  checkApplyReports(plan, options.reports ?? []);
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
      fs.mkdirSync(path.dirname(e.output), { recursive: true });
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
      fs.mkdirSync(path.dirname(file), { recursive: true });
      writeText(file, renderApplyReport(result, path.extname(file).toLowerCase()));
    }
  }
  return result;
}

/** `apply --check`: exit 0 when every output is byte-identical to what apply would write now. */
export function checkPlan(planFile: string, options: Omit<ApplyOptions, 'check' | 'dryRun'> = {}): Promise<ApplyResult> {
  return apply(planFile, { ...options, check: true });
}
