/**
 * The command line: parse, call the library, print. Exit statuses come from the error classes (src/errors.ts);
 * this is the one place that writes an error line and sets the exit code.
 */
import yargs, { type Argv } from 'yargs';
import { ExitCode, isOnnxAttnError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';

interface GlobalFlags {
  debug: boolean;
  quiet: boolean;
}

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

function parseShapes(list: readonly string[] | undefined): Record<string, number[]> | undefined {
  if (!list || list.length === 0) return undefined;
  const shapes: Record<string, number[]> = {};
  for (const item of list) {
    const m = /^([^=]+)=(\d+(?:x\d+)*)$/.exec(item);
    if (!m) throw new UsageError(`--shape '${item}': expected NAME=1x3x640x640`);
    shapes[m[1]!] = m[2]!.split('x').map(Number);
  }
  return shapes;
}

export function buildCli(argv: string[]): Argv<GlobalFlags> {
  return yargs(argv)
    .scriptName('onnx-attn')
    .usage('$0 <command> [options]\n\nPatch exported detector ONNX graphs with attention modules, and prove they still work.')
    .version(VERSION)
    .option('debug', { type: 'boolean', default: false, describe: 'Show stack traces and runtime logs' })
    .option('quiet', { type: 'boolean', default: false, describe: 'Print only results and errors' })
    .command(
      'inspect <model>',
      'Show family, opsets, I/O, the layer table and the detection head',
      (y) =>
        y
          .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
          .option('json', { type: 'boolean', default: false, describe: 'Print JSON (cli-contract "inspect")' })
          .option('probe', { type: 'boolean', default: true, describe: 'Measure shapes static inference cannot reach with one onnxruntime run (--no-probe to skip)' })
          .option('shape', { type: 'string', array: true, describe: 'Size of dynamic inputs, NAME=1x3x640x640' }),
      async (args) => {
        const { inspect } = await import('../inspect.js');
        const shapes = parseShapes(args.shape);
        const result = await inspect(args.model, { probe: args.probe, ...(shapes ? { inputShapes: shapes } : {}) });
        if (args.json) out(JSON.stringify(result, null, 2));
        else {
          const { formatInspect } = await import('./format.js');
          out(formatInspect(result));
        }
      },
    )
    .command(
      'convert <input> <output>',
      'Re-save a model inline or with external data (atomic; byte-identical when nothing changes)',
      (y) =>
        y
          .positional('input', { type: 'string', demandOption: true })
          .positional('output', { type: 'string', demandOption: true })
          .option('external-data', {
            choices: ['auto', 'always', 'never'] as const,
            default: 'auto' as const,
            describe: 'auto = as the input was stored; always = tensors of --threshold bytes or more go to <output>.data',
          })
          .option('threshold', { type: 'number', default: 1024, describe: 'Smallest tensor (bytes) moved to external data' })
          .option('force', { type: 'boolean', default: false, describe: 'Replace an existing output' })
          .option('json', { type: 'boolean', default: false }),
      async (args) => {
        if (!Number.isInteger(args.threshold) || args.threshold < 0) throw new UsageError(`--threshold must be a whole number of bytes, got ${args.threshold}`);
        const { convert } = await import('../convert.js');
        const r = convert(args.input, args.output, { externalData: args.externalData, threshold: args.threshold, force: args.force });
        if (args.json) out(JSON.stringify(r, null, 2));
        else if (!args.quiet) out(`wrote ${r.path} (${r.bytes} bytes)${r.dataPath ? ` + ${r.dataPath} (${r.externalBytes} bytes)` : ''}`);
      },
    )
    .demandCommand(1, 'name a command: inspect, convert (see --help)')
    .recommendCommands()
    .strict()
    .fail(false)
    .help()
    .wrap(Math.min(120, process.stdout.columns || 100)) as unknown as Argv<GlobalFlags>;
}

/** Runs the CLI and returns the exit status; never throws. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    await buildCli(argv).parseAsync();
    return ExitCode.pass;
  } catch (e) {
    if (isOnnxAttnError(e)) {
      process.stderr.write(`onnx-attn: ${e.message}\n`);
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    if (err?.name === 'YError') {
      process.stderr.write(`onnx-attn: ${err.message} (see 'onnx-attn --help')\n`);
      return ExitCode.usage;
    }
    process.stderr.write(`onnx-attn: internal error: ${err?.message ?? String(e)} (rerun with --debug for the stack trace)\n`);
    if (debug && err?.stack) process.stderr.write(`${err.stack}\n`);
    return ExitCode.invalidModel;
  }
}
