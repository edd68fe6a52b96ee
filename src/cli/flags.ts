/**
 * The CLI's flags beyond one command: the option tables validate, compare and sweep share (runtime, accuracy), the
 * one rule for numeric flags, the checks yargs cannot express (`checkGiven`), and the mapping of shared flags to the
 * library's options. The library checks its options again (src/options.ts); the CLI checks first so that a message
 * names the flag and quotes the text as typed.
 */
import type { Argv } from 'yargs';
import { Parser } from 'yargs/helpers';
import { UsageError } from '../errors.js';
import { shapesFrom } from '../insert/options.js';
import { numberIn } from '../options.js';
import { MAX_RUNS } from '../runtime/limits.js';

/**
 * What a numeric flag accepts, in the library's terms: `numberIn(name, value, min, max, whole)` (src/options.ts)
 * decides, so the CLI and the library apply one rule. `min` of Number.MIN_VALUE means above 0; bounds at or past the
 * safe integers mean unbounded.
 */
export interface NumberRule {
  min: number;
  max: number;
  whole?: boolean;
}

const wholeIn = (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): NumberRule => ({ min, max, whole: true });
const ANY_NUMBER: NumberRule = { min: -Number.MAX_VALUE, max: Number.MAX_VALUE };
const POSITIVE: NumberRule = { min: Number.MIN_VALUE, max: Number.MAX_VALUE };
const FRACTION: NumberRule = { min: 0, max: 1 };

/** The rule of every flag declared `type: 'number'` (one without an entry takes any finite number). */
export const NUMBER_RULES: Record<string, NumberRule> = {
  iters: wholeIn(1, MAX_RUNS),
  warmup: wholeIn(0, MAX_RUNS),
  seed: wholeIn(),
  'device-id': wholeIn(0),
  threads: wholeIn(1),
  threshold: wholeIn(0),
  'bn-eps': POSITIVE,
  layer: wholeIn(0),
  conf: FRACTION,
  iou: FRACTION,
  'dataset-conf': FRACTION,
  'dataset-iou': FRACTION,
  'min-map': FRACTION,
  'max-map-drop': FRACTION,
};

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The number a flag's text stands for, or a usage error quoting the text as typed and saying what the rule accepts. */
export function parseNumberFlag(name: string, text: string, rule: NumberRule = ANY_NUMBER): number {
  const value = DECIMAL.test(text.trim()) ? Number(text) : NaN;
  try {
    const checked = numberIn(name, value, rule.min, rule.max, rule.whole);
    if (checked !== undefined) return checked;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
  }
  // Refused: say which side of the rule the text is on, in the flag's words.
  const kind = rule.whole ? 'a whole number' : 'a number';
  const hasMin = rule.min > Number.MIN_SAFE_INTEGER;
  const hasMax = rule.max < Number.MAX_SAFE_INTEGER;
  const low = !hasMin ? '' : rule.min === Number.MIN_VALUE ? ' > 0' : ` ≥ ${rule.min}`;
  const fail = (expected: string) => new UsageError(`--${name} '${text}': expected ${expected}`);
  if (!Number.isFinite(value) || (rule.whole && !Number.isInteger(value))) throw fail(`${kind}${low}`);
  if (hasMax && value > rule.max) throw fail(`${kind} ≤ ${rule.max}`);
  if (!rule.whole || (hasMin && value < rule.min)) throw fail(`${kind}${low}`);
  throw fail(`${kind} between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`);
}

/** The parts of yargs' option table the checks read (yargs' `getOptions()`). */
export interface DeclaredOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  array: string[];
  boolean: string[];
  number: string[];
  demandedOptions?: Record<string, unknown>;
}

/** Options whose command refuses an empty value itself, with a better hint (insert: `--consumers head`). */
const CHECKS_OWN_EMPTY = new Set(['consumers']);

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Checks yargs cannot express, over every option a command declares (so new options get them too): a scalar
 * option given twice (yargs would make it a list, or keep the last), an empty value, and numbers, whose text is
 * quoted as typed. Runs after parsing, before yargs' own validation. Returns the options the user gave.
 */
