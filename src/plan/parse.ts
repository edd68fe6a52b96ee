import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { isMap, isPair, isScalar, isSeq, Lexer, LineCounter, parseDocument, Parser, visit, type CST, type Document } from 'yaml';
import { effects } from '../effects.js';
import { isOnnxAttnError, PlanError, UsageError, type PlanIssue } from '../errors.js';
import { MAX_INSERT_ITEMS, MAX_NESTING_DEPTH, MAX_PLAN_ALIAS_COUNT, MAX_PLAN_BYTES, MAX_PLAN_ENTRIES, MAX_PLAN_REPORTS, mib } from '../limits.js';
import type { ExternalDataMode } from '../onnx/save.js';
import { jsonSyntaxError } from './json.js';
import { checkSchema } from './schema.js';

/**
 * A plan file's bytes to a schema-checked document whose key paths know their lines: YAML or JSON parsed by `yaml`
 * with its line counter, guarded by the size, nesting, alias and count limits before anything costs per node, then
 * checked against schema/plan.schema.json. Each problem is a PlanError at its line.
 */

export type KeyPath = (string | number)[];

/** `models[0].insert[1].opts["a.b"]` */
export function formatPath(p: KeyPath): string {
  return p.reduce<string>((s, seg) => {
    if (typeof seg === 'number') return `${s}[${seg}]`;
    if (/^[A-Za-z_][\w-]*$/.test(seg)) return s ? `${s}.${seg}` : seg;
    return `${s}[${JSON.stringify(seg)}]`;
  }, '');
}

/** The issue for a message about the value at a key path (about the key itself with `atKey`), at its line. */
export type IssueAt = (at: KeyPath, message: string, atKey?: boolean) => PlanIssue;

// The document as the schema has checked it (key names are the plan's, which are the CLI's flags).
type Scalar = string | number;
export interface RawRuntime {
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
export interface RawItem {
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
export interface RawEntry {
  name?: string;
  input: string;
  output: string;
  shape?: RawRuntime['shape'];
  insert: RawItem[];
  validate?: RawRuntime | false;
  compare?: RawRuntime | false;
}
export interface RawPlan {
  version: 1;
  defaults?: { validate?: RawRuntime | false; compare?: RawRuntime | false };
  models: RawEntry[];
  reports?: string[];
}

export interface ParsedPlan {
  /** The plan path as given (what error messages name). */
  file: string;
  /** The plan's folder (absolute): its paths are relative to it. */
  dir: string;
  /** sha256 of the plan file's bytes: goes into every output's provenance. */
  sha256: string;
  plan: RawPlan;
  issue: IssueAt;
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

/** By line; a problem in `defaults:` found once per entry is reported once. */
export function sortIssues(issues: PlanIssue[]): PlanIssue[] {
  const unique = [...new Map(issues.map((x) => [`${x.line}\0${x.path}\0${x.message}`, x])).values()];
  return unique
    .map((x, i) => ({ x, i }))
    .sort((a, b) => a.x.line - b.x.line || a.i - b.i)
    .map(({ x }) => x);
}

/** The plan file's bytes: a regular file within the size limit. */
function readPlanBytes(file: string): Buffer {
  try {
    const stat = effects.fs.statSync(file);
    if (stat.isDirectory()) throw new UsageError(`${file} is a folder; expected a plan file (.yaml, .yml or .json)`);
    // A FIFO or a device would block the read or never end.
    if (!stat.isFile()) throw new UsageError(`${file} is not a regular file; expected a plan file (.yaml, .yml or .json)`);
    if (stat.size > MAX_PLAN_BYTES)
      throw new PlanError(file, [
        { line: 1, path: '', message: `the plan is ${stat.size} bytes, over the ${mib(MAX_PLAN_BYTES)} limit for a plan file; split it` },
      ]);
    return effects.fs.readFileSync(file);
  } catch (e) {
    if (isOnnxAttnError(e)) throw e;
    throw new UsageError(`${file}: no such plan file; check the path (onnx-attn apply --schema prints the format)`);
  }
}

/** Reads a plan file and checks it against the schema. Throws PlanError (exit 2) at the first stage that finds problems. */
export function parsePlan(file: string): ParsedPlan {
  const bytes = readPlanBytes(file);
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
  const issue: IssueAt = (at, message, atKey = false) => ({ line: lineOf(doc, lc, at, atKey), path: formatPath(at), message });
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
  // Counts first: the schema validator and the checks after it cost per entry.
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
  return { file, dir, sha256, plan: data as RawPlan, issue };
}
