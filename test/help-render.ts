import { main } from '../src/cli/main.js';

/** What yargs prints for `onnx-attn --help` when stdout is not a terminal (width 100), captured in-process. */
export async function renderTopHelp(): Promise<string> {
  const had = Object.getOwnPropertyDescriptor(process.stdout, 'columns');
  Object.defineProperty(process.stdout, 'columns', { value: undefined, configurable: true, writable: true });
  let text = '';
  const log = console.log;
  // yargs prints help with console.log.
  console.log = (...args: unknown[]) => {
    text += `${args.map(String).join(' ')}\n`;
  };
  try {
    const code = await main(['--help'], { stdout: (t) => (text += t), stderr: (t) => (text += t) });
    if (code !== 0) throw new Error(`--help exited ${code}: ${text}`);
  } finally {
    console.log = log;
    if (had) Object.defineProperty(process.stdout, 'columns', had);
    else delete (process.stdout as { columns?: number }).columns;
  }
  return text;
}
