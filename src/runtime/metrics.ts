/**
 * Numbers for "do these two outputs agree?": element-wise error statistics, allclose-style tolerance checks with
 * named presets, and latency percentiles. Pure functions over typed arrays; nothing here knows about onnxruntime.
 *
 * Everything accumulates in float64 whatever the input type, so a float32 output of 8400×84 values does not lose
 * the small differences we are looking for to rounding in the sums.
 */
import { UsageError } from '../errors.js';

/** The typed arrays an output tensor arrives in. Integer kinds compare by value (bigint → number). */
export type NumericArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | ArrayLike<number> | ArrayLike<bigint>;

export interface TensorComparison {
  /** Largest |a−b|; Infinity when a position is non-finite on one side and differs on the other. */
  maxAbs: number;
  /** Mean |a−b| over all positions (identical non-finite positions count as 0). */
  meanAbs: number;
  /** ‖a−b‖₂ / ‖a‖₂ (a is the denominator); 0 when both are all zeros. */
  relL2: number;
  /** a·b / (‖a‖‖b‖): 1 when both are all zeros, 0 when exactly one is. */
  cosine: number;
  /** NaN/±Infinity counts on each side. */
  nonFiniteA: number;
  nonFiniteB: number;
  count: number;
  /** First position where |a−b| equals maxAbs; -1 for empty tensors. */
  maxAbsIndex: number;
}

/**
 * The smallest normal float64 (numpy's `finfo(float64).tiny`). It only keeps relL2 from dividing by zero, so a
 * zero reference against a non-zero output reads as a huge (usually infinite) error, never as NaN.
 */
const FLOAT64_TINY = 2.2250738585072014e-308;

function assertSameLength(a: NumericArray, b: NumericArray): void {
  if (a.length !== b.length) throw new Error(`cannot compare tensors of ${a.length} and ${b.length} elements`);
}

/** Both non-finite and the same value (NaN with NaN, +Inf with +Inf): treated as agreement, like numpy's equal_nan. */
function sameNonFinite(x: number, y: number): boolean {
  return !Number.isFinite(x) && !Number.isFinite(y) && (x === y || (Number.isNaN(x) && Number.isNaN(y)));
}

/**
 * Error statistics of `b` against `a`. Norms and the dot product cover the positions finite on both sides, so one
 * NaN does not turn the cosine into NaN; a non-finite value that differs still shows, as an infinite maxAbs,
 * meanAbs and relL2.
 *
 * Two passes: the first finds the largest magnitudes, the second sums squares of values divided by them, so
 * the norms neither underflow (1e-300² is 0) nor overflow (1e200² is Infinity), as LAPACK's nrm2 avoids.
 */
