import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binomialRank, halfWidthPct, median, medianInterval, pairedOverhead, parseBudget, parsePrecision, stopReason, timingTarget } from './paired.js';

/** The order-statistics interval of the median against values computed by hand from the binomial distribution. */

test('binomialRank: the largest k with P(B ≤ k−1) ≤ 2.5%, B ~ Binomial(n, ½), and that tail', () => {
  // n = 5: P(B = 0) = 1/32 > 0.025, so no rank gives 95%.
  assert.deepEqual(binomialRank(5), { k: 0, tail: 0 });
  // n = 6: P(B = 0) = 1/64 ≤ 0.025 < P(B ≤ 1) = 7/64.
  assert.equal(binomialRank(6).k, 1);
  assert.ok(Math.abs(binomialRank(6).tail - 1 / 64) < 1e-15);
  // n = 10: P(B ≤ 1) = 11/1024 ≤ 0.025 < P(B ≤ 2) = 56/1024.
  assert.equal(binomialRank(10).k, 2);
  assert.ok(Math.abs(binomialRank(10).tail - 11 / 1024) < 1e-15);
  // n = 20: P(B ≤ 5) = (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20 = 21700/1048576; P(B ≤ 6) = 60460/1048576.
  assert.equal(binomialRank(20).k, 6);
  assert.ok(Math.abs(binomialRank(20).tail - 21700 / 1048576) < 1e-15);
  // n = 100: the textbook ranks 40 and 61 (P(B ≤ 39) = 0.0176, P(B ≤ 40) = 0.0284).
  assert.equal(binomialRank(100).k, 40);
  assert.ok(Math.abs(binomialRank(100).tail - 0.0176001001) < 1e-10);
  // The run limit: summed in log space, 2^−100000 does not underflow the answer to nonsense.
  const big = binomialRank(100000).k;
  assert.ok(big > 49650 && big < 49720, String(big)); // the normal approximation: n/2 − 1.96·√n/2 ≈ 49690
});

test('medianInterval: median, ranks k and n+1−k of the sorted values, and the coverage', () => {
  const d = [5, -1, 3, 0, 2, 8, -4, 1, 6, 7]; // sorted: -4 -1 0 1 2 3 5 6 7 8
  assert.deepEqual(medianInterval(d), { median: 2.5, lo: -1, hi: 7, level: 1 - 22 / 1024, ranks: [2, 9] });
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  // Too few values for 95%: the whole range, with the coverage it has (1 − 2/32).
  assert.deepEqual(medianInterval([4, 1, 3, 2, 5]), { median: 3, lo: 1, hi: 5, level: 0.9375, ranks: [1, 5] });
  const twenty = Array.from({ length: 20 }, (_, i) => 20 - i); // 20 .. 1
  assert.deepEqual([medianInterval(twenty).lo, medianInterval(twenty).hi, medianInterval(twenty).median], [6, 15, 10.5]);
});

test('pairedOverhead: the median of b − a with its interval, in ms and % of a; within noise when it holds 0', () => {
  const a = Array(10).fill(10);
  const b = a.map((x, i) => x + i + 1); // differences 1..10
  const o = pairedOverhead(a, b);
  assert.deepEqual([o.median, o.lo, o.hi, o.withinNoise], [5.5, 2, 9, false]);
  assert.deepEqual([o.medianPct, o.loPct, o.hiPct, o.baselineMs, o.pairs], [55, 20, 90, 10, 10]);
  assert.equal(o.level, Number((1 - 22 / 1024).toFixed(6)));
  assert.deepEqual([o.stoppedBy, o.precisionPct, o.precisionReached], ['iters', null, null]);
  // The same machine drift on both sides of each pair cancels: a drifting 10 → 19 ms, b 0.5 ms slower or faster.
  const drift = Array.from({ length: 10 }, (_, i) => 10 + i);
  const noisy = pairedOverhead(
    drift,
    drift.map((x, i) => x + (i % 2 === 0 ? 0.5 : -0.5)),
  );
  assert.deepEqual([noisy.median, noisy.lo, noisy.hi, noisy.withinNoise], [0, -0.5, 0.5, true]);
  // Five pairs all slower: still within noise (no 95% interval exists).
  const few = pairedOverhead([1, 1, 1, 1, 1], [2, 2, 2, 2, 2]);
  assert.deepEqual([few.median, few.withinNoise, few.level], [1, true, 0.9375]);
  // Precision: half-width (9 − 2)/2 = 3.5 ms = 35% of 10 ms.
  assert.equal(halfWidthPct(a, b), 35);
  assert.equal(pairedOverhead(a, b, { stoppedBy: 'budget', precisionPct: 40 }).precisionReached, true);
  assert.equal(pairedOverhead(a, b, { stoppedBy: 'budget', precisionPct: 30 }).precisionReached, false);
  assert.throws(() => pairedOverhead([1, 2], [1]), /2 and 1 runs/);
});

