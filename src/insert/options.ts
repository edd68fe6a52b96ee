import { UsageError } from '../errors.js';

/**
 * The one mapping from an insert's flags (the CLI's `insert` flags, a plan's insert item keys: the same names) to
 * the library's InsertOptions, refusing a weights file with `init` or `seed`. The CLI and the plan checks
 * (plan/check.ts) both call it, so a new insert flag is added here once.
 */

/** Options of one `insert` (cli-contract "Insert options"). */
export interface InsertOptions {
  /** SPECs: `23`, `model.23/cv3`, `node:NAME#k`, `tensor:NAME`, `head`, `head:i`; comma lists allowed. */
  after: string | readonly string[];
  /** NAM, GAM, SimAM, SE, CBAM, ECA, CA (any case). */
  module: string;
  /** Module options, `key=value` already split (`{variant: 'paper', rate: '4'}`). */
  opts?: Readonly<Record<string, string>>;
  /** Weights when no file is given (default `torch`: the reference module's PyTorch initialisation). */
  init?: 'torch' | 'random';
  /** Seed of `--init` (default 0); point j uses seed + j, as successive PyTorch modules draw different weights. */
  seed?: number;
  /** Reference state_dict files: one per point, or one with `0.`, `1.` prefixes, or one for every point. */
  weights?: string | readonly string[];
  /** Key prefix of the module inside a checkpoint (`model.24.`), one per point or one for all; default: found. */
  weightsPrefix?: string | readonly string[];
  /** BatchNorm epsilon of the module's BNs (default 1e-3 for YOLO/ultralytics exports, 1e-5 otherwise). */
  bnEps?: number;
  /** `zero`: y = x + g·(attention(x) − x) with g = 0, the exact identity that proves the splice. */
  gate?: 'zero' | 'none';
  /** Rewire only these consumer nodes (by name) instead of every consumer outside the scope. */
  consumers?: readonly string[];
}

/** A plan's scalars: YAML reads `after: 23` as a number and `opts: {rate: 4}` as numbers. */
type Scalar = string | number | boolean;

/** An insert's flags by their CLI names (a plan item's keys are the same). Leave out what the user did not give. */
export interface InsertFlags {
  after: Scalar | readonly Scalar[];
  module: string;
  /** `--opt key=value` (repeatable, comma lists allowed): the CLI's form. */
  opt?: readonly string[];
  /** `opts: {key: value}`: a plan's form. */
  opts?: Readonly<Record<string, Scalar>>;
  init?: 'torch' | 'random';
  seed?: number;
  weights?: string | readonly string[];
  'weights-prefix'?: Scalar | readonly Scalar[];
  'bn-eps'?: number;
  gate?: 'zero' | 'none';
  consumers?: string | readonly string[];
  /** `--shape NAME=1x3x640x640` (repeatable): sizes of dynamic inputs. */
  shape?: readonly string[];
}

export interface InsertFlagOptions extends InsertOptions {
  /** From `--shape`: sizes of dynamic inputs (the shape probe and the check run). */
  shapes?: Record<string, number[]>;
}

const list = <T>(v: T | readonly T[]): T[] => (Array.isArray(v) ? [...(v as readonly T[])] : [v as T]);

/**
 * InsertOptions from an insert's flags. `given` names the flags the user gave (the CLI fills in defaults for
 * `init`, `seed` and `gate`, which a weights file makes meaningless rather than contradictory); without it every
 * flag present counts as given. Throws a UsageError whose `option` names the flag at fault.
 */
export function insertOptionsFrom(flags: InsertFlags, given?: ReadonlySet<string>): InsertFlagOptions {
  // In the order the CLI has always checked them, so the first of several mistakes is the one reported.
  const shapes = shapesFrom(flags.shape);
  const gave = (flag: keyof InsertFlags) => flags[flag] !== undefined && (given === undefined || given.has(flag));
  if (flags.weights !== undefined) {
    // The file gives every weight: --init and --seed would silently do nothing.
    for (const flag of ['init', 'seed'] as const) {
      if (gave(flag)) {
        throw new UsageError(`--weights and --${flag} ${flags[flag]} contradict each other (--${flag} is for weights made without a file); pass one`, {
          option: flag,
        });
      }
    }
  }
  const opts = flags.opt !== undefined ? optsFrom(flags.opt) : Object.fromEntries(Object.entries(flags.opts ?? {}).map(([k, v]) => [k, String(v)]));
  // `weights-prefix` without `weights` is refused by the library (src/insert/weights.ts) once the points are
  // located, where the CLI has always refused it: a point that does not resolve is the error reported first.
  return {
    after: list(flags.after).map(String),
    module: flags.module,
    opts,
    // With a weights file the defaults of --init and --seed mean nothing, and the library refuses them.
    ...(flags.weights !== undefined ? { weights: list(flags.weights) } : {}),
    ...(flags.weights === undefined && flags.init !== undefined ? { init: flags.init } : {}),
    ...(flags.weights === undefined && flags.seed !== undefined ? { seed: flags.seed } : {}),
    ...(flags['weights-prefix'] !== undefined ? { weightsPrefix: list(flags['weights-prefix']).map(String) } : {}),
    ...(flags['bn-eps'] !== undefined ? { bnEps: flags['bn-eps'] } : {}),
    ...(flags.gate !== undefined ? { gate: flags.gate } : {}),
    ...(flags.consumers !== undefined ? { consumers: list(flags.consumers) } : {}),
    ...(shapes ? { shapes } : {}),
  };
}

/** `--opt` values: `key=value` items, comma lists allowed. */
export function optsFrom(items: readonly string[]): Record<string, string> {
  // Entries, not assignment: `opts['__proto__'] = v` would set the prototype and the option would vanish unchecked.
  const opts = new Map<string, string>();
  for (const item of items) {
    for (const pair of item.split(',')) {
      const m = /^([A-Za-z_][\w-]*)=(.+)$/.exec(pair.trim());
      if (!m) throw new UsageError(`--opt '${pair}': expected key=value, e.g. --opt variant=paper`, { option: 'opts' });
      opts.set(m[1]!, m[2]!);
    }
  }
  return Object.fromEntries(opts);
}

/** `--shape` values: `NAME=1x3x640x640`, each input once, every size a whole number ≥ 1; undefined when none. */
export function shapesFrom(items: readonly string[] | undefined): Record<string, number[]> | undefined {
  if (!items || items.length === 0) return undefined;
  const shapes: Record<string, number[]> = {};
  for (const item of items) {
    const m = /^([^=]+)=(\d+(?:x\d+)*)$/.exec(item);
    if (!m) throw new UsageError(`--shape '${item}': expected NAME=1x3x640x640`, { option: 'shape' });
    const dims = m[2]!.split('x').map(Number);
    const bad = dims.findIndex((d) => !(d >= 1) || !Number.isSafeInteger(d));
    if (bad >= 0) {
      throw new UsageError(`--shape '${item}': dim ${bad} is ${m[2]!.split('x')[bad]}; every size must be a whole number ≥ 1`, { option: 'shape' });
    }
    if (Object.hasOwn(shapes, m[1]!)) {
      throw new UsageError(`--shape names input '${m[1]}' twice (${items.filter((i) => i.startsWith(`${m[1]}=`)).join(', ')}); give it once`, {
        option: 'shape',
      });
    }
    shapes[m[1]!] = dims;
  }
  return shapes;
}
