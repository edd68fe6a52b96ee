/**
 * Errors that reach the user. Each class carries the exit status the contract gives it; only the CLI's
 * `main` turns them into an exit (protobuf-es `runNodeJs` style), so library callers get plain exceptions.
 */

/** Exit statuses from cli-contract.md, in one table. */
export const ExitCode = {
  pass: 0,
  comparisonFailed: 1,
  usage: 2,
  epUnavailable: 3,
  invalidModel: 4,
  placementFailed: 5,
  /** A bug in onnx-attn (an exception that is none of the classes below), never blamed on the model: EX_SOFTWARE. */
  internal: 70,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit status of a run that reports `pass` (validate, compare, one apply entry's validate or compare): 0 when it
 * passed; 5 when a placement check ran and failed (an inserted node off the required EP), since that is the cause
 * even when values differ too; else 1. Every command's verdict goes through here.
 */
export function verdictExitCode(result: { pass: boolean; placementCheck: { pass: boolean } | null }): ExitCodeValue {
  if (result.pass) return ExitCode.pass;
  return result.placementCheck && !result.placementCheck.pass ? ExitCode.placementFailed : ExitCode.comparisonFailed;
}

/**
 * Several verdicts (the steps of an apply entry, the entries of a plan) as one exit status: the worst, which is the
 * highest code (0 pass < 1 comparison < 2 usage < 3 EP < 4 invalid model < 5 placement, cli-contract "Exit codes");
 * 0 when there are none.
 */
export function worstExitCode(codes: Iterable<number>): number {
  let worst: number = ExitCode.pass;
  for (const code of codes) worst = Math.max(worst, code);
  return worst;
}

export type OnnxAttnErrorName = 'UsageError' | 'ModelError' | 'LocateError' | 'BuildError' | 'MismatchError' | 'EpUnavailableError' | 'DataFileError';

/** The insert option an error is about, by its flag (and plan key) name, so a plan can point at that key's line. */
export type InsertOptionKey = 'after' | 'module' | 'opts' | 'init' | 'seed' | 'weights' | 'weights-prefix' | 'bn-eps' | 'gate' | 'consumers' | 'shape';

export interface ErrorOptions {
  cause?: unknown;
  /** The insert option the error is about (set where an insert option is refused). */
  option?: InsertOptionKey;
}

export class OnnxAttnError extends Error {
  override readonly name: OnnxAttnErrorName;
  readonly exitCode: ExitCodeValue;
  // Declared, not a field: an error about no option has no `option` property at all (as before it existed).
  declare readonly option?: InsertOptionKey;
  constructor(name: OnnxAttnErrorName, exitCode: ExitCodeValue, message: string, options?: ErrorOptions) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = name;
    this.exitCode = exitCode;
    if (options?.option !== undefined) this.option = options.option;
  }
}

/**
 * Marks an error from an earlier stage (a weights reader, locate) with the insert option whose value it came from,
 * where the insert code calls that stage; a mark already set stays. Returns the error, to be thrown.
 */
export function aboutOption<E extends OnnxAttnError>(e: E, option: InsertOptionKey): E {
  if (e.option === undefined) Object.defineProperty(e, 'option', { value: option, enumerable: true });
  return e;
}

/** An insert item that failed, by its position in the list given to `applyInsertItems`; keeps the cause's exit code and option. */
export class InsertItemError extends OnnxAttnError {
  constructor(
    readonly index: number,
    override readonly cause: OnnxAttnError,
  ) {
    super(cause.name, cause.exitCode, cause.message, { cause, ...(cause.option !== undefined ? { option: cause.option } : {}) });
  }
}

/** Bad flags, paths that cannot be written, an output that exists: exit 2. */
export class UsageError extends OnnxAttnError {
  constructor(message: string, options?: ErrorOptions) {
    super('UsageError', ExitCode.usage, message, options);
  }
}

/** A file that is not a readable ONNX model, or a graph we cannot work with: exit 4. */
export class ModelError extends OnnxAttnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ModelError', ExitCode.invalidModel, message, options);
  }
}

/**
 * A weights or `--inputs` file whose content cannot be used: truncated, corrupt, of the wrong form, nested too deep
 * or larger than a limit (src/limits.ts): exit 4, like an invalid model. A path that names no file is a UsageError.
 */
