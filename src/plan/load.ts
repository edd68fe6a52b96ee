import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isPair, isScalar, isSeq, Lexer, LineCounter, parseDocument, Parser, visit, type CST, type Document } from 'yaml';
import type { CompareOptions } from '../compare.js';
import { isOnnxAttnError, PlanError, UsageError, type PlanIssue } from '../errors.js';
import { MAX_INSERT_ITEMS, MAX_NESTING_DEPTH, MAX_PLAN_ALIAS_COUNT, MAX_PLAN_BYTES, MAX_PLAN_ENTRIES, MAX_PLAN_REPORTS, mib } from '../limits.js';
import type { InsertOptions } from '../insert.js';
import { MODULES, resolveOptions } from '../modules/index.js';
import type { ExternalDataMode } from '../onnx/save.js';
import { parseTolerance } from '../runtime/metrics.js';
import { parseClassMap } from '../accuracy/evaluate.js';
import { BUDGET_EXPECTED, budgetSeconds, PRECISION_EXPECTED, precisionValue } from '../runtime/paired.js';
import type { ValidateOptions } from '../validate.js';
import { jsonSyntaxError } from './json.js';
import { checkSchema } from './schema.js';

/**
 * Reading a patch plan (cli-contract "Patch plans"): YAML or JSON parsed by `yaml` with its line counter, checked
 * against schema/plan.schema.json, then checked for what a schema cannot see (modules and their options, files,
 * outputs). Every problem is reported as `plan.yaml:7: models[0].insert[1].module: what was expected`.
 */

export type KeyPath = (string | number)[];

// PlanError lives with the other error classes; importers of the plan reader still find it here.
export { PlanError, type PlanIssue } from '../errors.js';

/** `models[0].insert[1].opts["a.b"]` */
export function formatPath(p: KeyPath): string {
  return p.reduce<string>((s, seg) => {
    if (typeof seg === 'number') return `${s}[${seg}]`;
    if (/^[A-Za-z_][\w-]*$/.test(seg)) return s ? `${s}.${seg}` : seg;
    return `${s}[${JSON.stringify(seg)}]`;
  }, '');
}

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

export interface LoadedPlan {
  /** The plan path as given (what error messages name). */
  file: string;
  dir: string;
  /** sha256 of the plan file's bytes: goes into every output's provenance. */
  sha256: string;
  entries: PlanEntry[];
  /** Absolute report paths from the plan's `reports:`. */
  reports: string[];
  /** Where a key path is in the plan: for errors found later (an insertion point that does not resolve). */
  issue(at: KeyPath, message: string, atKey?: boolean): PlanIssue;
}

type Scalar = string | number;
interface RawRuntime {
  ep?: string | string[];
  fallback?: 'cpu' | 'none';
  'device-id'?: number;
  inputs?: string;
  seed?: number;
  shape?: Record<string, string | number[]> | string[];
  warmup?: number;
  iters?: number;
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  profile?: boolean;
  'require-ep'?: string;
  tolerance?: string | string[];
  detections?: 'auto' | 'off';
  conf?: number;
  iou?: number;
  precision?: string | number;
  budget?: string | number;
  dataset?: string;
  'dataset-conf'?: number;
  'dataset-iou'?: number;
  'dataset-multi-label'?: boolean;
  'class-map'?: string;
  'min-map'?: number;
  'max-map-drop'?: number;
  runtime?: 'onnxruntime' | 'opencv';
  'runtime-pair'?: string;
}
interface RawItem {
  after: Scalar | Scalar[];
  module: string;
  opts?: Record<string, Scalar>;
  init?: 'torch' | 'random';
  seed?: number;
  weights?: string | string[];
  'weights-prefix'?: string | string[];
  'bn-eps'?: number;
  gate?: 'zero' | 'none';
  consumers?: string | string[];
  'external-data'?: ExternalDataMode;
}
interface RawEntry {
  name?: string;
  input: string;
  output: string;
  shape?: RawRuntime['shape'];
  insert: RawItem[];
  validate?: RawRuntime | false;
  compare?: RawRuntime | false;
}
interface RawPlan {
  version: 1;
  defaults?: { validate?: RawRuntime | false; compare?: RawRuntime | false };
  models: RawEntry[];
  reports?: string[];
}

