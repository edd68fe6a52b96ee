import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompareResult } from '../compare.js';
import { UsageError } from '../errors.js';
import type { ValidateResult } from '../validate.js';
import { compareHtml, validateHtml } from './html.js';
import { compareSuite, junitXml, validateSuite } from './junit.js';
import { compareMarkdown, validateMarkdown } from './markdown.js';
import { sweepCsv, sweepHtml, sweepJunit, sweepMarkdown } from './sweep.js';
import type { SweepResult } from '../sweep.js';

export type Reportable = { kind: 'validate'; result: ValidateResult } | { kind: 'compare'; result: CompareResult } | { kind: 'sweep'; result: SweepResult };

const FORMATS = ['.json', '.md', '.html', '.xml', '.csv'] as const;

/** Checks report paths before anything runs, so a typo fails in a second, not after the timed runs. */
export const SWEEP_FORMATS: readonly string[] = FORMATS;

export function checkReportPaths(files: readonly string[], formats: readonly string[] = FORMATS.filter((f) => f !== '.csv')): void {
  for (const f of files) {
    const ext = path.extname(f).toLowerCase();
    if (!formats.includes(ext)) throw new UsageError(`--report ${f}: unknown format '${ext || '(none)'}'; use ${formats.slice(0, -1).join(', ')} or ${formats[formats.length - 1]} (.xml is JUnit)`);
    const dir = path.dirname(path.resolve(f));
    if (!fs.existsSync(dir)) throw new UsageError(`--report ${f}: folder ${dir} does not exist`);
  }
}

export function renderReport(r: Reportable, ext: string): string {
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
    default:
      return junitXml([r.kind === 'compare' ? compareSuite(r.result) : validateSuite(r.result)]);
  }
}

/** Writes each report atomically (temp file, then rename): a reader never sees half a report. */
export function writeText(file: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new UsageError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function writeReports(r: Reportable, files: readonly string[]): void {
  for (const f of files) writeText(f, renderReport(r, path.extname(f).toLowerCase()));
}
