/**
 * The command line: parse, call the library, print. Each command is a file in ./commands/ (its flags, its handler,
 * its printing); this file registers them in help order, runs the checks every command shares, and is the one
 * place that writes an error line and sets the exit code (from the error classes in src/errors.ts).
 */
import yargs, { type Argv } from 'yargs';
import { ExitCode, isOnnxAttnError, PlanError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { applyCommand } from './commands/apply.js';
import { compareCommand } from './commands/compare.js';
import { convertCommand } from './commands/convert.js';
import { doctorCommand } from './commands/doctor.js';
import { insertCommand } from './commands/insert.js';
import { inspectCommand } from './commands/inspect.js';
import { modulesCommand } from './commands/modules.js';
import { sweepCommand } from './commands/sweep.js';
import { torchCommand } from './commands/torch.js';
import { validateCommand } from './commands/validate.js';
import type { CliIO, CliState, CommandContext, CommandRegistration, GlobalFlags } from './context.js';
import { escapeControl, escapeControlKeepLines } from './escape.js';
import { checkGiven, type DeclaredOptions } from './flags.js';

export type { CliIO, CliState } from './context.js';

/** The commands in the order `--help` lists them. */
export const COMMANDS: readonly CommandRegistration[] = [
  inspectCommand,
  convertCommand,
  insertCommand,
  validateCommand,
  compareCommand,
  applyCommand,
  modulesCommand,
  sweepCommand,
  doctorCommand,
  torchCommand,
];

const processIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/**
 * yargs renders the command's whole help text after starting its handler, to show it on a later failure
 * (0.1-0.35 s of string-width and wrapping on `insert`). This CLI never shows help after a handler has run (its
 * `.fail` throws), so the cache is skipped; `--help` itself still renders, unchanged. A no-op if yargs' internals differ.
 */
function skipHelpCache(y: unknown): void {
  const usage = (y as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } } | undefined)
    ?.getInternalMethods?.()
    .getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

export function buildCli(argv: string[], io: CliIO = processIO, state: CliState = { exitCode: 0 }): Argv<GlobalFlags> {
  const ctx: CommandContext = {
    // Names from the model are in this text: no control character reaches the terminal raw.
    out: (text: string) => io.stdout(escapeControlKeepLines(text.endsWith('\n') ? text : `${text}\n`)),
    io,
    state,
    given: new Set<string>(),
  };
  let cli: Argv<GlobalFlags> = yargs(argv)
    .scriptName('onnx-attn')
    .usage('$0 <command> [options]\n\nPatch exported detector ONNX graphs with attention modules, and prove they still work.')
    .version(VERSION)
    // yargs' own messages in English, as every other line onnx-attn prints, whatever LANG says.
    .detectLocale(false)
    .option('debug', { type: 'boolean', default: false, describe: 'Show stack traces and runtime logs' })
    .option('quiet', { type: 'boolean', default: false, describe: 'Print only results and errors' })
    .middleware((args, y?: unknown) => {
      // yargs hands the command's own option table to middleware as the second argument.
      const table = (y as { getOptions?: () => DeclaredOptions } | undefined)?.getOptions?.();
      if (table) ctx.given = checkGiven(argv, args, table);
      skipHelpCache(y);
    }, true);
  for (const register of COMMANDS) cli = register(cli, ctx);
  return (
    cli
      .demandCommand(1, 'name a command: inspect, insert, validate, compare, sweep, apply, convert, modules, doctor, torch')
      .recommendCommands()
      .strict()
      // yargs' own parse errors (unknown flag, missing argument, bad choice) become usage errors (exit 2);
      // errors thrown by a command pass through untouched.
      .fail((msg, err) => {
        throw err ?? new UsageError(`${String(msg).replace(/\s*\n\s*/g, ' ')} (see 'onnx-attn --help')`);
      })
      .exitProcess(false)
      .help()
      .wrap(Math.min(120, process.stdout.columns || 100))
  );
}

/** Names from a damaged file can hold newlines or control characters; the error stays one line. */
function oneLine(message: string): string {
  return escapeControl(message);
}

/** Runs the CLI and returns the exit status; never throws. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const debug = argv.includes('--debug');
  const state: CliState = { exitCode: ExitCode.pass };
  try {
    await buildCli(argv, io, state).parseAsync();
    return state.exitCode;
  } catch (e) {
    if (isOnnxAttnError(e)) {
      // A plan with several problems gets one line each (file:line: key: what), so one run shows them all.
      const lines =
        e instanceof PlanError && e.issues.length > 1 ? e.issues.map((i) => `${e.file}:${i.line}: ${i.path ? `${i.path}: ` : ''}${i.message}`) : [e.message];
      for (const line of lines) io.stderr(`onnx-attn: ${oneLine(line)}\n`);
      if (debug && e.stack) io.stderr(`${e.stack}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    if (err?.name === 'YError') {
      io.stderr(`onnx-attn: ${err.message} (see 'onnx-attn --help')\n`);
      return ExitCode.usage;
    }
    io.stderr(`onnx-attn: internal error: ${oneLine(err?.message ?? String(e))} (rerun with --debug for the stack trace)\n`);
    if (debug && err?.stack) io.stderr(`${err.stack}\n`);
    return ExitCode.internal;
  }
}