export function checkGiven(argv: readonly string[], args: Record<string, unknown>, declared: DeclaredOptions): Set<string> {
  const aliases = new Set(Object.values(declared.alias).flat());
  const booleans = new Set(declared.boolean);
  const arrays = new Set(declared.array);
  // Positionals are keys that yargs lists with no aliases; an empty one is a mistake, not the current folder.
  const positionals = Object.entries(declared.alias)
    .filter(([, list]) => list.length === 0)
    .map(([name]) => name);
  const names = Object.keys(declared.key).filter((k) => !aliases.has(k) && !positionals.includes(k) && k !== 'help' && k !== 'version');
  // Parse again with every value kept as text: 'abc' and '1e20' reach the messages as the user wrote them.
  const raw = Parser(argv as string[], {
    string: names.filter((k) => !booleans.has(k)),
    boolean: [...booleans],
    array: [...arrays],
    alias: declared.alias,
    configuration: { 'duplicate-arguments-array': true, 'flatten-duplicate-arrays': true, 'strip-aliased': true },
  }) as Record<string, unknown>;
  const given = new Set<string>();
  for (const name of names) {
    const value = raw[name];
    if (value === undefined) continue;
    given.add(name);
    if (booleans.has(name)) continue;
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    if (!arrays.has(name) && values.length > 1) throw new UsageError(`--${name} given more than once (${values.join(', ')}); give it once`);
    if (!CHECKS_OWN_EMPTY.has(name) && (values.length === 0 || values.some((v) => v.trim() === ''))) {
      throw new UsageError(`--${name} is empty; give a value${name in (declared.demandedOptions ?? {}) ? '' : `, or leave --${name} out`}`);
    }
    if (declared.number.includes(name)) {
      const n = parseNumberFlag(name, values[0]!, NUMBER_RULES[name]);
      for (const key of [name, camel(name), ...(declared.alias[name] ?? [])]) args[key] = n;
    }
  }
  for (const name of positionals) {
    if (args[name] === '') throw new UsageError(`<${name}> is empty; give a file path`);
  }
  return given;
}

