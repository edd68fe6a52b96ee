import { effects } from '../effects.js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { editDistance } from '../nearest.js';
import { packageFile } from '../package-files.js';

/**
 * The plan's JSON Schema (schema/plan.schema.json, published with the package and printed by `apply --schema`)
 * and its validator. Errors come back as key paths and plain-language expectations, ready for "file:line: path:".
 */

const SCHEMA_URL = packageFile('schema/plan.schema.json');

let cached: { schema: Record<string, unknown>; validate: ValidateFunction } | null = null;

function load() {
  if (!cached) {
    const schema = JSON.parse(effects.fs.readFileSync(SCHEMA_URL, 'utf8')) as Record<string, unknown>;
    // allErrors: report every problem, not the first; verbose: the failing schema, for the expectation text.
    const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, verbose: true });
    // `x-expected`: our annotation, the expectation an error message states.
    ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
    // `x-sizes`: a string of sizes (1x3x640x640); a zero among them is told as the CLI tells it (dim k is 0).
    ajv.addKeyword({ keyword: 'x-sizes', schemaType: 'boolean' });
    // `x-misplaced`: keys that belong elsewhere, with the hint to give instead of "unknown key".
    ajv.addKeyword({ keyword: 'x-misplaced', schemaType: 'object' });
    // `x-conflicts`: keys refused together (weights with init or seed); told at the other key, with its value.
    ajv.addKeyword({ keyword: 'x-conflicts', schemaType: 'object' });
    cached = { schema, validate: ajv.compile(schema) };
  }
  return cached;
}

/** The plan's JSON Schema (draft-07), as published in schema/plan.schema.json. */
export function planSchema(): Record<string, unknown> {
  return structuredClone(load().schema);
}

/** One schema violation: where (segments of the key path), and what was expected. */
export interface SchemaIssue {
  path: (string | number)[];
  /** Point at the key itself (an unknown key) rather than its value. */
  atKey: boolean;
  message: string;
}

const article = (t: string) =>
  ({ object: 'an object', array: 'a list', string: 'a string', integer: 'a whole number', number: 'a number', boolean: 'true or false', null: 'null' })[t] ?? t;

/** `≥ 1`, `≤ 100000`, `> 0`, in the CLI's words (`--iters '0': expected a whole number ≥ 1`). */
const SYMBOL: Record<string, string> = { '>=': '≥', '<=': '≤', '>': '>', '<': '<' };

/**
 * What a number's schema expects, as the CLI says it: `a whole number ≥ 1` (its lower bound, as for a value that
 * is not a number at all), or the bound a value broke (`a whole number ≤ 100000`).
 */
