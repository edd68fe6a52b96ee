#!/usr/bin/env node
// `--version` and the top-level `--help` alone are answered before yargs and the commands are loaded (yargs is more
// than half of a bare start-up); their output is byte for byte what yargs prints (test/help-text.test.ts). Everything
// else, and `--help` at a terminal width other than the stored one, goes through the full CLI.
const argv = process.argv.slice(2);
const helpWidth = Math.min(120, process.stdout.columns || 100);
if (argv.length === 1 && argv[0] === '--version') {
  const { VERSION } = await import('../version.js');
  process.stdout.write(`${VERSION}\n`);
} else if (argv.length === 1 && argv[0] === '--help' && (await import('./help-text.js')).TOP_HELP_WIDTH === helpWidth) {
  process.stdout.write((await import('./help-text.js')).TOP_HELP);
} else {
  // Peak memory: while a model decodes, nearly every object survives, and V8 doubles its young generation each time
  // (up to 2 × 16 MB semi-spaces) and keeps it. At growth factor 1 it stays at its first size: insert on a 129 MB
  // export peaks at 214 MB instead of 240 MB (npm run bench). A process-wide V8 setting, so the bin sets it, not the
  // library; V8 reads this flag whenever the young generation would grow, so setting it now takes effect.
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  // A full collection on demand (globalThis.gc, as `node --expose-gc` gives): insert returns a model's buffer with it
  // before its check run opens onnxruntime sessions, whose memory V8 does not see and so never collects for.
  v8.setFlagsFromString('--expose-gc');
  (globalThis as { gc?: () => void }).gc ??= (await import('node:vm')).runInNewContext('gc') as () => void;
  // --debug prints stack traces: through the source maps, they name src/*.ts lines, not the bundle's. Maps are read
  // for modules loaded after this, so it comes before the CLI is loaded, and only then (it slows every load).
  if (argv.includes('--debug')) process.setSourceMapsEnabled(true);
  const { main } = await cliModule();
  process.exitCode = await main(argv);
}

/**
 * The CLI bundled by `npm run build` (dist/bin/cli.js, scripts/bundle.ts: one module where this folder has ~210,
 * about 0.1 s less start-up) when it was built from this compile, that is after ./main.js was written; the modules
 * themselves otherwise, as after a bare `tsc`, so a stale bundle never runs.
 */
async function cliModule(): Promise<typeof import('./main.js')> {
  const { statSync } = await import('node:fs');
  const bundle = new URL('../../bin/cli.js', import.meta.url);
  const bundleTime = statSync(bundle, { throwIfNoEntry: false })?.mtimeMs;
  if (bundleTime !== undefined && bundleTime >= statSync(new URL('./main.js', import.meta.url)).mtimeMs) {
    return (await import(bundle.href)) as typeof import('./main.js');
  }
  return import('./main.js');
}
