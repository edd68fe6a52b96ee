import type { CompareResult } from '../compare.js';
import type { ValidateResult } from '../validate.js';
import type { LoadedPlan } from './load.js';
import type { BuiltEntry } from './run.js';

/**
 * What `apply` returns, and the report writer it is given: here, not in apply.ts, so that the reports can render a
 * result without importing the verb that makes it (report/apply.ts renders these types; apply.ts calls the writer).
 */

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
  insertions: BuiltEntry['insertions'];
  /** Structure and CPU run checks of the patched model (the run is skipped by --check and --dry-run). */
  check: BuiltEntry['check'];
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

/**
 * How apply checks and writes its report files (report/apply.ts's `applyReportWriter` is the one the library and
 * the CLI use). Each step throws a UsageError for a report path that cannot be written.
 */
export interface ApplyReportWriter {
  /** Before the plan is read: the caller's own report files (`--report`) have a known format and an existing folder. */
  checkPaths(files: readonly string[]): void;
  /** Once the plan is read, before anything is built: no report may replace the plan or a file an entry reads or writes. */
  checkAgainstPlan(plan: LoadedPlan, files: readonly string[]): void;
  /** Writes one report of the result (the format by the file's extension), atomically. */
  write(file: string, result: ApplyResult): void;
}
