import { PlanError, type PlanIssue } from '../errors.js';
import { checkEntries, type PlanEntry } from './check.js';
import { parsePlan, sortIssues, type IssueAt } from './parse.js';
import { planPaths, type Problem } from './resolve.js';

/**
 * Reading a patch plan (cli-contract "Patch plans"): parse.ts turns the file into a schema-checked document whose
 * keys know their lines, check.ts its entries into PlanEntry (modules, options, runtime blocks), resolve.ts its
 * paths (relative to the plan, outputs inside its folder, nothing read is written over). Every problem is reported
 * as `plan.yaml:7: models[0].insert[1].module: what was expected`.
 */

// Importers of the plan reader find the plan's types and its error here.
export { PlanError, type PlanIssue } from '../errors.js';
export type { PlanEntry, PlanItem } from './check.js';
export type { KeyPath } from './parse.js';

export interface LoadedPlan {
  /** The plan path as given (what error messages name). */
  file: string;
  dir: string;
  /** sha256 of the plan file's bytes: goes into every output's provenance. */
  sha256: string;
  entries: PlanEntry[];
  /** Absolute report paths from the plan's `reports:`. */
  reports: string[];
  /** Where a key path is in the plan: for errors found later (an insertion point that does not resolve). */
  issue: IssueAt;
}

export interface LoadPlanOptions {
  /**
   * Let outputs and reports resolve outside the plan's folder (`apply --allow-outside`). By default a plan writes
   * only inside its own folder (after symlinks): a plan someone else committed must not write anywhere on the CI
   * machine. Inputs, weights and inputs files may be anywhere (models are often shared).
   */
  allowOutside?: boolean;
}

/**
 * Reads and checks a plan. Everything a file-system look can tell is checked here (files exist, outputs are
 * distinct and never an input); what needs the models (SPECs, shapes) is checked when the entries are built,
 * still before anything is written. Throws PlanError (exit 2) with every problem found, in line order.
 */
export function loadPlan(file: string, options: LoadPlanOptions = {}): LoadedPlan {
  const { dir, sha256, plan, issue } = parsePlan(file);
  const issues: PlanIssue[] = [];
  const problem: Problem = (at, message, atKey) => void issues.push(issue(at, message, atKey));
  const paths = planPaths(file, dir, options, problem);
  const entries = checkEntries(plan, paths, problem);
  paths.checkWrites(entries);
  const reports = paths.reports(plan.reports ?? [], entries);
  if (issues.length > 0) throw new PlanError(file, sortIssues(issues));
  return { file, dir, sha256, entries, reports, issue };
}