/** Line of the node at `at` (of its key with `atKey`); the nearest existing parent when the path stops early. */
function lineOf(doc: Document, lc: LineCounter, at: KeyPath, atKey: boolean): number {
  let node: unknown = doc.contents;
  let line = 1;
  const lineAt = (n: unknown) => {
    const range = (n as { range?: [number, number, number] | null } | null)?.range;
    return range ? lc.linePos(range[0]).line : line;
  };
  line = lineAt(node);
  for (const [i, seg] of at.entries()) {
    const last = i === at.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return line;
      if (last && atKey) return lineAt(pair.key);
      line = lineAt(pair.key);
      node = pair.value;
      if (node) line = lineAt(node);
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (!node) return line;
      line = lineAt(node);
    } else return line;
  }
  return line;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Sizes of dynamic inputs (the schema has checked their form and that none is 0). As `--shape`: every size a safe
 * whole number, and each input named once in the list form.
 */
function parseShape(v: RawRuntime['shape'], at: KeyPath, problem: (at: KeyPath, message: string) => void): Record<string, number[]> | undefined {
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

const stem = (file: string) => path.basename(file, path.extname(file));

/**
 * Real paths, each resolved once (a plan of n entries compares every output with every input: by map, not by
 * search). A path that does not exist yet resolves through its nearest existing folder, so an output under a
 * symlinked folder is where the link leads.
 */
function realPaths(): (p: string) => string {
  const memo = new Map<string, string>();
  const real = (p: string): string => {
    const abs = path.resolve(p);
    let r = memo.get(abs);
    if (r === undefined) {
      try {
        r = fs.realpathSync(abs);
      } catch {
        const parent = path.dirname(abs);
        r = parent === abs ? abs : path.join(real(parent), path.basename(abs));
      }
      memo.set(abs, r);
    }
    return r;
  };
  return real;
}

/** `inner` is `dir` or below it (both real paths). */
function isInside(dir: string, inner: string): boolean {
  const rel = path.relative(dir, inner);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/**
 * Where a YAML/JSON text nests collections deeper than `limit` (its offset), or null. Flow nesting (`[[[`, JSON)
 * is counted on yaml's lexer tokens first, stopping at the limit: a megabyte of brackets costs milliseconds, where
 * building the CST of it would take minutes. The CST (yaml's parser is a loop, not a recursion) then gives block
 * nesting, walked with an explicit stack.
 */
function tooDeepText(text: string, limit: number): { offset: number; why: 'deep' | 'stray' } | null {
  let flow = 0;
  // Block collections opened on one line (`- - - x`): each `-` or `?` is one more level.
  let onLine = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    // The lexer's own markers (document start, flow end, scalar) are not in the text.
    if (token === '\x02' || token === '\x18' || token === '\x1f') continue;
    if (token === '[' || token === '{') {
      if (++flow > limit) return { offset, why: 'deep' };
    } else if (token === ']' || token === '}') {
      // A closer with nothing open: yaml would report every one (a flood of errors, seconds for a long run).
      if (--flow < 0) return { offset, why: 'stray' };
    } else if (token === '-' || token === '?') {
      if (++onLine + flow > limit) return { offset, why: 'deep' };
    } else if (token === '\n' || token === '\r\n') onLine = 0;
    offset += token.length;
  }
  const stack: { token: CST.Token | null | undefined; depth: number }[] = [];
  for (const doc of new Parser().parse(text)) stack.push({ token: doc, depth: 0 });
  while (stack.length > 0) {
    const { token, depth } = stack.pop()!;
    if (!token) continue;
    if (token.type === 'document') stack.push({ token: token.value, depth });
    else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > limit) return { offset: token.offset, why: 'deep' };
      for (const it of token.items) {
        const item = it as { key?: CST.Token | null; value?: CST.Token };
        stack.push({ token: item.key, depth: depth + 1 }, { token: item.value, depth: depth + 1 });
      }
    }
  }
  return null;
}

const lineAtOffset = (text: string, offset: number) => {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
};

