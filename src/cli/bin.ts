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
  const { main } = await import('./main.js');
  process.exitCode = await main(argv);
}
