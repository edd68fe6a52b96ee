#!/usr/bin/env node
// `--version` alone is answered before yargs and the commands are loaded (about half of a bare start-up);
// its output is the one yargs prints. Everything else goes through the full CLI.
const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '--version') {
  const { VERSION } = await import('../version.js');
  process.stdout.write(`${VERSION}\n`);
} else {
  const { main } = await import('./main.js');
  process.exitCode = await main(argv);
}
