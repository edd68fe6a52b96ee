/**
 * The command line: parse, call the library, print. Exit statuses come from the error classes (src/errors.ts);
 * this is the one place that writes an error line and sets the exit code.
 */
import yargs, { type Argv } from 'yargs';
import { Parser } from 'yargs/helpers';
import { ExitCode, isOnnxAttnError, PlanError, UsageError } from '../errors.js';
import { escapeControl, escapeControlKeepLines } from './escape.js';
import { MAX_RUNS } from '../runtime/limits.js';
import { VERSION } from '../version.js';
import type { Reportable } from '../report/index.js';

interface GlobalFlags {
  debug: boolean;
  quiet: boolean;
}

/** Where the CLI writes: the process streams, or buffers in tests (prettier's `mockable` seam). */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

function parseOpts(list: readonly string[] | undefined): Record<string, string> {
  // Entries, not assignment: `opts['__proto__'] = v` would set the prototype and the option would vanish unchecked.
  const opts = new Map<string, string>();
  for (const item of list ?? []) {
    for (const pair of item.split(',')) {
      const m = /^([A-Za-z_][\w-]*)=(.+)$/.exec(pair.trim());
      if (!m) throw new UsageError(`--opt '${pair}': expected key=value, e.g. --opt variant=paper`);
      opts.set(m[1]!, m[2]!);
    }
  }
  return Object.fromEntries(opts);
}

function parseShapes(list: readonly string[] | undefined): Record<string, number[]> | undefined {
  if (!list || list.length === 0) return undefined;
  const shapes: Record<string, number[]> = {};
  for (const item of list) {
    const m = /^([^=]+)=(\d+(?:x\d+)*)$/.exec(item);
    if (!m) throw new UsageError(`--shape '${item}': expected NAME=1x3x640x640`);
    const dims = m[2]!.split('x').map(Number);
    const bad = dims.findIndex((d) => !(d >= 1) || !Number.isSafeInteger(d));
    if (bad >= 0) throw new UsageError(`--shape '${item}': dim ${bad} is ${m[2]!.split('x')[bad]}; every size must be a whole number ≥ 1`);
    if (Object.hasOwn(shapes, m[1]!))
      throw new UsageError(`--shape names input '${m[1]}' twice (${list.filter((i) => i.startsWith(`${m[1]}=`)).join(', ')}); give it once`);
    shapes[m[1]!] = dims;
  }
  return shapes;
}

/** What a numeric option accepts; every option declared `type: 'number'` is checked against its entry. */
interface NumberRule {
  whole?: boolean;
  min?: number;
  /** min itself is refused (a positive epsilon). */
  above?: boolean;
  max?: number;
}

const NUMBER_RULES: Record<string, NumberRule> = {
  iters: { whole: true, min: 1, max: MAX_RUNS },
  warmup: { whole: true, min: 0, max: MAX_RUNS },
  seed: { whole: true },
  'device-id': { whole: true, min: 0 },
  threads: { whole: true, min: 1 },
  threshold: { whole: true, min: 0 },
  'bn-eps': { min: 0, above: true },
  layer: { whole: true, min: 0 },
  conf: { min: 0, max: 1 },
  iou: { min: 0, max: 1 },
  'dataset-conf': { min: 0, max: 1 },
  'dataset-iou': { min: 0, max: 1 },
  'min-map': { min: 0, max: 1 },
  'max-map-drop': { min: 0, max: 1 },
};

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The number an option's text stands for, or a usage error quoting the text as typed. */
function parseNumberOption(name: string, text: string, rule: NumberRule = {}): number {
  const kind = rule.whole ? 'a whole number' : 'a number';
  const low = rule.min === undefined ? '' : ` ${rule.above ? '>' : '≥'} ${rule.min}`;
  const value = DECIMAL.test(text.trim()) ? Number(text) : NaN;
  const fail = (expected: string) => new UsageError(`--${name} '${text}': expected ${expected}`);
  if (!Number.isFinite(value) || (rule.whole && !Number.isInteger(value))) throw fail(`${kind}${low}`);
  if (rule.max !== undefined && value > rule.max) throw fail(`${kind} ≤ ${rule.max}`);
  if (rule.min !== undefined && (rule.above ? value <= rule.min : value < rule.min)) throw fail(`${kind}${low}`);
  if (rule.whole && !Number.isSafeInteger(value)) throw fail(`${kind} between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`);
  return value;
}