/** The runtime options of validate, compare and sweep (cli-contract "Runtime options"). */
export function runtimeOptions<T>(y: Argv<T>) {
  return y
    .option('ep', { type: 'string', array: true, describe: 'Execution providers in preference order: cpu, cuda, tensorrt, webgpu' })
    .option('device-id', { type: 'number', default: 0, describe: 'GPU ordinal for cuda and tensorrt (a whole number ≥ 0)' })
    .option('fallback', {
      choices: ['cpu', 'none'] as const,
      default: 'none' as const,
      describe: 'cpu: run on the CPU when a requested provider cannot load, and record why',
    })
    .option('inputs', { type: 'string', default: 'random', describe: 'random (seeded, image-like), zeros, FILE.json, or a folder of images (letterboxed)' })
    .option('seed', { type: 'number', default: 0, describe: 'Seed of random inputs' })
    .option('shape', { type: 'string', array: true, describe: 'Size of dynamic inputs, NAME=1x3x640x640' })
    .option('warmup', { type: 'number', default: 3, describe: `Untimed runs first (at most ${MAX_RUNS})` })
    .option('iters', { type: 'number', default: 20, describe: `Timed runs (at most ${MAX_RUNS})` })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: its own choice)' })
    .option('optimization', {
      choices: ['disabled', 'basic', 'extended', 'all'] as const,
      default: 'all' as const,
      describe: "onnxruntime's graph optimisation level",
    })
    .option('profile', { type: 'boolean', default: false, describe: 'Read per-node provider placement from onnxruntime profiling' })
    .option('require-ep', { type: 'string', describe: 'Fail (exit 5) when an inserted node ran on another provider' })
    .option('report', { type: 'string', array: true, describe: 'Write a report: .json, .md, .html or .xml (JUnit); repeatable' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON' });
}

export interface RuntimeArgs {
  ep?: string[];
  'device-id': number;
  fallback: 'cpu' | 'none';
  inputs: string;
  seed: number;
  shape?: string[];
  warmup: number;
  iters: number;
  threads?: number;
  optimization: 'disabled' | 'basic' | 'extended' | 'all';
  profile: boolean;
  'require-ep'?: string;
  debug: boolean;
}

/** The runtime options as the library takes them; numbers were checked by `checkGiven`, names are checked here. */
export async function toRuntime(args: RuntimeArgs) {
  const { EP_NAMES, parseEp } = await import('../runtime/providers.js');
  for (const ep of (args.ep ?? [])
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter(Boolean))
    parseEp(ep);
  const required = args['require-ep'];
  if (required !== undefined && !(EP_NAMES as readonly string[]).includes(required.toLowerCase())) {
    throw new UsageError(`--require-ep '${required}': expected one of ${EP_NAMES.join(', ')}`);
  }
  const shapes = shapesFrom(args.shape);
  return {
    ...(args.ep ? { ep: args.ep } : {}),
    deviceId: args['device-id'],
    fallback: args.fallback,
    inputs: args.inputs,
    seed: args.seed,
    ...(shapes ? { shapes } : {}),
    warmup: args.warmup,
    iters: args.iters,
    ...(args.threads ? { threads: args.threads } : {}),
    optimization: args.optimization,
    profile: args.profile,
    ...(args['require-ep'] ? { requireEp: args['require-ep'] } : {}),
    debug: args.debug,
  };
}

/** Accuracy on labelled images (validate, compare, sweep): src/accuracy/evaluate.ts. */
export const ACCURACY_OPTIONS = {
  dataset: {
    type: 'string',
    describe: 'Labelled images for mAP: a folder with YOLO txt labels (images/ + labels/, or .txt beside each image), a data.yaml, or a COCO instances .json',
  },
  'dataset-conf': { type: 'number', describe: 'Score threshold of the boxes scored on --dataset (default 0.001, as ultralytics val)' },
  'dataset-iou': { type: 'number', describe: 'NMS IoU on --dataset (default 0.7 as ultralytics val; 0.6 for YOLOv5, as its val.py)' },
  'dataset-multi-label': {
    type: 'boolean',
    describe: 'A box per class above the threshold, as both vals decode (default; --no-dataset-multi-label: the best class only)',
  },
  'class-map': { type: 'string', describe: 'Model class → dataset category: auto (by names, else by index/order) or 0=1,1=3,…' },
} as const;

export interface AccuracyArgs {
  dataset?: string | undefined;
  'dataset-conf'?: number | undefined;
  'dataset-iou'?: number | undefined;
  'dataset-multi-label'?: boolean | undefined;
  'class-map'?: string | undefined;
  'min-map'?: number | undefined;
  'max-map-drop'?: number | undefined;
}

/** The accuracy options as the library takes them; the other --dataset-… flags and the gates need --dataset. */
export function toAccuracy(args: AccuracyArgs) {
  if (args.dataset === undefined) {
    const stray = (['dataset-conf', 'dataset-iou', 'dataset-multi-label', 'class-map', 'min-map', 'max-map-drop'] as const).find((k) => args[k] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --dataset DIR|data.yaml|coco.json (the labelled images it applies to)`);
    return {};
  }
  return {
    dataset: args.dataset,
    ...(args['dataset-conf'] !== undefined ? { datasetConf: args['dataset-conf'] } : {}),
    ...(args['dataset-iou'] !== undefined ? { datasetIou: args['dataset-iou'] } : {}),
    ...(args['dataset-multi-label'] !== undefined ? { datasetMultiLabel: args['dataset-multi-label'] } : {}),
    ...(args['class-map'] !== undefined ? { classMap: args['class-map'] } : {}),
    ...(args['min-map'] !== undefined ? { minMap: args['min-map'] } : {}),
    ...(args['max-map-drop'] !== undefined ? { maxMapDrop: args['max-map-drop'] } : {}),
  };
}
