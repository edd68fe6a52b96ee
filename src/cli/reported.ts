/**
 * How validate, compare and sweep run: report paths are checked before anything runs, the run shows a progress bar
 * on a terminal, then the reports are written and the result printed (JSON with --json; the text form unless --quiet
 * and passing).
 */
import type { Reportable } from '../report/index.js';

export async function reported<R extends object>(
  args: { report?: string[] | undefined; json: boolean; quiet: boolean },
  label: string,
  run: (onProgress: (done: number, total: number) => void) => Promise<R>,
  reportable: (result: R) => Reportable,
  format: (result: R) => string,
  print: (text: string) => void,
  options: { formats?: readonly string[]; unit?: string; alwaysPrint?: boolean } = {},
): Promise<R> {
  const { checkReportPaths, commandFiles, writeReports } = await import('../report/index.js');
  checkReportPaths(args.report ?? [], options.formats, commandFiles(args));
  const { progressBar } = await import('./progress.js');
  const bar = progressBar(label, !args.json && !args.quiet, options.unit);
  let result: R;
  try {
    result = await run(bar.update);
  } finally {
    bar.stop();
  }
  writeReports(reportable(result), args.report ?? []);
  if (args.json) print(JSON.stringify(result, null, 2));
  else if (!args.quiet || options.alwaysPrint || ('pass' in result && result.pass === false)) print(format(result));
  return result;
}
