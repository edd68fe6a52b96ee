/**
 * A module-loading hook for a child process (test/bundle.test.ts): it appends the URL of each file the process
 * loads to $ONNX_ATTN_MODULE_LOG, so a test can tell whether the bin ran the bundle or the modules.
 */
import { appendFileSync } from 'node:fs';

type NextLoad = (url: string, context: unknown) => Promise<unknown>;

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<unknown> {
  const log = process.env.ONNX_ATTN_MODULE_LOG;
  if (log && url.startsWith('file:')) appendFileSync(log, `${url}\n`);
  return nextLoad(url, context);
}