export function compareTensors(a: NumericArray, b: NumericArray): TensorComparison {
  assertSameLength(a, b);
  const count = a.length;
  const xs = new Float64Array(count);
  const ys = new Float64Array(count);
  const both = new Uint8Array(count); // 1 where both sides are finite
  let maxAbs = 0;
  let maxAbsIndex = count > 0 ? 0 : -1;
  let sumAbs = 0;
  let scaleA = 0;
  let scaleB = 0;
  let nonFiniteA = 0;
  let nonFiniteB = 0;
  let mismatchedNonFinite = false;
  for (let i = 0; i < count; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    xs[i] = x;
    ys[i] = y;
    const finiteX = Number.isFinite(x);
    const finiteY = Number.isFinite(y);
    if (!finiteX) nonFiniteA++;
    if (!finiteY) nonFiniteB++;
    if (finiteX && finiteY) {
      both[i] = 1;
      const d = Math.abs(x - y);
      sumAbs += d;
      scaleA = Math.max(scaleA, Math.abs(x));
      scaleB = Math.max(scaleB, Math.abs(y));
      if (d > maxAbs) {
        maxAbs = d;
        maxAbsIndex = i;
      }
    } else if (!sameNonFinite(x, y)) {
      if (!mismatchedNonFinite) maxAbsIndex = i;
      mismatchedNonFinite = true;
    }
  }
  // Sums of squares of the scaled values; a zero scale means that side is all zeros and its sums stay 0.
  let diff2 = 0;
  let normA2 = 0;
  let normB2 = 0;
  let dot = 0;
  for (let i = 0; i < count; i++) {
    if (!both[i]) continue;
    const x = scaleA > 0 ? xs[i]! / scaleA : 0;
    const y = scaleB > 0 ? ys[i]! / scaleB : 0;
    const d = maxAbs > 0 ? (xs[i]! - ys[i]!) / maxAbs : 0;
    diff2 += d * d;
    normA2 += x * x;
    normB2 += y * y;
    dot += x * y;
  }
  const normA = scaleA * Math.sqrt(normA2);
  let relL2: number;
  let cosine: number;
  if (scaleA === 0 && scaleB === 0) {
    relL2 = 0;
    cosine = 1;
  } else {
    relL2 = (maxAbs * Math.sqrt(diff2)) / Math.max(normA, FLOAT64_TINY);
    // sqrt(n·n) is exactly n in IEEE arithmetic, so identical inputs give a cosine of exactly 1; the clamp
    // catches the last-bit excursions past ±1 of nearly parallel ones.
    cosine = scaleA === 0 || scaleB === 0 ? 0 : Math.min(1, Math.max(-1, dot / Math.sqrt(normA2 * normB2)));
  }
  if (mismatchedNonFinite) {
    return { maxAbs: Infinity, meanAbs: Infinity, relL2: Infinity, cosine, nonFiniteA, nonFiniteB, count, maxAbsIndex };
  }
  return { maxAbs, meanAbs: count > 0 ? sumAbs / count : 0, relL2, cosine, nonFiniteA, nonFiniteB, count, maxAbsIndex };
}

// ----------------------------------------------------------------------------------------------------------------
// Tolerances

export type Tolerance = { name: string; atol: number; rtol: number };

/**
 * Named tolerances, loosest last. `exact` is for changes that must not move a bit (a gate-zero patch). `fp32` allows
 * the reassociation noise of a different kernel or thread count. `tf32` covers GPU matmuls with 10-bit mantissas
 * (TensorFloat-32, the default on Ampere and later). `fp16` covers half-precision execution: fp16 has an 11-bit
 * significand (ulp ≈ 1e-3 near 1), and errors add up over a deep network, so 1e-2 on both terms is where
 * a healthy fp16 engine of a detector usually lands.
 */
export const TOLERANCES: Readonly<Record<'exact' | 'fp32' | 'tf32' | 'fp16', Readonly<Tolerance>>> = Object.freeze({
  exact: Object.freeze({ name: 'exact', atol: 0, rtol: 0 }),
  fp32: Object.freeze({ name: 'fp32', atol: 1e-5, rtol: 1e-4 }),
  tf32: Object.freeze({ name: 'tf32', atol: 1e-3, rtol: 1e-3 }),
  fp16: Object.freeze({ name: 'fp16', atol: 1e-2, rtol: 1e-2 }),
});

const VALID_FORMS = 'valid forms: exact | fp32 | tf32 | fp16 | atol=N,rtol=N (either alone) | OUTPUT:<any of these>';

function badSpec(spec: string, why: string): UsageError {
  return new UsageError(`bad tolerance '${spec}': ${why}; ${VALID_FORMS}`);
}

/** `fp16` or `atol=1e-3,rtol=1e-2` (no output prefix) → a Tolerance; `spec` is the whole text, for messages. */
function parseToleranceBody(body: string, spec: string): Tolerance {
  if (Object.hasOwn(TOLERANCES, body)) return { ...TOLERANCES[body as keyof typeof TOLERANCES] };
  if (!body.includes('=')) throw badSpec(spec, body === '' ? 'empty tolerance' : `unknown preset '${body}'`);
  const values: { atol?: number; rtol?: number } = {};
  for (const part of body.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const text = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (key !== 'atol' && key !== 'rtol') throw badSpec(spec, `unknown key '${part}'`);
    if (values[key] !== undefined) throw badSpec(spec, `'${key}' given twice`);
    const value = text === '' ? NaN : Number(text);
    // Number('') is 0 and Number('0x10') is 16: insist on something that reads as a plain decimal number.
    if (!/^[+]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) || !Number.isFinite(value) || value < 0) {
      throw badSpec(spec, `'${part}' is not a finite non-negative number`);
    }
    values[key] = value;
  }
  const atol = values.atol ?? 0;
  const rtol = values.rtol ?? 0;
  return { name: `atol=${atol},rtol=${rtol}`, atol, rtol };
}