function numberExpectation(parent: Record<string, unknown>, broken?: { comparison: string; limit: number }): string {
  const kind = parent['type'] === 'integer' ? 'a whole number' : 'a number';
  if (broken) return `${kind} ${SYMBOL[broken.comparison] ?? broken.comparison} ${broken.limit}`;
  if (typeof parent['exclusiveMinimum'] === 'number') return `${kind} > ${parent['exclusiveMinimum']}`;
  // A lower bound of -2^53 + 1 only keeps seeds safe integers: no one needs to read it.
  if (typeof parent['minimum'] === 'number' && Number.isSafeInteger(parent['minimum']) && parent['minimum'] > Number.MIN_SAFE_INTEGER)
    return `${kind} ≥ ${parent['minimum']}`;
  return kind;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string '${v}'`;
  if (typeof v === 'boolean') return String(v);
  return 'an object';
}

function pointer(p: string): (string | number)[] {
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(e: ErrorObject): SchemaIssue {
  const path = pointer(e.instancePath);
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const expected = typeof parent['x-expected'] === 'string' ? parent['x-expected'] : null;
  const got = typeName(e.data);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const hint = (parent['x-misplaced'] as Record<string, string> | undefined)?.[key];
      if (hint) return { path: [...path, key], atKey: true, message: hint };
      const props = Object.keys((parent['properties'] as Record<string, unknown> | undefined) ?? {});
      return { path: [...path, key], atKey: true, message: `unknown key '${key}'; expected one of ${props.join(', ')}` };
    }
    case 'required': {
      const key = (e.params as { missingProperty: string }).missingProperty;
      return { path, atKey: false, message: `missing required key '${key}'` };
    }
    case 'type': {
      const types = ([] as string[]).concat((e.params as { type: string | string[] }).type);
      const numeric = types.length === 1 && (types[0] === 'integer' || types[0] === 'number');
      return { path, atKey: false, message: `expected ${expected ?? (numeric ? numberExpectation(parent) : types.map(article).join(' or '))}, got ${got}` };
    }
    case 'enum':
      return { path, atKey: false, message: `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}; got ${got}` };
    case 'const':
      return { path, atKey: false, message: `expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, got ${got}` };
    case 'not': {
      const conflict = parent['x-conflicts'] as { key: string; with: string[]; because: string } | undefined;
      const data = (e.data ?? {}) as Record<string, unknown>;
      const other = conflict?.with.find((k) => k in data);
      if (conflict && other) {
        const value = typeof data[other] === 'object' ? JSON.stringify(data[other]) : String(data[other]);
        return {
          path: [...path, other],
          atKey: false,
          message: `${conflict.key} and ${other} ${value} contradict each other (${other} ${conflict.because}); keep one`,
        };
      }
      return { path, atKey: false, message: `expected ${expected ?? 'another value'}, got ${got}` };
    }
    case 'minItems':
      return { path, atKey: false, message: `expected at least ${(e.params as { limit: number }).limit} item(s), got an empty list` };
    case 'minLength':
      return { path, atKey: false, message: `expected ${expected ?? 'a non-empty string'}, got an empty string` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const { comparison, limit } = e.params as { comparison: string; limit: number };
      return { path, atKey: false, message: `expected ${numberExpectation(parent, { comparison, limit })}, got ${got}` };
    }
    case 'pattern': {
      // Sizes that are all digits fail their pattern only by a zero: say which, as `--shape` does.
      const sizes = parent['x-sizes'] === true && typeof e.data === 'string' ? /^(?:[^=]+=)?(\d+(?:x\d+)*)$/.exec(e.data) : null;
      if (sizes) {
        const dims = sizes[1]!.split('x');
        const bad = dims.findIndex((d) => !(Number(d) >= 1));
        if (bad >= 0) return { path, atKey: false, message: `dim ${bad} of '${String(e.data)}' is ${dims[bad]}; every size must be a whole number ≥ 1` };
      }
      return { path, atKey: false, message: `expected ${expected ?? `a string matching ${(e.params as { pattern: string }).pattern}`}, got ${got}` };
    }
    default:
      return { path, atKey: false, message: e.message ?? e.keyword };
  }
}

/**
 * Validates parsed plan data; returns one issue per failing location (the first one ajv reports there). A
 * misspelt key is one problem, not two: `modul:` is reported as unknown (did you mean 'module'?), and the
 * missing `module` it stands for is not reported separately.
 */
export function checkSchema(data: unknown): SchemaIssue[] {
  const { validate } = load();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  const unknownKeys = errors.filter((e) => e.keyword === 'additionalProperties');
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const issue = describe(e);
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      if (
        unknownKeys.some(
          (u) => u.instancePath === e.instancePath && editDistance((u.params as { additionalProperty: string }).additionalProperty, missing) <= 2,
        )
      )
        continue;
    }
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const props = Object.keys(((e.parentSchema ?? {}) as { properties?: Record<string, unknown> }).properties ?? {});
      const near = props.filter((p) => editDistance(p, key) <= 2).sort((a, b) => editDistance(a, key) - editDistance(b, key))[0];
      if (near) issue.message = issue.message.replace(/;/, ` (did you mean '${near}'?);`);
    }
    const key = JSON.stringify(issue.path);
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}
