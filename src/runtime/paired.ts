/**
 * Latency overhead you can trust: the median of paired differences with a 95% interval.
 *
 * compare and sweep time the two models alternately (a then b, then b then a, …), so run i of a and run i of b are
 * a pair that shares the machine's state at that moment. The overhead is the median of the differences b − a, and
 * its interval is the distribution-free order-statistics interval for a median: with the n differences sorted,
 * [d(k), d(n+1−k)] covers the true median with probability 1 − 2·P(B ≤ k−1), B ~ Binomial(n, ½), whatever the
 * shape of the noise (it only assumes the pairs are independent). k is the largest rank that keeps that coverage
 * ≥ 95%. With 5 or fewer pairs no such k exists: the interval is then [min, max] with its (lower) coverage, and the
 * overhead is never called significant.
 *
 * An overhead whose interval holds 0 is "within noise": the runs cannot tell it from no overhead at all, and it is
 * not ranked as if they could.
 */
import { UsageError } from '../errors.js';
import { MAX_BUDGET_S, MAX_RUNS } from './limits.js';

export interface MedianInterval {
  median: number;
  lo: number;
  hi: number;
  /** Probability that [lo, hi] holds the true median (≥ 0.95 from 6 pairs on). */
  level: number;
  /** The 1-based ranks of lo and hi among the sorted values. */
  ranks: [number, number];
}

/** log(e^x + e^y) without overflow or underflow. */
function logAddExp(x: number, y: number): number {
  if (x === -Infinity) return y;
  if (y === -Infinity) return x;
  const m = Math.max(x, y);
  return m + Math.log(Math.exp(x - m) + Math.exp(y - m));
}

/**
 * The largest k ≥ 1 with P(B ≤ k−1) ≤ alpha/2 for B ~ Binomial(n, ½), and that tail probability; k = 0 when even
 * P(B = 0) = 2^−n is above alpha/2. Summed in log space, so n up to 100000 pairs (2^−100000) is exact enough.
 */
export function binomialRank(n: number, alpha = 0.05): { k: number; tail: number } {
  const half = Math.log(alpha / 2);
  let logPmf = n * Math.log(0.5); // P(B = 0)
  let logCdf = -Infinity;
  let k = 0;
  let tail = 0;
  for (let j = 0; j < n; j++) {
    const next = logAddExp(logCdf, logPmf); // P(B ≤ j)
    if (next > half) break;
    logCdf = next;
    k = j + 1;
    tail = Math.exp(logCdf);
    logPmf += Math.log((n - j) / (j + 1));
  }
  return { k, tail };
}

/** The sample median (the mean of the two middle values when n is even). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median: no values');
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The median of `values` and its distribution-free 95% (or 1 − alpha) interval from order statistics. */
export function medianInterval(values: readonly number[], alpha = 0.05): MedianInterval {
  const n = values.length;
  if (n === 0) throw new Error('medianInterval: no values');
  const s = [...values].sort((x, y) => x - y);
  const { k, tail } = binomialRank(n, alpha);
  if (k === 0) return { median: median(s), lo: s[0]!, hi: s[n - 1]!, level: 1 - 2 * 0.5 ** n, ranks: [1, n] };
  return { median: median(s), lo: s[k - 1]!, hi: s[n - k]!, level: 1 - 2 * tail, ranks: [k, n + 1 - k] };
}

/** The fewest pairs for which the order-statistics interval reaches 95%. */
export const MIN_PAIRS_FOR_95 = 6;