/**
 * Parses the repeated `--tolerance` flag. Global specs (`fp16`, `atol=…,rtol=…`) set the default; `OUTPUT:spec`
 * sets one output and beats any global spec, whatever the order; among specs of the same kind the later wins.
 * The split is at the last `:`, so output names with colons (TensorFlow's `name:0`) still work.
 * Errors are thrown here, at parse time, so a typo fails before any model runs.
 *
 * @param fallback the tolerance when no spec applies (fp32: the runs being compared are float32 models).
 * @returns the tolerance of each output, and (`outputs`) the output names the specs named, for the caller to check
 *   against the model once it is loaded.
 */
export function parseTolerance(spec: readonly string[], fallback: Tolerance = TOLERANCES.fp32): ToleranceOf {
  let global: Tolerance = { ...fallback };
  const perOutput = new Map<string, Tolerance>();
  for (const raw of spec) {
    const text = raw.trim();
    const colon = text.lastIndexOf(':');
    if (colon < 0) {
      global = parseToleranceBody(text, raw);
      continue;
    }
    const output = text.slice(0, colon).trim();
    if (output === '') throw badSpec(raw, "empty output name before ':'");
    perOutput.set(output, parseToleranceBody(text.slice(colon + 1).trim(), raw));
  }
  return Object.assign((outputName: string) => ({ ...(perOutput.get(outputName) ?? global) }), { outputs: [...perOutput.keys()] });
}

/** The tolerance of each output by name, plus the names that `OUTPUT:spec` flags gave. */
export type ToleranceOf = ((outputName: string) => Tolerance) & { readonly outputs: readonly string[] };

export interface ToleranceResult {
  pass: boolean;
  /** Positions outside the tolerance. */
  violations: number;
  /** The position that exceeds its allowance by the most; -1 when none does. */
  worstIndex: number;
}

/**
 * numpy `allclose(a, b, rtol, atol, equal_nan=True)`: every |a−b| ≤ atol + rtol·|b|, with `b` the reference (the
 * test is asymmetric on purpose, as in numpy). Identical non-finite values agree; any other non-finite position is
 * a violation, and the worst one.
 */
export function withinTolerance(a: NumericArray, b: NumericArray, tol: Tolerance): ToleranceResult {
  assertSameLength(a, b);
  let violations = 0;
  let worstIndex = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    let excess: number;
    if (Number.isFinite(x) && Number.isFinite(y)) {
      excess = Math.abs(x - y) - (tol.atol + tol.rtol * Math.abs(y));
      if (excess <= 0) continue;
    } else if (sameNonFinite(x, y)) {
      continue;
    } else {
      excess = Infinity;
    }
    violations++;
    if (excess > worstExcess) {
      worstExcess = excess;
      worstIndex = i;
    }
  }
  return { pass: violations === 0, violations, worstIndex };
}

// ----------------------------------------------------------------------------------------------------------------
// Latency

export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
  n: number;
}

/** Four decimals: a tenth of a microsecond, finer than any timer we read, and stable in JSON and goldens. */
function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/**
 * numpy's default ('linear') percentile of sorted values: the rank p/100·(n−1) interpolated between its
 * neighbours, using numpy's two-sided lerp so results match it to the last bit before rounding.
 */
function percentile(sorted: readonly number[], p: number): number {
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const t = rank - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  const d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/** Summary of per-run latencies in milliseconds, every number rounded to 4 decimals. */
export function latencyStats(ms: readonly number[]): LatencyStats {
  if (ms.length === 0) throw new Error('latencyStats: no timings');
  if (!ms.every(Number.isFinite)) throw new Error('latencyStats: timings must be finite numbers');
  const sorted = [...ms].sort((x, y) => x - y);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return {
    p50: round4(percentile(sorted, 50)),
    p90: round4(percentile(sorted, 90)),
    p99: round4(percentile(sorted, 99)),
    mean: round4(mean),
    min: round4(sorted[0]!),
    max: round4(sorted[sorted.length - 1]!),
    n: sorted.length,
  };
}