export class DataFileError extends OnnxAttnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DataFileError', ExitCode.invalidModel, message, options);
  }
}

/** An insertion point that does not resolve, or resolves to several tensors: exit 4. */
export class LocateError extends OnnxAttnError {
  /** Names the user can pick from (nearest scopes, or the ambiguous boundary tensors). */
  readonly candidates: readonly string[];
  constructor(message: string, candidates: readonly string[] = [], options?: ErrorOptions) {
    super('LocateError', ExitCode.invalidModel, message, options);
    this.candidates = candidates;
  }
}

/** Checks by name, not instanceof, so two copies of the package still agree (protobuf-es `isFieldError`). */
export function isOnnxAttnError(e: unknown): e is OnnxAttnError {
  return (
    e instanceof Error &&
    typeof (e as Partial<OnnxAttnError>).exitCode === 'number' &&
    ['UsageError', 'ModelError', 'LocateError', 'BuildError', 'MismatchError', 'EpUnavailableError', 'DataFileError'].includes(e.name)
  );
}

/** A module that cannot be built here: a broken constraint, an unknown option, weights of the wrong shape: exit 4. */
export class BuildError extends OnnxAttnError {
  constructor(message: string, options?: ErrorOptions) {
    super('BuildError', ExitCode.invalidModel, message, options);
  }
}

/** Outputs that should agree and do not (a gate-zero patch that is not bit-identical, a failed comparison): exit 1. */
export class MismatchError extends OnnxAttnError {
  constructor(message: string) {
    super('MismatchError', ExitCode.comparisonFailed, message);
  }
}

/** A requested execution provider that cannot load (and no `--fallback cpu`): exit 3. */
export class EpUnavailableError extends OnnxAttnError {
  constructor(message: string) {
    super('EpUnavailableError', ExitCode.epUnavailable, message);
  }
}

/** One problem of a patch plan, at its line (cli-contract "Patch plans"). */
export interface PlanIssue {
  line: number;
  /** `models[0].insert[1].module`; empty for the whole document. */
  path: string;
  message: string;
  /** Set when a file the plan names is at fault (a damaged model or weights file: exit 4), not the plan itself. */
  exitCode?: ExitCodeValue;
}

/** The most problems a PlanError lists (one line each); the rest are counted on a last line. */
const MAX_SHOWN_ISSUES = 20;

/**
 * A plan's problems, each at its line. Exit 2 (the plan is wrong), or the worst exit code of its issues when a
 * file it names is at fault: a damaged model or weights file is exit 4 whether it comes by flag or by plan. Its
 * name is that of the error it stands for (UsageError or ModelError), so `isOnnxAttnError` knows it.
 */
export class PlanError extends OnnxAttnError {
  readonly issues: PlanIssue[];
  constructor(
    readonly file: string,
    all: PlanIssue[],
  ) {
    const issues =
      all.length > MAX_SHOWN_ISSUES
        ? [
            ...all.slice(0, MAX_SHOWN_ISSUES),
            { line: all[MAX_SHOWN_ISSUES]!.line, path: '', message: `and ${all.length - MAX_SHOWN_ISSUES} more problems from here on` },
          ]
        : all;
    const [first] = issues;
    const where = first ? `${file}:${first.line}: ${first.path ? `${first.path}: ` : ''}${first.message}` : `${file}: invalid plan`;
    const worst = all.reduce<ExitCodeValue>((w, i) => (i.exitCode !== undefined && i.exitCode > w ? i.exitCode : w), ExitCode.usage);
    super(
      worst === ExitCode.usage ? 'UsageError' : 'ModelError',
      worst,
      all.length > 1 ? `${where} (and ${all.length - 1} more problem${all.length > 2 ? 's' : ''})` : where,
    );
    this.issues = issues;
  }
}

/**
 * Internal to the weights readers: a malformed pickle stream (PickleError) or checkpoint (CheckpointError). They never
 * reach the user as such: the checkpoint reader turns them into a DataFileError that names the file.
 */
export class PickleError extends Error {
  override readonly name = 'PickleError';
}

export class CheckpointError extends Error {}