test('stopReason: iters, then the precision target or the budget; at least one pair; never past the run limit', () => {
  const ten = Array(10).fill(10);
  const slower = ten.map((x, i) => x + i + 1); // half-width 35%
  assert.equal(stopReason([], [], 5, 0, {}), null);
  assert.equal(stopReason(ten.slice(0, 4), slower.slice(0, 4), 5, 0, {}), null);
  assert.equal(stopReason(ten, slower, 10, 0, {}), 'iters');
  assert.equal(stopReason(ten, slower, 10, 0, { precisionPct: 40, budgetS: 60 }), 'precision');
  assert.equal(stopReason(ten, slower, 10, 0, { precisionPct: 30, budgetS: 60 }), null);
  assert.equal(stopReason(ten, slower, 10, 61, { precisionPct: 30, budgetS: 60 }), 'budget');
  // A budget alone times on until it ends; it also ends timing before `iters`.
  assert.equal(stopReason(ten, slower, 10, 1, { budgetS: 60 }), null);
  assert.equal(stopReason(ten.slice(0, 1), slower.slice(0, 1), 10, 61, { budgetS: 60 }), 'budget');
  // Identical runs reach any precision once 6 pairs give a 95% interval.
  assert.equal(stopReason(ten.slice(0, 5), ten.slice(0, 5), 1, 0, { precisionPct: 1, budgetS: 60 }), null);
  assert.equal(stopReason(ten.slice(0, 6), ten.slice(0, 6), 1, 0, { precisionPct: 1, budgetS: 60 }), 'precision');
});

test('--precision and --budget: forms, bounds, and the default budget of a precision target', () => {
  assert.equal(parsePrecision('2%'), 2);
  assert.equal(parsePrecision('0.5'), 0.5);
  assert.equal(parsePrecision(' 100 % '), 100);
  for (const bad of ['0%', '101%', '-2%', 'abc', '', '2%%', '1e400'])
    assert.throws(() => parsePrecision(bad), /--precision '.*': expected a percentage > 0 and ≤ 100, e.g. 2%/, bad);
  assert.equal(parseBudget('60s'), 60);
  assert.equal(parseBudget('500ms'), 0.5);
  assert.equal(parseBudget('2m'), 120);
  assert.equal(parseBudget('1.5min'), 90);
  assert.equal(parseBudget('1h'), 3600);
  assert.equal(parseBudget(90), 90);
  for (const bad of ['0s', '2d', '25h', '-1s', 's', ''])
    assert.throws(() => parseBudget(bad), /--budget '.*': expected a time > 0 and ≤ 24 h, e.g. 60s, 500ms, 2m/, bad);
  assert.deepEqual(timingTarget({}), {});
  assert.deepEqual(timingTarget({ precision: '2%' }), { precisionPct: 2, budgetS: 60 });
  assert.deepEqual(timingTarget({ precision: 1, budget: '10s' }), { precisionPct: 1, budgetS: 10 });
  assert.deepEqual(timingTarget({ budget: '5s' }), { budgetS: 5 });
});

test('the interval is distribution-free: on skewed noise with median 0 it holds 0 as often as the binomial says', () => {
  // mulberry32, seeded: the same draws on every run.
  let seed = 18;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Exponential noise shifted by ln 2 has median 0 and a long right tail (what a busy machine gives a run time).
  const draw = () => -Math.log(1 - random()) - Math.LN2;
  const trials = 4000;
  let held = 0;
  for (let t = 0; t < trials; t++) {
    const iv = medianInterval(Array.from({ length: 20 }, draw));
    if (iv.lo <= 0 && iv.hi >= 0) held++;
  }
  // Exact coverage for 20 pairs: 1 − 2·21700/2^20 = 0.9586; the binomial standard error of 4000 trials is 0.0032.
  const coverage = held / trials;
  assert.ok(Math.abs(coverage - (1 - 43400 / 1048576)) < 4 * 0.0032, `coverage ${coverage}`);
});