export interface Overhead {
  /** Median of the paired differences b − a, ms. */
  median: number;
  /** The 95% interval of that median, ms. */
  lo: number;
  hi: number;
  /** The interval holds 0 (or there are too few pairs for a 95% interval): no overhead the runs can tell apart. */
  withinNoise: boolean;
  /** The same three relative to the median of a's runs, in %. */
  medianPct: number;
  loPct: number;
  hiPct: number;
  /** Median of a's runs (the baseline the % are of), ms. */
  baselineMs: number;
  /** Pairs timed, and the interval's actual coverage (≥ 0.95 from 6 pairs). */
  pairs: number;
  level: number;
  /** Why timing stopped: the run count (`--iters`), the `--precision` target, the `--budget`, or the run limit. */
  stoppedBy: 'iters' | 'precision' | 'budget' | 'max-runs';
  /** `--precision` as a %, and whether the interval's half-width reached it; null without `--precision`. */
  precisionPct: number | null;
  precisionReached: boolean | null;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** Half the interval's width as a % of the baseline median: what `--precision` is compared with. */
export function halfWidthPct(a: readonly number[], b: readonly number[]): number {
  const iv = medianInterval(b.map((x, i) => x - a[i]!));
  const base = median(a);
  return base > 0 ? (100 * (iv.hi - iv.lo)) / 2 / base : Infinity;
}

/**
 * The overhead of b over a from paired runs (a[i] and b[i] timed back to back). Times in ms; `stop` says why
 * timing ended and what precision was asked for.
 */
export function pairedOverhead(
  a: readonly number[],
  b: readonly number[],
  stop: { stoppedBy?: Overhead['stoppedBy']; precisionPct?: number | null } = {},
): Overhead {
  if (a.length !== b.length || a.length === 0) throw new Error(`pairedOverhead: ${a.length} and ${b.length} runs; expected the same number, at least one`);
  const iv = medianInterval(b.map((x, i) => x - a[i]!));
  const base = median(a);
  const pct = (x: number) => (base > 0 ? r2((100 * x) / base) : 0);
  const precisionPct = stop.precisionPct ?? null;
  return {
    median: r4(iv.median),
    lo: r4(iv.lo),
    hi: r4(iv.hi),
    withinNoise: a.length < MIN_PAIRS_FOR_95 || (iv.lo <= 0 && iv.hi >= 0),
    medianPct: pct(iv.median),
    loPct: pct(iv.lo),
    hiPct: pct(iv.hi),
    baselineMs: r4(base),
    pairs: a.length,
    level: Number(iv.level.toFixed(6)),
    stoppedBy: stop.stoppedBy ?? 'iters',
    precisionPct,
    precisionReached: precisionPct === null ? null : halfWidthPct(a, b) <= precisionPct,
  };
}

// ----------------------------------------------------------------------------------------------------------------
// --precision and --budget

/** What ends the timing besides `--iters`: a precision target (half-width, % of the baseline) and a time budget. */
export interface TimingTarget {
  /** Run pairs until the interval's half-width is at most this % of the baseline median. */
  precisionPct?: number;
  /** Stop timing once this many seconds have passed (default 60 with a precision target). */
  budgetS?: number;
}

/** The budget a precision target gets when none is given: a noisy machine must not time for ever. */
export const DEFAULT_PRECISION_BUDGET_S = 60;

/**
 * `--precision 2%` (or `2`, a percentage either way; `0.5%` is half a percent) → 2. It must be above 0 and at most
 * 100: a half-width of more than the baseline itself says nothing.
 */
export function parsePrecision(value: string | number, flag = '--precision'): number {
  const n = precisionValue(value);
  if (n === null) throw new UsageError(`${flag} '${String(value).trim()}': expected ${PRECISION_EXPECTED}`);
  return n;
}

export const PRECISION_EXPECTED = 'a percentage > 0 and ≤ 100, e.g. 2%';

/** The percentage `value` stands for, or null when it is not one in (0, 100]. */
export function precisionValue(value: string | number): number | null {
  const m = /^([+]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*%?$/i.exec(String(value).trim());
  const n = m ? Number(m[1]) : NaN;
  return Number.isFinite(n) && n > 0 && n <= 100 ? n : null;
}

const UNITS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, min: 60, h: 3600 };

/** `--budget 60s` (also `500ms`, `2m`, `1h`, or a plain number of seconds) → seconds, above 0 and at most a day. */
export function parseBudget(value: string | number, flag = '--budget'): number {
  const s = budgetSeconds(value);
  if (s === null) throw new UsageError(`${flag} '${String(value).trim()}': expected ${BUDGET_EXPECTED}`);
  return s;
}

export const BUDGET_EXPECTED = `a time > 0 and ≤ ${MAX_BUDGET_S / 3600} h, e.g. 60s, 500ms, 2m`;

/** The seconds `value` stands for, or null when it is not a time in (0, MAX_BUDGET_S]. */
export function budgetSeconds(value: string | number): number | null {
  const m = /^([+]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*(ms|s|min|m|h)?$/i.exec(String(value).trim());
  const s = m ? Number(m[1]) * UNITS[(m[2] ?? 's').toLowerCase()]! : NaN;
  return Number.isFinite(s) && s > 0 && s <= MAX_BUDGET_S ? s : null;
}

/** The library's `precision` and `budget` options, checked as the CLI checks its flags. */
export function timingTarget(options: { precision?: string | number | undefined; budget?: string | number | undefined }): TimingTarget {
  const target: TimingTarget = {};
  if (options.precision !== undefined) target.precisionPct = parsePrecision(options.precision);
  if (options.budget !== undefined) target.budgetS = parseBudget(options.budget);
  else if (target.precisionPct !== undefined) target.budgetS = DEFAULT_PRECISION_BUDGET_S;
  return target;
}

/**
 * When to stop timing pairs, given the pairs so far and the elapsed seconds: at least `iters` pairs (unless the
 * budget ends first; at least one pair always), then, with a precision target, on until the half-width reaches it,
 * or, with a budget alone, on until the budget ends. Never past MAX_RUNS pairs.
 */
export function stopReason(a: readonly number[], b: readonly number[], iters: number, elapsedS: number, target: TimingTarget): Overhead['stoppedBy'] | null {
  const n = a.length;
  if (n === 0) return null;
  if (target.budgetS !== undefined && elapsedS >= target.budgetS) return 'budget';
  if (n >= MAX_RUNS) return 'max-runs';
  if (n < iters) return null;
  if (target.precisionPct !== undefined) {
    // Sorting every pair costs n log n: look again after every tenth more pairs.
    if (n > iters && n % Math.max(1, Math.floor(n / 10)) !== 0) return null;
    return n >= MIN_PAIRS_FOR_95 && halfWidthPct(a, b) <= target.precisionPct ? 'precision' : null;
  }
  if (target.budgetS !== undefined) return null;
  return 'iters';
}
