import * as path from 'node:path';
import { parseClassMap } from '../accuracy/evaluate.js';
import type { CompareOptions } from '../compare.js';
import { insertOptionsFrom, type InsertOptions } from '../insert/options.js';
import { MODULES, resolveOptions, unknownOption } from '../modules/index.js';
import type { ExternalDataMode } from '../onnx/save.js';
import { parseTolerance } from '../runtime/metrics.js';
import { BUDGET_EXPECTED, budgetSeconds, PRECISION_EXPECTED, precisionValue } from '../runtime/paired.js';
import type { ValidateOptions } from '../validate.js';
import type { KeyPath, RawEntry, RawItem, RawPlan, RawRuntime } from './parse.js';
import type { PlanPaths, Problem } from './resolve.js';

/**
 * A schema-checked plan's entries to PlanEntry: what a schema cannot see (modules and their options, shapes,
 * tolerances, thresholds and the keys that need a dataset), each problem at its key. What needs the models (SPECs,
 * shapes) is checked when the entries are built.
 */

/** One insert item of an entry, ready for `applyInsertItems`, with where it is in the plan. */
export interface PlanItem {
  options: InsertOptions;
  path: KeyPath;
}

export interface PlanEntry {
  index: number;
  name: string;
  /** Absolute paths. */
  input: string;
  output: string;
  path: KeyPath;
  /** Sizes of dynamic inputs for the shape probe and the check run. */
  shapes?: Record<string, number[]>;
  items: PlanItem[];
  externalData: ExternalDataMode;
  /** null: skipped (`validate: false`). */
  validate: ValidateOptions | null;
  compare: CompareOptions | null;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const stem = (file: string) => path.basename(file, path.extname(file));

/**
 * Sizes of dynamic inputs (the schema has checked their form and that none is 0). As `--shape`: every size a safe
 * whole number, and each input named once in the list form.
 */
function parseShape(v: RawRuntime['shape'], at: KeyPath, problem: Problem): Record<string, number[]> | undefined {
  if (!v) return undefined;
  const out: Record<string, number[]> = {};
  /** `text`: the sizes as written (`1x3x640x640`), `shown`: the item they came from, quoted in the message. */
  const put = (name: string, text: string, where: KeyPath, shown: string) => {
    const dims = text.split('x').map(Number);
    const bad = dims.findIndex((d) => !(d >= 1) || !Number.isSafeInteger(d));
    if (bad >= 0) problem(where, `dim ${bad} of '${shown}' is ${text.split('x')[bad]}; every size must be a whole number ≥ 1`);
    out[name] = dims;
  };
  if (Array.isArray(v)) {
    for (const [n, item] of v.entries()) {
      const eq = item.lastIndexOf('=');
      const name = item.slice(0, eq);
      if (Object.hasOwn(out, name)) {
        const all = v.filter((i) => i.slice(0, i.lastIndexOf('=')) === name);
        problem([...at, n], `names input '${name}' twice (${all.join(', ')}); give it once`);
      }
      put(name, item.slice(eq + 1), [...at, n], item);
    }
  } else {
    for (const [k, dims] of Object.entries(v)) {
      const text = Array.isArray(dims) ? dims.join('x') : String(dims);
      put(k, text, [...at, k], text);
    }
  }
  return out;
}

/** One insert item: its module and options known, its weights files there. */
function checkItem(it: RawItem, ip: KeyPath, paths: PlanPaths, problem: Problem): PlanItem {
  const module = MODULES.find((m) => m.name.toLowerCase() === it.module.trim().toLowerCase());
  if (!module) problem([...ip, 'module'], `unknown module '${it.module}'; expected one of ${MODULES.map((m) => m.name).join(', ')}`);
  for (const [key, value] of Object.entries(it.opts ?? {})) {
    if (!module) continue;
    const unknown = unknownOption(module, key, (valid) => `expected one of ${valid}`);
    if (unknown) {
      problem([...ip, 'opts', key], unknown, true);
      continue;
    }
    try {
      resolveOptions(module, { [key]: String(value) });
    } catch (err) {
      problem([...ip, 'opts', key], (err as Error).message);
    }
  }
  const weights = Array.isArray(it.weights)
    ? it.weights.map((w, n) => paths.needFile([...ip, 'weights', n], w, 'file'))
    : it.weights !== undefined
      ? [paths.needFile([...ip, 'weights'], it.weights, 'file')]
      : [];
  // Told here in the plan's words (insertOptionsFrom would use the CLI's), with the item's other problems.
  const prefixWithoutWeights = it['weights-prefix'] !== undefined && weights.length === 0;
  if (prefixWithoutWeights) problem([...ip, 'weights-prefix'], 'names a module inside a weights file; give weights too');
  // The schema has refused weights with init or seed, the other contradiction insertOptionsFrom throws on.
  const options = insertOptionsFrom({
    after: it.after,
    module: module?.name ?? it.module,
    opts: it.opts ?? {},
    ...(it.init !== undefined ? { init: it.init } : {}),
    ...(it.seed !== undefined ? { seed: it.seed } : {}),
    ...(weights.length > 0 ? { weights } : {}),
    ...(it['weights-prefix'] !== undefined && !prefixWithoutWeights ? { 'weights-prefix': it['weights-prefix'] } : {}),
    ...(it['bn-eps'] !== undefined ? { 'bn-eps': it['bn-eps'] } : {}),
    ...(it.gate !== undefined ? { gate: it.gate } : {}),
    ...(it.consumers !== undefined ? { consumers: it.consumers } : {}),
  });
  return { path: ip, options };
}

/** The validate or compare options of an entry: its own block over the plan's defaults (null: skipped). */
function checkRuntime(
  kind: 'validate' | 'compare',
  raw: RawPlan,
  e: RawEntry,
  at: KeyPath,
  paths: PlanPaths,
  problem: Problem,
): ValidateOptions | CompareOptions | null {
  const own = e[kind];
  const dflt = raw.defaults?.[kind];
  if (own === false || (own === undefined && dflt === false)) return null;
  const merged: RawRuntime = { ...(dflt || {}), ...(own || {}) };
  const keyAt = (key: keyof RawRuntime): KeyPath => (own && key in own ? [...at, kind, key] : ['defaults', kind, key]);
  let inputs = merged.inputs;
  if (inputs !== undefined && inputs !== 'random' && inputs !== 'zeros') inputs = paths.needFile(keyAt('inputs'), inputs, 'file or folder');
  const tolerance = list(merged.tolerance);
  try {
    parseTolerance(tolerance);
  } catch (err) {
    problem(keyAt('tolerance'), (err as Error).message);
  }
  // The schema checks their form; their bounds (0% < precision ≤ 100%, 0 < budget ≤ 24 h) are checked here.
  for (const [key, value, expected] of [
    ['precision', merged.precision, PRECISION_EXPECTED],
    ['budget', merged.budget, BUDGET_EXPECTED],
  ] as const) {
    if (value === undefined) continue;
    const ok = key === 'precision' ? precisionValue(value) : budgetSeconds(value);
    if (ok === null) problem(keyAt(key), `expected ${expected}, got ${typeof value === 'number' ? `the number ${value}` : `the string '${value}'`}`);
  }
  // Accuracy on labelled images: the dataset is relative to the plan; the other keys and the gates need it.
  const dataset = merged.dataset !== undefined ? paths.needFile(keyAt('dataset'), merged.dataset, 'file or folder') : undefined;
  if (dataset === undefined) {
    for (const key of ['dataset-conf', 'dataset-iou', 'dataset-multi-label', 'class-map', 'min-map', 'max-map-drop'] as const) {
      if (merged[key] !== undefined) problem(keyAt(key), `${key} needs dataset: (the labelled images it applies to)`);
    }
  }
  if (merged['class-map'] !== undefined) {
    try {
      parseClassMap(merged['class-map']);
    } catch (err) {
      problem(keyAt('class-map'), (err as Error).message);
    }
  }
  const shapes = parseShape(merged.shape, keyAt('shape'), problem);
  return {
    ...(dataset !== undefined ? { dataset } : {}),
    ...(merged['dataset-conf'] !== undefined ? { datasetConf: merged['dataset-conf'] } : {}),
    ...(merged['dataset-iou'] !== undefined ? { datasetIou: merged['dataset-iou'] } : {}),
    ...(merged['dataset-multi-label'] !== undefined ? { datasetMultiLabel: merged['dataset-multi-label'] } : {}),
    ...(merged['class-map'] !== undefined ? { classMap: merged['class-map'] } : {}),
    ...(merged['min-map'] !== undefined ? { minMap: merged['min-map'] } : {}),
    ...(merged['max-map-drop'] !== undefined ? { maxMapDrop: merged['max-map-drop'] } : {}),
    ...(merged.ep !== undefined ? { ep: list(merged.ep).flatMap((x) => x.split(',')) } : {}),
    ...(merged.fallback !== undefined ? { fallback: merged.fallback } : {}),
    ...(merged['device-id'] !== undefined ? { deviceId: merged['device-id'] } : {}),
    ...(inputs !== undefined ? { inputs } : {}),
    ...(merged.seed !== undefined ? { seed: merged.seed } : {}),
    ...(shapes ? { shapes } : {}),
    ...(merged.warmup !== undefined ? { warmup: merged.warmup } : {}),
    ...(merged.iters !== undefined ? { iters: merged.iters } : {}),
    ...(merged.threads !== undefined ? { threads: merged.threads } : {}),
    ...(merged.optimization !== undefined ? { optimization: merged.optimization } : {}),
    ...(merged.profile !== undefined ? { profile: merged.profile } : {}),
    ...(merged['require-ep'] !== undefined ? { requireEp: merged['require-ep'] } : {}),
    ...(tolerance.length > 0 ? { tolerance } : {}),
    ...(merged.detections !== undefined ? { detections: merged.detections } : {}),
    ...(merged.conf !== undefined ? { conf: merged.conf } : {}),
    ...(merged.iou !== undefined ? { iou: merged.iou } : {}),
    ...(merged.precision !== undefined ? { precision: merged.precision } : {}),
    ...(merged.budget !== undefined ? { budget: merged.budget } : {}),
    ...(merged.runtime !== undefined ? { runtime: merged.runtime } : {}),
    ...(merged['runtime-pair'] !== undefined ? { runtimePair: merged['runtime-pair'] } : {}),
  };
}

/** Every entry of the plan, in order; problems go to `problem` (the caller throws once all are found). */
export function checkEntries(raw: RawPlan, paths: PlanPaths, problem: Problem): PlanEntry[] {
  const entries: PlanEntry[] = [];
  const names = new Map<string, number>();
  for (const [i, e] of raw.models.entries()) {
    const at: KeyPath = ['models', i];
    const input = paths.needFile([...at, 'input'], e.input, 'file');
    const { output, claimedBy } = paths.claimOutput([...at, 'output'], e.output, i);

    const name = e.name ?? stem(e.output);
    const prev = names.get(name);
    // Two entries with one output also share its stem: that is one problem, reported on the output.
    if (prev !== undefined && (e.name !== undefined || claimedBy === undefined)) {
      if (e.name !== undefined) problem([...at, 'name'], `the name '${name}' is already models[${prev}]'s; entry names must be unique`);
      else problem([...at, 'output'], `the entry name '${name}' (the output's stem) is already models[${prev}]'s; give one of them a name:`);
    } else names.set(name, i);
    const items: PlanItem[] = [];
    let externalData: { mode: ExternalDataMode; index: number } | null = null;
    for (const [k, it] of e.insert.entries()) {
      const ip: KeyPath = [...at, 'insert', k];
      items.push(checkItem(it, ip, paths, problem));
      const mode = it['external-data'];
      if (mode !== undefined) {
        if (externalData && externalData.mode !== mode) {
          problem(
            [...ip, 'external-data'],
            `'${mode}' conflicts with insert[${externalData.index}]'s '${externalData.mode}'; the entry's output is saved once`,
          );
        } else externalData ??= { mode, index: k };
      }
    }
    const shapes = parseShape(e.shape, [...at, 'shape'], problem);
    entries.push({
      index: i,
      name,
      input,
      output,
      path: at,
      ...(shapes ? { shapes } : {}),
      items,
      externalData: externalData?.mode ?? 'auto',
      validate: checkRuntime('validate', raw, e, at, paths, problem),
      compare: checkRuntime('compare', raw, e, at, paths, problem),
    });
  }
  return entries;
}
