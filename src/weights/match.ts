import { BuildError } from '../errors.js';
import type { ParamSpec } from '../modules/types.js';
import { editDistance, nearestFirst } from '../nearest.js';
import { cut, fmtShape, listKeys } from './messages.js';
import { numel, type NamedTensor } from './tensor.js';

/**
 * Matching a read state_dict to a module's `ParamSpec`s: every key present, every shape equal, every value finite,
 * and no key the module does not use (someone else's module's file). Each failure is a one-line `BuildError`
 * (exit 4) naming the file, with the file's keys nearest first where a key is missing.
 */

export interface ResolveOptions {
  /** Key prefix of this insertion point in a multi-point file: `0.`, `1.`, ... (default none). */
  prefix?: string;
  /** Module name for messages, e.g. `NAM`. */
  module?: string;
  /** Context for shape messages, e.g. `C=64`, appended as ` (C=64)`. */
  context?: string;
}

/** A point prefix (`0.`, `12.`): no reference state_dict key starts with a digit. */
const POINT_PREFIX = /^(\d+)\./;

/** The point indices a multi-point file's keys carry (`0.`, `1.`, ...), sorted; empty for a single-point file. */
export function pointPrefixes(tensors: ReadonlyMap<string, unknown>): number[] {
  const found = new Set<number>();
  for (const key of tensors.keys()) {
    const m = POINT_PREFIX.exec(key);
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/** `a, b, c` nearest to `target` first, at most `limit` of them. */
function nearestList(target: string, keys: readonly string[], limit = 8): string {
  if (keys.length === 0) return '(none)';
  // Each distance once; keys far longer than any state_dict key are not worth an O(|a|·|b|) comparison.
  const sorted = nearestFirst(target, keys, (t, k) => (k.length > 256 ? Infinity : editDistance(t, k)));
  const shown = sorted
    .slice(0, limit)
    .map((k) => cut(k))
    .join(', ');
  return keys.length > limit ? `${shown}, ... (${keys.length - limit} more)` : shown;
}

function toFloat32(t: NamedTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  return Float32Array.from(t.data);
}

/**
 * Picks each param's tensor from a read file (`prefix` + key) and converts it to float32.
 * `num_batches_tracked` (init `count`) is optional and never returned.
 *
 * Raises: BuildError when a key is missing (naming the key and the file's keys, nearest first), a shape differs
 * (`w.safetensors: Channel_Att.bn2.weight has shape [32], expected [64] (C=64)`), a value is not finite, or the file
 * holds keys the module does not use (keys of other points, `<k>.`, are allowed when `prefix` is given).
 */
export function resolveWeights(
  params: readonly ParamSpec[],
  file: string,
  tensors: ReadonlyMap<string, NamedTensor>,
  options: ResolveOptions = {},
): Map<string, Float32Array> {
  const prefix = options.prefix ?? '';
  const context = options.context ? ` (${options.context})` : '';
  const fileKeys = [...tensors.keys()];
  const wanted = new Set(params.map((p) => prefix + p.key));

  const missing = params.filter((p) => p.init.kind !== 'count' && !tensors.has(prefix + p.key)).map((p) => prefix + p.key);
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more missing: ${listKeys(missing.slice(1), 4)})` : '';
    throw new BuildError(
      `${file}: no tensor ${missing[0]}${more}${options.module ? ` for ${options.module}` : ''}; the file has: ${nearestList(missing[0]!, fileKeys)}`,
    );
  }

  const out = new Map<string, Float32Array>();
  for (const p of params) {
    const key = prefix + p.key;
    const t = tensors.get(key);
    if (!t) continue; // an absent num_batches_tracked
    if (p.init.kind === 'count') {
      if (numel(t.shape) !== 1) throw new BuildError(`${file}: ${key} has shape ${fmtShape(t.shape)}, expected [] (a counter)`);
      continue;
    }
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new BuildError(`${file}: ${key} has shape ${fmtShape(t.shape)}, expected ${fmtShape(p.shape)}${context}`);
    }
    const values = toFloat32(t);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new BuildError(`${file}: ${key} holds ${values[bad]} at flat index ${bad}; weights must be finite`);
    const negative = key.endsWith('running_var') ? values.findIndex((v) => v < 0) : -1;
    if (negative >= 0) throw new BuildError(`${file}: ${key} holds ${values[negative]} at flat index ${negative}; a variance cannot be negative`);
    out.set(p.key, values);
  }

  const extra = fileKeys.filter((k) => {
    if (wanted.has(k)) return false;
    if (prefix !== '') {
      const m = POINT_PREFIX.exec(k);
      if (m && `${m[1]}.` !== prefix) return false; // another point's key
    }
    return true;
  });
  if (extra.length > 0) {
    throw new BuildError(
      `${file}: ${extra.length} key(s) the ${options.module ?? 'module'}${prefix ? ` at point ${prefix.slice(0, -1)}` : ''} does not use: ${listKeys(extra)} (another module's or variant's weights?); expected: ${listKeys([...wanted])}`,
    );
  }
  return out;
}
