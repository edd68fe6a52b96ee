/**
 * What every command file (src/cli/commands/<verb>.ts) gets from main: where to print, where to put its exit status,
 * and which options the user gave. Kept apart from main.ts so that command files do not import it (main imports them).
 */
import type { Argv } from 'yargs';

/** The options every command has (main declares them). */
export interface GlobalFlags {
  debug: boolean;
  quiet: boolean;
}

/** Where the CLI writes: the process streams, or buffers in tests (prettier's `mockable` seam). */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** A command that ran to the end but failed a check (compare, validate) reports its status here. */
export interface CliState {
  exitCode: number;
}

export interface CommandContext {
  /** Prints a block on stdout, control characters escaped (names from the model are in it), ending in a newline. */
  out: (text: string) => void;
  io: CliIO;
  state: CliState;
  /** The options the user gave (not defaults), filled in by main's checks before the handler runs. */
  given: Set<string>;
}

/**
 * One command: adds its yargs table and handler to the CLI. The handler loads the library verb and its formatter
 * with `await import(...)`, so a command that does not run costs only its table at start-up (issue #15).
 */
export type CommandRegistration = (y: Argv<GlobalFlags>, ctx: CommandContext) => Argv<GlobalFlags>;