/** The parts of yargs' option table the checks read (yargs' `getOptions()`). */
interface DeclaredOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  array: string[];
  boolean: string[];
  number: string[];
  demandedOptions?: Record<string, unknown>;
}

/**
 * Checks yargs cannot express, over every option a command declares (so new options get them too): a scalar
 * option given twice (yargs would make it a list, or keep the last), an empty value, and numbers, whose text is
 * quoted as typed. Runs after parsing, before yargs' own validation. Returns the options the user gave.
 */
function checkGiven(argv: readonly string[], args: Record<string, unknown>, declared: DeclaredOptions): Set<string> {
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
      const n = parseNumberOption(name, values[0]!, NUMBER_RULES[name]);
      for (const key of [name, camel(name), ...(declared.alias[name] ?? [])]) args[key] = n;
    }
  }
  for (const name of positionals) {
    if (args[name] === '') throw new UsageError(`<${name}> is empty; give a file path`);
  }
  return given;
}

/** Options whose command refuses an empty value itself, with a better hint (insert: `--consumers head`). */
const CHECKS_OWN_EMPTY = new Set(['consumers']);

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A command that ran to the end but failed a check (compare, validate) reports its status here. */
export interface CliState {
  exitCode: number;
}

/** The runtime options of validate and compare (cli-contract "Runtime options"). */
function runtimeOptions<T>(y: Argv<T>) {
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

/** Accuracy on labelled images (validate, compare, sweep): src/accuracy/evaluate.ts. */
const ACCURACY_OPTIONS = {
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

interface AccuracyArgs {
  dataset?: string | undefined;
  'dataset-conf'?: number | undefined;
  'dataset-iou'?: number | undefined;
  'dataset-multi-label'?: boolean | undefined;
  'class-map'?: string | undefined;
  'min-map'?: number | undefined;
  'max-map-drop'?: number | undefined;
}

/** The accuracy options as the library takes them; the other --dataset-… flags and the gates need --dataset. */
function toAccuracy(args: AccuracyArgs) {
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

interface RuntimeArgs {
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
async function toRuntime(args: RuntimeArgs) {
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
  const shapes = parseShapes(args.shape);
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

/**
 * validate, compare and sweep: report paths are checked before anything runs, the run shows a progress bar on a
 * terminal, then the reports are written and the result printed (JSON with --json; the text form unless --quiet and
 * passing).
 */
async function reported<R extends object>(
  args: { report?: string[] | undefined; json: boolean; quiet: boolean },
  label: string,
  run: (onProgress: (done: number, total: number) => void) => Promise<R>,
  reportable: (result: R) => Reportable,
  format: (result: R) => string,
  print: (text: string) => void,
  options: { formats?: readonly string[]; unit?: string; alwaysPrint?: boolean } = {},
): Promise<R> {
  const { checkReportPaths, commandFiles, writeReports } = await import('../report/index.js');
  checkReportPaths(args.report ?? [], options.formats, commandFiles(args));
  const { progressBar } = await import('./progress.js');
  const bar = progressBar(label, !args.json && !args.quiet, options.unit);
  let result: R;
  try {
    result = await run(bar.update);
  } finally {
    bar.stop();
  }
  writeReports(reportable(result), args.report ?? []);
  if (args.json) print(JSON.stringify(result, null, 2));
  else if (!args.quiet || options.alwaysPrint || ('pass' in result && result.pass === false)) print(format(result));
  return result;
}

/** The exit status of a validate or compare result. */
function verdict(result: { pass: boolean; placementCheck: { pass: boolean } | null }): number {
  if (result.pass) return ExitCode.pass;
  return result.placementCheck && !result.placementCheck.pass ? ExitCode.placementFailed : ExitCode.comparisonFailed;
}

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
  // Names from the model are in this text: no control character reaches the terminal raw.
  const out = (text: string) => io.stdout(escapeControlKeepLines(text.endsWith('\n') ? text : `${text}\n`));
  /** The options the user gave (not defaults), filled in before the command runs. */
  let given = new Set<string>();
  return (
    yargs(argv)
      .scriptName('onnx-attn')
      .usage('$0 <command> [options]\n\nPatch exported detector ONNX graphs with attention modules, and prove they still work.')
      .version(VERSION)
      .option('debug', { type: 'boolean', default: false, describe: 'Show stack traces and runtime logs' })
      .option('quiet', { type: 'boolean', default: false, describe: 'Print only results and errors' })
      .middleware((args, y?: unknown) => {
        // yargs hands the command's own option table to middleware as the second argument.
        const table = (y as { getOptions?: () => DeclaredOptions } | undefined)?.getOptions?.();
        if (table) given = checkGiven(argv, args, table);
        skipHelpCache(y);
      }, true)
      .command(
        'inspect <model>',
        'Show family, opsets, I/O, the layer table and the detection head',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('json', { type: 'boolean', default: false, describe: 'Print JSON (cli-contract "inspect")' })
            .option('probe', {
              type: 'boolean',
              default: true,
              describe: 'Measure shapes static inference cannot reach with one onnxruntime run (--no-probe to skip)',
            })
            .option('shape', { type: 'string', array: true, describe: 'Size of dynamic inputs, NAME=1x3x640x640' })
            .option('at', { type: 'string', array: true, describe: 'Resolve insertion points (SPEC[,SPEC]) as insert --after would' }),
        async (args) => {
          const { inspect } = await import('../inspect.js');
          const shapes = parseShapes(args.shape);
          const result = await inspect(args.model, {
            probe: args.probe,
            ...(shapes ? { inputShapes: shapes } : {}),
            ...(args.at ? { at: args.at } : {}),
          });
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
            .option('in-place', { type: 'boolean', default: false, describe: 'Allow the output to be the input (read whole first, then replaced atomically)' })
            .option('json', { type: 'boolean', default: false }),
        async (args) => {
          const { convert } = await import('../convert.js');
          const r = await convert(args.input, args.output, {
            externalData: args.externalData,
            threshold: args.threshold,
            force: args.force,
            inPlace: args.inPlace,
          });
          if (args.json) out(JSON.stringify(r, null, 2));
          else if (!args.quiet) out(`wrote ${r.path} (${r.bytes} bytes)${r.dataPath ? ` + ${r.dataPath} (${r.externalBytes} bytes)` : ''}`);
        },
      )
      .command(
        'insert <model>',
        'Insert an attention module after one or more points, check the result, and save it',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('after', {
              type: 'string',
              array: true,
              demandOption: true,
              describe: 'Insertion points: 23, model.23/cv3, node:NAME[#k], tensor:NAME, head, head:i (comma list or repeated)',
            })
            .option('module', { type: 'string', demandOption: true, describe: 'NAM, GAM, SimAM, SE, CBAM, ECA, CA' })
            .option('opt', { type: 'string', array: true, describe: 'Module option key=value (repeatable), e.g. variant=paper, rate=4, lambda=1e-4' })
            .option('init', { choices: ['torch', 'random'] as const, default: 'torch' as const, describe: 'Weights when no --weights file is given' })
            .option('seed', { type: 'number', default: 0, describe: 'Seed of --init' })
            .option('weights', {
              type: 'string',
              array: true,
              describe: 'Reference state_dict: .safetensors, .npz, .json, or a PyTorch checkpoint .pt/.pth (one per point, or one file)',
            })
            .option('weights-prefix', {
              type: 'string',
              array: true,
              describe: "The module's key prefix in a --weights checkpoint (.pt), e.g. model.24. (one per point; default: found)",
            })
            .option('bn-eps', { type: 'number', describe: 'BatchNorm epsilon (default 1e-3 for YOLO/ultralytics exports, 1e-5 otherwise)' })
            .option('gate', {
              choices: ['zero', 'none'] as const,
              default: 'none' as const,
              describe: 'zero: y = x + 0·(attention(x) − x), an exact identity until the gate is set to 1',
            })
            .option('consumers', { type: 'string', array: true, describe: 'Rewire only these consumer nodes (e.g. a residual Add)' })
            .option('output', { alias: 'o', type: 'string', describe: 'Output file (default <stem>-<module>.onnx beside the input)' })
            .option('force', { type: 'boolean', default: false, describe: 'Replace an existing output' })
            .option('in-place', { type: 'boolean', default: false, describe: 'Write over the input model' })
            .option('external-data', { choices: ['auto', 'always', 'never'] as const, default: 'auto' as const })
            .option('dry-run', {
              type: 'boolean',
              default: false,
              describe: 'Print the plan (points, tensors, shapes, consumers, params, MACs); write nothing',
            })
            .option('check', {
              type: 'boolean',
              default: true,
              describe: 'Run original and patched once in onnxruntime (CPU) before saving (--no-check to skip)',
            })
            .option('shape', { type: 'string', array: true, describe: 'Size of dynamic inputs, NAME=1x3x640x640' })
            .option('json', { type: 'boolean', default: false }),
        async (args) => {
          const { insertIntoFile } = await import('../insert.js');
          const shapes = parseShapes(args.shape);
          if (args.output && args.inPlace) throw new UsageError('--output and --in-place contradict each other; pass one');
          if (args.weights) {
            // The file gives every weight: --init and --seed would silently do nothing.
            for (const flag of ['init', 'seed'] as const) {
              if (given.has(flag))
                throw new UsageError(`--weights and --${flag} ${args[flag]} contradict each other (--${flag} is for weights made without a file); pass one`);
            }
          }
          const result = await insertIntoFile(args.model, {
            after: args.after,
            module: args.module,
            opts: parseOpts(args.opt),
            // With a weights file the defaults of --init and --seed mean nothing, and the library refuses them.
            ...(args.weights ? { weights: args.weights } : { init: args.init, seed: args.seed }),
            ...(args['weights-prefix'] ? { weightsPrefix: args['weights-prefix'] } : {}),
            ...(args['bn-eps'] !== undefined ? { bnEps: args['bn-eps'] } : {}),
            gate: args.gate,
            ...(args.consumers ? { consumers: args.consumers } : {}),
            ...(args.output ? { output: args.output } : {}),
            force: args.force,
            inPlace: args.inPlace,
            externalData: args.externalData,
            dryRun: args.dryRun,
            check: args.check,
            ...(shapes ? { shapes } : {}),
          });
          if (args.json) out(JSON.stringify(result, null, 2));
          else if (!args.quiet || args.dryRun) {
            const { formatInsert } = await import('./format.js');
            out(formatInsert(result));
          }
        },
      )
      .command(
        'validate <model>',
        'Run a model on the requested execution provider: finiteness, shapes, latency, placement',
        (y) =>
          runtimeOptions(y.positional('model', { type: 'string', demandOption: true, describe: 'ONNX model' }))
            .option('detections', {
              choices: ['auto', 'off'] as const,
              default: 'auto' as const,
              describe: 'Decode detector outputs and count the boxes of each input set',
            })
            .option('conf', { type: 'number', default: 0.25, describe: 'Detection score threshold (ultralytics predict 0.25, val 0.001)' })
            .option('iou', { type: 'number', default: 0.45, describe: 'NMS IoU threshold' })
            // Declared so that it gets a pointer to compare rather than "Unknown argument".
            .options(ACCURACY_OPTIONS)
            .option('min-map', { type: 'number', describe: 'With --dataset: fail (exit 1) when mAP@0.5:0.95 is below this fraction' })
            .option('runtime', {
              choices: ['onnxruntime', 'opencv'] as const,
              describe: 'Run in onnxruntime (default) or OpenCV.js (its DNN module, in a worker thread)',
            })
            .option('tolerance', { type: 'string', array: true, hidden: true }),
        async (args) => {
          if (args.tolerance) throw new UsageError('--tolerance applies to compare (validate runs one model); use onnx-attn compare');
          const { validate } = await import('../validate.js');
          const { formatValidate } = await import('./format.js');
          const runtime = await toRuntime(args);
          const result = await reported(
            args,
            `validate ${args.model}`,
            (onProgress) =>
              validate(args.model, {
                ...runtime,
                ...(args.runtime ? { runtime: args.runtime } : {}),
                ...toAccuracy(args),
                detections: args.detections,
                conf: args.conf,
                iou: args.iou,
                onProgress,
              }),
            (result) => ({ kind: 'validate', result }),
            formatValidate,
            out,
          );
          state.exitCode = verdict(result);
        },
      )
      .command(
        'compare <a> [b]',
        'Run two models (or one model on two providers) on the same inputs and compare outputs, detections and latency',
        (y) =>
          runtimeOptions(
            y
              .positional('a', { type: 'string', demandOption: true, describe: 'Reference model (the original)' })
              .positional('b', { type: 'string', describe: 'Model to check (the patched one); omit with --ep-pair' }),
          )
            .option('ep-pair', { type: 'string', describe: 'One model on two providers, e.g. cuda,cpu (the second is the reference)' })
            .option('runtime-pair', { type: 'string', describe: 'a on the first runtime (the reference), b (or a again) on the second: onnxruntime,opencv' })
            .options(ACCURACY_OPTIONS)
            .option('max-map-drop', {
              type: 'number',
              describe: 'With --dataset: fail (exit 1) when b loses more than this fraction of mAP@0.5:0.95 (0.01 = one point)',
            })
            .option('tolerance', { type: 'string', array: true, describe: 'exact, fp32, tf32, fp16, atol=..,rtol=.., or per output NAME:spec' })
            .option('detections', { choices: ['auto', 'off'] as const, default: 'auto' as const, describe: 'Decode detector outputs and match boxes by IoU' })
            .option('conf', { type: 'number', default: 0.25, describe: 'Detection score threshold (ultralytics predict 0.25, val 0.001)' })
            .option('iou', { type: 'number', default: 0.45, describe: 'NMS IoU threshold' })
            .option('precision', {
              type: 'string',
              describe: "Time pairs past --iters until the overhead's 95% interval is this narrow (half-width, % of a's median), e.g. 2%",
            })
            .option('budget', { type: 'string', describe: 'Stop timing after this long, e.g. 60s, 2m (60s with --precision unless given)' }),
        async (args) => {
          const { compare } = await import('../compare.js');
          const { formatCompare } = await import('./format.js');
          const label = `compare ${args.a} ${args.b ?? ''}`.trim();
          const runtime = await toRuntime(args);
          const result = await reported(
            args,
            label,
            (onProgress) =>
              compare(args.a, args.b ?? null, {
                ...runtime,
                ...(args['ep-pair'] ? { epPair: args['ep-pair'] } : {}),
                ...(args['runtime-pair'] !== undefined ? { runtimePair: args['runtime-pair'] } : {}),
                ...toAccuracy(args),
                ...(args.tolerance ? { tolerance: args.tolerance } : {}),
                detections: args.detections,
                conf: args.conf,
                iou: args.iou,
                ...(args.precision !== undefined ? { precision: args.precision } : {}),
                ...(args.budget !== undefined ? { budget: args.budget } : {}),
                onProgress,
              }),
            (result) => ({ kind: 'compare', result }),
            formatCompare,
            out,
          );
          state.exitCode = verdict(result);
        },
      )
      .command(
        'apply [plan]',
        'Run a patch plan (YAML or JSON): insert, save, validate and compare every entry; --check for CI',
        (y) =>
          y
            .positional('plan', { type: 'string', describe: 'Plan file (.yaml, .yml or .json); the paths in it are relative to it' })
            .option('only', { type: 'string', array: true, describe: 'Run only the entries with these names (repeatable)' })
            .option('check', {
              type: 'boolean',
              default: false,
              describe: 'Write nothing; exit 1 when an output is missing or not byte-identical to what apply would write',
            })
            .option('dry-run', { type: 'boolean', default: false, describe: 'Print what would be done (points, tensors, parameters); write nothing' })
            .option('report', { type: 'string', array: true, describe: 'Also write a report of every entry: .json, .md, .html or .xml (JUnit); repeatable' })
            .option('schema', { type: 'boolean', default: false, describe: "Print the plan's JSON Schema and exit" })
            .option('allow-outside', {
              type: 'boolean',
              default: false,
              describe: "Let the plan's outputs and reports lie outside its folder (refused by default: exit 2)",
            })
            .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON (cli-contract "apply")' }),
        async (args) => {
          if (args.schema) {
            if (args.plan) throw new UsageError(`--schema takes no plan (${args.plan}); run onnx-attn apply --schema alone, or drop --schema to run the plan`);
            const extra = (['only', 'check', 'dry-run', 'report', 'allow-outside'] as const).filter((f) => given.has(f));
            if (extra.length > 0) throw new UsageError(`--schema takes no other option (--${extra.join(', --')}); run onnx-attn apply --schema alone`);
            const { planSchema } = await import('../plan/schema.js');
            out(JSON.stringify(planSchema(), null, 2));
            return;
          }
          if (!args.plan) throw new UsageError("apply needs a plan file (onnx-attn apply plan.yaml), or --schema to print the plan's format");
          const { apply } = await import('../apply.js');
          const { progressBar } = await import('./progress.js');
          const { formatApplyEntry, formatApplySummary } = await import('./format.js');
          const human = !args.json && !args.quiet;
          const result = await apply(args.plan, {
            ...(args.only ? { only: args.only } : {}),
            check: args.check,
            dryRun: args.dryRun,
            allowOutside: args.allowOutside,
            ...(args.report ? { reports: args.report } : {}),
            progress: (label) => progressBar(`apply ${label}`, human),
            onEntry: (e) => {
              if (!args.json && (human || args.dryRun || !e.pass)) out(formatApplyEntry(e, args.check ? 'check' : args.dryRun ? 'dry-run' : 'apply'));
            },
          });
          if (args.json) out(JSON.stringify(result, null, 2));
          else if (human || args.dryRun || !result.pass) out(formatApplySummary(result));
          if (result.stale.length > 0)
            io.stderr(`onnx-attn: ${result.stale.length} stale output(s): ${result.stale.join(', ')}; run onnx-attn apply ${args.plan} to update them\n`);
          state.exitCode = result.exitCode;
        },
      )
      .command(
        'modules',
        'List the attention modules: variants, options, parameter formulas, op counts',
        (y) => y.option('json', { type: 'boolean', default: false }),
        async (args) => {
          const { describeModules } = await import('../modules/index.js');
          const modules = describeModules();
          if (args.json) out(JSON.stringify(modules, null, 2));
          else {
            const { formatModules } = await import('./format.js');
            out(formatModules(modules));
          }
        },
      )
      .command(
        'sweep <model>',
        'Try every module at every point (each alone) and rank them by cost and output change',
        (y) =>
          runtimeOptions(y.positional('model', { type: 'string', demandOption: true, describe: 'ONNX model' }))
            .option('modules', { type: 'string', array: true, demandOption: true, describe: 'Modules to try: NAM,GAM,SimAM,SE,CBAM,ECA,CA' })
            .option('after', { type: 'string', array: true, demandOption: true, describe: 'Points: SPECs as in insert, or backbone, neck, all-layers' })
            .option('opt', { type: 'string', array: true, describe: 'Module option key=value for every candidate (as in insert)' })
            .option('init', { choices: ['torch', 'random'] as const, default: 'torch' as const, describe: 'Weights of the inserted modules' })
            .option('combine', { type: 'boolean', default: false, describe: 'One row per module with all the points at once' })
            .option('rank-by', {
              choices: ['score-change', 'overhead', 'params', 'macs', 'change', 'cosine', 'detections', 'map-drop'] as const,
              default: 'score-change' as const,
              describe:
                "Ranking, best first: score-change = the scores part's relative L2 (whole outputs for unknown models); overhead counts an overhead within noise as 0; map-drop (with --dataset) = mAP@0.5:0.95 lost",
            })
            .options(ACCURACY_OPTIONS)
            .option('detections', { choices: ['auto', 'off'] as const, default: 'auto' as const, describe: 'Decode detector outputs and match boxes by IoU' })
            .option('conf', { type: 'number', default: 0.25, describe: 'Detection score threshold' })
            .option('iou', { type: 'number', default: 0.45, describe: 'NMS IoU threshold' })
            .option('precision', {
              type: 'string',
              describe: "Time each candidate past --iters until its overhead's 95% interval is this narrow (half-width, % of the original's median), e.g. 2%",
            })
            .option('budget', { type: 'string', describe: "The whole sweep's timing budget, e.g. 60s, 5m (60s with --precision unless given)" }),
        async (args) => {
          const { sweep } = await import('../sweep.js');
          const { formatSweep } = await import('./format.js');
          const { SWEEP_FORMATS } = await import('../report/index.js');
          const runtime = await toRuntime(args);
          await reported(
            args,
            `sweep ${args.model}`,
            (onCandidate) =>
              sweep(args.model, {
                ...runtime,
                modules: args.modules,
                after: args.after,
                opts: parseOpts(args.opt),
                init: args.init,
                combine: args.combine,
                rankBy: args['rank-by'],
                ...toAccuracy(args),
                detections: args.detections,
                conf: args.conf,
                iou: args.iou,
                ...(args.precision !== undefined ? { precision: args.precision } : {}),
                ...(args.budget !== undefined ? { budget: args.budget } : {}),
                onCandidate,
              }),
            (result) => ({ kind: 'sweep', result }),
            formatSweep,
            out,
            { formats: SWEEP_FORMATS, unit: 'candidates', alwaysPrint: true },
          );
        },
      )
      .command(
        'doctor',
        'Show onnxruntime-node, which execution providers are bundled and loadable, and how to fix the rest',
        (y) => y.option('json', { type: 'boolean', default: false }),
        async (args) => {
          const { doctor } = await import('../doctor.js');
          const report = await doctor();
          if (args.json) out(JSON.stringify(report, null, 2));
          else {
            const { formatDoctor } = await import('./format.js');
            out(formatDoctor(report));
          }
        },
      )
      .command(
        'torch <module>',
        'Print the module as PyTorch code (the reference maths and state_dict keys), and how to add it to a YOLO YAML',
        (y) =>
          y
            .positional('module', { type: 'string', demandOption: true, describe: 'NAM, GAM, SimAM, SE, CBAM, ECA, CA' })
            .option('opt', { type: 'string', array: true, describe: 'Module option key=value (repeatable), as in insert' })
            .option('layer', { type: 'number', describe: 'With --family: the YAML layer the module goes after (it becomes layer N+1)' })
            .option('family', {
              choices: ['yolov5', 'ultralytics'] as const,
              describe: 'Whose YAML --layer counts in: yolov5 (yolov5s.yaml) or ultralytics (yolov8.yaml)',
            })
            .option('json', { type: 'boolean', default: false, describe: 'Print {module, className, options, code, yaml}' }),
        async (args) => {
          const { torchCode } = await import('../torch-code.js');
          const r = torchCode(args.module, {
            opts: parseOpts(args.opt),
            ...(args.layer !== undefined ? { layer: args.layer } : {}),
            ...(args.family !== undefined ? { family: args.family } : {}),
          });
          out(args.json ? JSON.stringify(r, null, 2) : r.code);
        },
      )
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