export interface LoadPlanOptions {
  /**
   * Let outputs and reports resolve outside the plan's folder (`apply --allow-outside`). By default a plan writes
   * only inside its own folder (after symlinks): a plan someone else committed must not write anywhere on the CI
   * machine. Inputs, weights and inputs files may be anywhere (models are often shared).
   */
  allowOutside?: boolean;
}

/**
 * Reads and checks a plan. Everything a file-system look can tell is checked here (files exist, outputs are
 * distinct and never an input); what needs the models (SPECs, shapes) is checked when the entries are built,
 * still before anything is written. Throws PlanError (exit 2).
 */
export function loadPlan(file: string, options: LoadPlanOptions = {}): LoadedPlan {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new UsageError(`${file} is a folder; expected a plan file (.yaml, .yml or .json)`);
    // A FIFO or a device would block the read or never end.
    if (!stat.isFile()) throw new UsageError(`${file} is not a regular file; expected a plan file (.yaml, .yml or .json)`);
    if (stat.size > MAX_PLAN_BYTES)
      throw new PlanError(file, [
        { line: 1, path: '', message: `the plan is ${stat.size} bytes, over the ${mib(MAX_PLAN_BYTES)} limit for a plan file; split it` },
      ]);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (isOnnxAttnError(e)) throw e;
    throw new UsageError(`${file}: no such plan file; check the path (onnx-attn apply --schema prints the format)`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const dir = path.dirname(path.resolve(file));
  const lc = new LineCounter();
  const text = bytes.toString('utf8');
  const kind = path.extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML';
  // JSON.parse first (a loop, safe on any depth), so a JSON plan's syntax errors are told in JSON's terms.
  if (kind === 'JSON') {
    // JSON's own parser says what is wrong in JSON's terms (and, for some errors, where); YAML's gives the lines
    // of keys. A byte order mark is no error in a plan (YAML skips it too).
    const body = text.replace(/^\uFEFF/, '');
    try {
      JSON.parse(body);
    } catch (e) {
      const { line, message } = jsonSyntaxError(body, e);
      throw new PlanError(file, [{ line, path: '', message: `not valid JSON: ${message}` }]);
    }
  }
  // Before the composer (recursive) and the schema validator see it: yaml's CST parser is a loop.
  const deep = tooDeepText(text, MAX_NESTING_DEPTH);
  if (deep !== null) {
    const line = lineAtOffset(text, deep.offset);
    if (deep.why === 'stray') throw new PlanError(file, [{ line, path: '', message: `not valid ${kind}: '${text[deep.offset]}' closes no open list or map` }]);
    throw new PlanError(file, [
      { line, path: '', message: `nests deeper than ${MAX_NESTING_DEPTH} levels of lists and maps (the limit for a plan); a plan is about 6 deep` },
    ]);
  }
  // JSON is YAML 1.2: one parser, and line numbers for both.
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, strict: true });
  const issue = (at: KeyPath, message: string, atKey = false): PlanIssue => ({ line: lineOf(doc, lc, at, atKey), path: formatPath(at), message });
  if (doc.errors.length > 0) {
    throw new PlanError(
      file,
      doc.errors.map((e) => ({ line: lc.linePos(e.pos[0]).line, path: '', message: `not valid ${kind}: ${e.message.split('\n')[0]}` })),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_PLAN_ALIAS_COUNT });
  } catch (e) {
    // yaml's guard against an alias bomb (anchors of anchors, each expanding the last): no position of its own.
    let line = 1;
    visit(doc, {
      Alias(_key, node) {
        line = node.range ? lc.linePos(node.range[0]).line : line;
        return visit.BREAK;
      },
    });
    throw new PlanError(file, [
      {
        line,
        path: '',
        message: `YAML aliases expand past ${MAX_PLAN_ALIAS_COUNT} nodes (the limit for a plan; ${(e as Error).message.split('\n')[0]}); write the values out instead`,
      },
    ]);
  }
  if (data === null || data === undefined)
    throw new PlanError(file, [{ line: 1, path: '', message: 'the plan is empty; expected version: 1 and a list of models (onnx-attn apply --schema)' }]);
  // Counts first: the schema validator and the checks below cost per entry.
  const counted = data as { models?: unknown; reports?: unknown };
  const over = (at: KeyPath, n: number, max: number, what: string) =>
    new PlanError(file, [issue(at, `${n} ${what}, more than the ${max} a plan may hold; split the plan`, true)]);
  if (Array.isArray(counted.models)) {
    if (counted.models.length > MAX_PLAN_ENTRIES) throw over(['models'], counted.models.length, MAX_PLAN_ENTRIES, 'entries');
    for (const [i, e] of counted.models.entries()) {
      const insert = (e as { insert?: unknown } | null)?.insert;
      if (Array.isArray(insert) && insert.length > MAX_INSERT_ITEMS)
        throw new PlanError(file, [
          issue(['models', i, 'insert'], `${insert.length} insert items, more than the ${MAX_INSERT_ITEMS} one entry may hold`, true),
        ]);
    }
  }
  if (Array.isArray(counted.reports) && counted.reports.length > MAX_PLAN_REPORTS) throw over(['reports'], counted.reports.length, MAX_PLAN_REPORTS, 'reports');
  const schemaIssues = checkSchema(data).map((s) => issue(s.path, s.message, s.atKey));
  if (schemaIssues.length > 0) throw new PlanError(file, sortIssues(schemaIssues));

  const raw = data as RawPlan;
  const issues: PlanIssue[] = [];
  const real = realPaths();
  const realDir = real(dir);
  /** Outputs and reports stay in the plan's folder (after symlinks) unless the caller allows otherwise. */
  const checkInside = (at: KeyPath, p: string, abs: string) => {
    if (options.allowOutside || isInside(realDir, real(abs))) return;
    const where = real(abs) === abs ? (p === abs ? `'${p}'` : `'${p}' (${abs})`) : `'${p}' (${abs}, really ${real(abs)})`;
    issues.push(
      issue(
        at,
        `${where} is outside the plan's folder ${dir}; a plan writes only inside its own folder. Move it there, or run apply --allow-outside if you trust this plan`,
      ),
    );
  };
  const resolve = (p: string) => path.resolve(dir, p);
  const shown = (p: string, abs: string) => (p === abs ? p : `'${p}' (${abs})`);
  /** A NUL cannot be in a path on any file system (Node throws on it): refused here, not when the file is written. */
  const nul = (at: KeyPath, p: string) => {
    if (!p.includes('\0')) return false;
    issues.push(issue(at, `${JSON.stringify(p)} holds a NUL character, which no path can; remove it`));
    return true;
  };
  /** Files the plan reads besides models (real path → key path): no output may replace one. */
  const reads = new Map<string, string>([[real(path.resolve(file)), 'the plan itself']]);
  const needFile = (at: KeyPath, p: string, what: 'file' | 'file or folder') => {
    const abs = resolve(p);
    if (nul(at, p)) return abs;
    if (at[at.length - 1] !== 'input' && !reads.has(real(abs))) reads.set(real(abs), formatPath(at));
    let stat: fs.Stats | null = null;
    try {
      stat = fs.statSync(abs);
    } catch {
      issues.push(issue(at, `no such ${what} ${shown(p, abs)}; paths are relative to the plan file`));
      return abs;
    }
    if (what === 'file' && stat.isDirectory()) issues.push(issue(at, `${shown(p, abs)} is a folder; expected a file`));
    return abs;
  };

  const entries: PlanEntry[] = [];
  const names = new Map<string, number>();
  const outputs = new Map<string, number>();
  for (const [i, e] of raw.models.entries()) {
    const at: KeyPath = ['models', i];
    const input = needFile([...at, 'input'], e.input, 'file');
    const output = resolve(e.output);
    nul([...at, 'output'], e.output);
    checkInside([...at, 'output'], e.output, output);
    if (fs.existsSync(output) && fs.statSync(output).isDirectory())
      issues.push(issue([...at, 'output'], `${shown(e.output, output)} is a folder; expected a model file path`));
    const prevOut = outputs.get(real(output));
    if (prevOut !== undefined)
      issues.push(issue([...at, 'output'], `models[${prevOut}] writes ${shown(e.output, output)} too; each output belongs to one entry`));
    else outputs.set(real(output), i);

    const name = e.name ?? stem(e.output);
    const prev = names.get(name);
    // Two entries with one output also share its stem: that is one problem, reported on the output.
    if (prev !== undefined && (e.name !== undefined || prevOut === undefined)) {
      issues.push(
        e.name !== undefined
          ? issue([...at, 'name'], `the name '${name}' is already models[${prev}]'s; entry names must be unique`)
          : issue([...at, 'output'], `the entry name '${name}' (the output's stem) is already models[${prev}]'s; give one of them a name:`),
      );
    } else names.set(name, i);
    const items: PlanItem[] = [];
    let externalData: { mode: ExternalDataMode; index: number } | null = null;
    for (const [k, it] of e.insert.entries()) {
      const ip: KeyPath = [...at, 'insert', k];
      const module = MODULES.find((m) => m.name.toLowerCase() === it.module.trim().toLowerCase());
      if (!module) issues.push(issue([...ip, 'module'], `unknown module '${it.module}'; expected one of ${MODULES.map((m) => m.name).join(', ')}`));
      const opts: Record<string, string> = {};
      for (const [key, value] of Object.entries(it.opts ?? {})) {
        opts[key] = String(value);
        if (!module) continue;
        if (!module.options.some((o) => o.key === key)) {
          const valid = module.options.map((o) => o.key);
          issues.push(
            issue(
              [...ip, 'opts', key],
              `${module.name} has no option '${key}'; ${valid.length ? `expected one of ${valid.join(', ')}` : 'it takes no options'}`,
              true,
            ),
          );
          continue;
        }
        try {
          resolveOptions(module, { [key]: String(value) });
        } catch (err) {
          issues.push(issue([...ip, 'opts', key], (err as Error).message));
        }
      }
      const weights = Array.isArray(it.weights)
        ? it.weights.map((w, n) => needFile([...ip, 'weights', n], w, 'file'))
        : it.weights !== undefined
          ? [needFile([...ip, 'weights'], it.weights, 'file')]
          : [];
      if (it['weights-prefix'] !== undefined && weights.length === 0)
        issues.push(issue([...ip, 'weights-prefix'], 'names a module inside a weights file; give weights too'));
      const mode = it['external-data'];
      if (mode !== undefined) {
        if (externalData && externalData.mode !== mode) {
          issues.push(
            issue(
              [...ip, 'external-data'],
              `'${mode}' conflicts with insert[${externalData.index}]'s '${externalData.mode}'; the entry's output is saved once`,
            ),
          );
        } else externalData ??= { mode, index: k };
      }
      items.push({
        path: ip,
        options: {
          after: list(it.after).map(String),
          module: module?.name ?? it.module,
          opts,
          ...(it.init !== undefined ? { init: it.init } : {}),
          ...(it.seed !== undefined ? { seed: it.seed } : {}),
          ...(weights.length > 0 ? { weights } : {}),
          ...(it['weights-prefix'] !== undefined ? { weightsPrefix: list(it['weights-prefix']).map(String) } : {}),
          ...(it['bn-eps'] !== undefined ? { bnEps: it['bn-eps'] } : {}),
          ...(it.gate !== undefined ? { gate: it.gate } : {}),
          ...(it.consumers !== undefined ? { consumers: list(it.consumers) } : {}),
        },
      });
    }

    const runtime = (kind: 'validate' | 'compare'): ValidateOptions | CompareOptions | null => {
      const own = e[kind];
      const dflt = raw.defaults?.[kind];
      if (own === false || (own === undefined && dflt === false)) return null;
      const merged: RawRuntime = { ...(dflt || {}), ...(own || {}) };
      const keyAt = (key: keyof RawRuntime): KeyPath => (own && key in own ? [...at, kind, key] : ['defaults', kind, key]);
      let inputs = merged.inputs;
      if (inputs !== undefined && inputs !== 'random' && inputs !== 'zeros') inputs = needFile(keyAt('inputs'), inputs, 'file or folder');
      const tolerance = list(merged.tolerance);
      try {
        parseTolerance(tolerance);
      } catch (err) {
        issues.push(issue(keyAt('tolerance'), (err as Error).message));
      }
      // The schema checks their form; their bounds (0% < precision ≤ 100%, 0 < budget ≤ 24 h) are checked here.
      for (const [key, value, expected] of [
        ['precision', merged.precision, PRECISION_EXPECTED],
        ['budget', merged.budget, BUDGET_EXPECTED],
      ] as const) {
        if (value === undefined) continue;
        const ok = key === 'precision' ? precisionValue(value) : budgetSeconds(value);
        if (ok === null)
          issues.push(issue(keyAt(key), `expected ${expected}, got ${typeof value === 'number' ? `the number ${value}` : `the string '${value}'`}`));
      }
      // Accuracy on labelled images: the dataset is relative to the plan; the other keys and the gates need it.
      const dataset = merged.dataset !== undefined ? needFile(keyAt('dataset'), merged.dataset, 'file or folder') : undefined;
      if (dataset === undefined) {
        for (const key of ['dataset-conf', 'dataset-iou', 'dataset-multi-label', 'class-map', 'min-map', 'max-map-drop'] as const) {
          if (merged[key] !== undefined) issues.push(issue(keyAt(key), `${key} needs dataset: (the labelled images it applies to)`));
        }
      }
      if (merged['class-map'] !== undefined) {
        try {
          parseClassMap(merged['class-map']);
        } catch (err) {
          issues.push(issue(keyAt('class-map'), (err as Error).message));
        }
      }
      const shapes = parseShape(merged.shape, keyAt('shape'), (p, m) => issues.push(issue(p, m)));
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
    };
    const shapes = parseShape(e.shape, [...at, 'shape'], (p, m) => issues.push(issue(p, m)));
    entries.push({
      index: i,
      name,
      input,
      output,
      path: at,
      ...(shapes ? { shapes } : {}),
      items,
      externalData: externalData?.mode ?? 'auto',
      validate: runtime('validate'),
      compare: runtime('compare'),
    });
  }
  // An output may not be any entry's input: apply never overwrites what it reads, and never chains entries.
  const byInput = new Map<string, PlanEntry>();
  for (const e of entries) if (!byInput.has(real(e.input))) byInput.set(real(e.input), e);
  for (const e of entries) {
    const j = byInput.get(real(e.output));
    if (!j) continue;
    const msg =
      j === e
        ? 'the output is the input; choose another output path (apply never overwrites its inputs)'
        : `the output is models[${j.index}]'s input; put both insertions in one entry's insert list instead`;
    issues.push(issue([...e.path, 'output'], msg));
  }
  // Nor the plan, a weights, inputs or dataset file, by the output or by its external data file.
  for (const e of entries) {
    for (const written of [e.output, `${e.output}.data`]) {
      const read = reads.get(real(written));
      if (read === undefined) continue;
      const what = read === 'the plan itself' ? read : `the file ${read} reads`;
      issues.push(
        issue(
          [...e.path, 'output'],
          `${written === e.output ? 'the output' : `its external data file ${written}`} is ${what}; apply never overwrites what it reads, choose another output path`,
        ),
      );
    }
  }
  // Reports over a model are found here, at their line; the plan itself, weights and inputs files (and --report
  // paths) by checkApplyReports, which apply calls next.
  const byOutput = new Map<string, PlanEntry>();
  for (const e of entries) if (!byOutput.has(real(e.output))) byOutput.set(real(e.output), e);
  const reports = (raw.reports ?? []).map((r, n) => {
    const abs = resolve(r);
    nul(['reports', n], r);
    checkInside(['reports', n], r, abs);
    const clash = byInput.get(real(abs)) ?? byOutput.get(real(abs));
    if (clash) issues.push(issue(['reports', n], `${shown(r, abs)} is a model of models[${clash.index}]; choose another report path`));
    return abs;
  });
  if (issues.length > 0) throw new PlanError(file, sortIssues(issues));
  return { file, dir, sha256, entries, reports, issue };
}

/** By line; a problem in `defaults:` found once per entry is reported once. */
function sortIssues(issues: PlanIssue[]): PlanIssue[] {
  const unique = [...new Map(issues.map((x) => [`${x.line}\0${x.path}\0${x.message}`, x])).values()];
  return unique
    .map((x, i) => ({ x, i }))
    .sort((a, b) => a.x.line - b.x.line || a.i - b.i)
    .map(({ x }) => x);
}
