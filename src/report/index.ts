import type * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompareResult } from '../compare.js';
import { effects } from '../effects.js';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../onnx/write.js';
import type { ValidateResult } from '../validate.js';
import { compareHtml, validateHtml } from './html.js';
import { compareSuite, junitXml, validateSuite } from './junit.js';
import { compareMarkdown, validateMarkdown } from './markdown.js';
import { sweepCsv, sweepHtml, sweepJunit, sweepMarkdown } from './sweep.js';
import type { SweepResult } from '../sweep.js';
import type { LoadedPlan } from '../plan/load.js';

export type Reportable = { kind: 'validate'; result: ValidateResult } | { kind: 'compare'; result: CompareResult } | { kind: 'sweep'; result: SweepResult };

const FORMATS = ['.json', '.md', '.html', '.xml', '.csv'] as const;

/** sweep: every format, its CSV table included. */
export const SWEEP_FORMATS: readonly string[] = FORMATS;
/** validate and compare: every format but the sweep's table. */
const RUN_FORMATS: readonly string[] = FORMATS.filter((f) => f !== '.csv');

/** A file a command reads (or writes besides its reports), and what it is, in the user's words ("the model"). */
export interface CommandFile {
  path: string;
  what: string;
}

/** Device and inode: the same file whatever path, symlink or hard link names it; null when it does not exist. */
function identity(file: string): string | null {
  try {
    const st = effects.fs.statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/**
 * Refuses a report path that is one of the command's own files: writing the report would replace the model, the
 * plan or the inputs it reads. `label` is how the error names the report (`--report r.json`, `plan.yaml: reports[0]`).
 */
function refuseOwnFile(label: string, file: string, files: readonly CommandFile[]): void {
  const id = identity(file);
  if (id === null) return;
  const clash = files.find((f) => identity(f.path) === id);
  if (clash)
    throw new UsageError(
      `${label}: that is ${clash.what} (${clash.path}), which this command reads; a report there would replace it; choose another report path`,
    );
}

/** The report's folder must exist and be a folder (a file there is ENOTDIR at write time). */
function checkFolder(label: string, file: string, options: { made?: boolean } = {}): void {
  const resolved = path.resolve(file);
  let dir = path.dirname(resolved);
  // Reports whose folders are made (apply's plan reports): the nearest existing one must be a folder.
  if (options.made) while (!effects.fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  let st: fs.Stats;
  try {
    st = effects.fs.statSync(dir);
  } catch {
    throw new UsageError(`${label}: folder ${dir} does not exist; create it or choose another report path`);
  }
  if (!st.isDirectory()) throw new UsageError(`${label}: ${dir} is a file, not a folder; choose a report path in a folder`);
  if (effects.fs.statSync(resolved, { throwIfNoEntry: false })?.isDirectory())
    throw new UsageError(`${label}: ${resolved} is a folder; give a file name, e.g. ${path.join(file, `report${path.extname(file) || '.json'}`)}`);
}

/**
 * Checks `--report` paths before anything runs: a known format, an existing folder, and never a file the command
 * reads (`inputs`: the model(s), the plan, an `--inputs` file, weights; see `commandFiles`).
 */
export function checkReportPaths(files: readonly string[], formats: readonly string[] = RUN_FORMATS, inputs: readonly CommandFile[] = []): void {
  for (const f of files) {
    const ext = path.extname(f).toLowerCase();
    if (!formats.includes(ext))
      throw new UsageError(
        `--report ${f}: unknown format '${ext || '(none)'}'; use ${formats.slice(0, -1).join(', ')} or ${formats[formats.length - 1]} (.xml is JUnit)`,
      );
    checkFolder(`--report ${f}`, f);
    refuseOwnFile(`--report ${f}`, f, inputs);
  }
}

const isFileSource = (s: unknown): s is string => typeof s === 'string' && s !== '' && s !== 'random' && s !== 'zeros';

/**
 * The files validate, compare and sweep read, from their parsed command-line arguments (`model`, `a`, `b`,
 * `inputs`, `weights`): what `checkReportPaths` must never write over.
 */
export function commandFiles(args: object): CommandFile[] {
  const a = args as { model?: unknown; a?: unknown; b?: unknown; inputs?: unknown; weights?: unknown };
  const files: CommandFile[] = [];
  for (const [key, what] of [
    ['model', 'the model'],
    ['a', 'the model a'],
    ['b', 'the model b'],
  ] as const) {
    const v = a[key];
    if (typeof v === 'string' && v !== '') files.push({ path: v, what });
  }
  if (isFileSource(a.inputs)) files.push({ path: a.inputs, what: 'the --inputs file' });
  const weights = Array.isArray(a.weights) ? a.weights : a.weights === undefined ? [] : [a.weights];
  for (const w of weights) if (typeof w === 'string') for (const p of w.split(',')) if (p) files.push({ path: p, what: 'a --weights file' });
  return files;
}

/** The files a result says its command read: the last line of defence when a caller did not pass them up front. */
function resultFiles(r: Reportable): CommandFile[] {
  if (r.kind === 'validate') return commandFiles({ model: r.result.model, inputs: r.result.inputs.source });
  if (r.kind === 'compare') return commandFiles({ a: r.result.a.path, b: r.result.b.path, inputs: r.result.inputs.source });
  return commandFiles({ model: r.result.model });
}

/**
 * `apply`'s reports (the plan's `reports:` and `--report`), once the plan is read and before anything is built or
 * written: none may be the plan, an entry's input, output, weights or `--inputs` file, and each plan report's
 * nearest existing folder must be a folder (apply makes the rest).
 */
export function checkApplyReports(plan: LoadedPlan, extra: readonly string[] = []): void {
  const files = planFiles(plan);
  plan.reports.forEach((r, n) => {
    const label = `${plan.file}: reports[${n}] ${path.relative(process.cwd(), r) || r}`;
    checkFolder(label, r, { made: true });
    refuseOwnFile(label, r, files);
  });
  for (const r of extra) refuseOwnFile(`--report ${r}`, r, files);
}

/** What an apply run reads and writes besides its reports. */
export function planFiles(plan: LoadedPlan): CommandFile[] {
  const files: CommandFile[] = [{ path: plan.file, what: 'the plan' }];
  for (const e of plan.entries) {
    const at = `models[${e.index}]`;
    files.push({ path: e.input, what: `the input model of ${at}` }, { path: e.output, what: `the output model of ${at}` });
    e.items.forEach((item, k) => {
      const weights = item.options.weights;
      for (const w of typeof weights === 'string' ? [weights] : (weights ?? [])) files.push({ path: w, what: `a weights file of ${at}.insert[${k}]` });
    });
    for (const step of ['validate', 'compare'] as const) {
      const source = e[step]?.inputs;
      if (isFileSource(source)) files.push({ path: source, what: `the inputs file of ${at}.${step}` });
    }
  }
  return files;
}

export function renderReport(r: Reportable, format: string): string {
  // `.md`, `md` and `MD` are one format; one a report kind does not have is refused, never written as another.
  const ext = `.${format.replace(/^\./, '').toLowerCase()}`;
  const formats = r.kind === 'sweep' ? SWEEP_FORMATS : RUN_FORMATS;
  if (!formats.includes(ext)) throw new UsageError(`a ${r.kind} report has no format '${format}'; use ${formats.join(', ')} (.xml is JUnit)`);
  if (r.kind === 'sweep') {
    if (ext === '.json') return JSON.stringify(r.result, null, 2) + '\n';
    if (ext === '.md') return sweepMarkdown(r.result);
    if (ext === '.html') return sweepHtml(r.result);
    if (ext === '.csv') return sweepCsv(r.result);
    return sweepJunit(r.result);
  }
  switch (ext) {
    case '.json':
      return JSON.stringify(r.result, null, 2) + '\n';
    case '.md':
      return r.kind === 'compare' ? compareMarkdown(r.result) : validateMarkdown(r.result);
    case '.html':
      return r.kind === 'compare' ? compareHtml(r.result) : validateHtml(r.result);
    default: // .xml
      return junitXml([r.kind === 'compare' ? compareSuite(r.result) : validateSuite(r.result)]);
  }
}

/** Writes each report atomically (onnx/write.ts's one atomic writer): a reader never sees half a report. */
export function writeText(file: string, text: string): void {
  try {
    writeFileAtomic(file, [Buffer.from(text, 'utf8')]);
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Writes every report, after checking all of them against the files the result says were read (a report over
 * the model or the inputs file is refused, and nothing is written).
 */
export function writeReports(r: Reportable, files: readonly string[]): void {
  if (!r || typeof r !== 'object' || !('kind' in r) || !('result' in r)) {
    throw new UsageError("writeReports takes {kind: 'validate' | 'compare' | 'sweep' | ..., result}, not a bare result");
  }
  const own = resultFiles(r);
  for (const f of files) refuseOwnFile(`--report ${f}`, f, own);
  // Every report rendered before any is written: an unknown format leaves no file behind.
  const texts = files.map((f) => renderReport(r, path.extname(f)));
  files.forEach((f, i) => writeText(f, texts[i]!));
}
