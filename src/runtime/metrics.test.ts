import assert from 'node:assert/strict';
import { suite, test } from 'node:test';
import { isOnnxAttnError, UsageError } from '../errors.js';
import { compareTensors, latencyStats, parseTolerance, TOLERANCES, withinTolerance } from './metrics.js';

suite('compareTensors', () => {
  test('orthogonal vectors: cosine 0, relL2 √2', () => {
    const r = compareTensors(new Float32Array([1, 0]), new Float32Array([0, 1]));
    assert.deepEqual(r, {
      maxAbs: 1,
      meanAbs: 1,
      relL2: Math.SQRT2,
      cosine: 0,
      nonFiniteA: 0,
      nonFiniteB: 0,
      count: 2,
      maxAbsIndex: 0,
    });
  });

  test('[3,4] against zeros: relL2 is ‖a−b‖/‖a‖ = 5/5', () => {
    const r = compareTensors(new Float64Array([3, 4]), new Float64Array([0, 0]));
    assert.equal(r.relL2, 1);
    assert.equal(r.cosine, 0);
    assert.equal(r.maxAbs, 4);
    assert.equal(r.maxAbsIndex, 1);
    assert.equal(r.meanAbs, 3.5);
  });

  test('a zero first argument divides by the tiny guard, not by zero', () => {
    const r = compareTensors(new Float64Array([0, 0]), new Float64Array([3, 4]));
    assert.equal(r.relL2, Infinity); // 5 / 2.2e-308 overflows; never NaN
    assert.equal(r.cosine, 0);
    const small = compareTensors(new Float64Array([0]), new Float64Array([1e-300]));
    assert.equal(small.relL2, 1e-300 / 2.2250738585072014e-308);
  });

  test('norms neither underflow nor overflow', () => {
    const big = compareTensors(new Float64Array([1e200, 1e200]), new Float64Array([1e200, 0]));
    assert.ok(Math.abs(big.relL2 - Math.SQRT1_2) < 1e-15, String(big.relL2));
    assert.ok(Math.abs(big.cosine - Math.SQRT1_2) < 1e-15, String(big.cosine));
    const tiny = compareTensors(new Float64Array([3e-200, 4e-200]), new Float64Array([0, 0]));
    assert.equal(tiny.relL2, 1);
  });

  test('both all zeros: relL2 0, cosine 1', () => {
    const r = compareTensors(new Float32Array(4), new Float32Array(4));
    assert.equal(r.relL2, 0);
    assert.equal(r.cosine, 1);
    assert.equal(r.maxAbs, 0);
    assert.equal(r.meanAbs, 0);
    assert.equal(r.maxAbsIndex, 0);
  });

  test('parallel and opposite vectors stay within [-1, 1]', () => {
    assert.equal(compareTensors(new Float64Array([1, 2]), new Float64Array([2, 4])).cosine, 1);
    assert.equal(compareTensors(new Float64Array([1, 0]), new Float64Array([-1, 0])).cosine, -1);
    assert.equal(compareTensors(new Float64Array([0.1, 0.7, 0.3]), new Float64Array([0.1, 0.7, 0.3])).cosine, 1);
  });

  test('mixed element types compare by value, in float64', () => {
    const r = compareTensors(new Float32Array([1, 2, 3]), new BigInt64Array([1n, 2n, 4n]));
    assert.equal(r.maxAbs, 1);
    assert.equal(r.maxAbsIndex, 2);
    assert.equal(r.meanAbs, 1 / 3);
    assert.equal(compareTensors(new Int32Array([5]), new Uint8Array([5])).maxAbs, 0);
    // float32 0.1 is not float64 0.1; the difference survives because nothing is summed in float32
    assert.equal(compareTensors(new Float32Array([0.1]), new Float64Array([0.1])).maxAbs, Math.abs(Math.fround(0.1) - 0.1));
  });

  test('identical non-finite values agree', () => {
    const r = compareTensors(new Float32Array([NaN, 1, Infinity, -Infinity]), new Float32Array([NaN, 1, Infinity, -Infinity]));
    assert.equal(r.maxAbs, 0);
    assert.equal(r.meanAbs, 0);
    assert.equal(r.relL2, 0);
    assert.equal(r.cosine, 1);
    assert.equal(r.nonFiniteA, 3);
    assert.equal(r.nonFiniteB, 3);
  });

  test('a non-finite value that differs makes the error infinite and points at it', () => {
    const r = compareTensors(new Float32Array([1, 5, NaN]), new Float32Array([1, 1, 1]));
    assert.equal(r.maxAbs, Infinity);
    assert.equal(r.meanAbs, Infinity);
    assert.equal(r.relL2, Infinity);
    assert.equal(r.maxAbsIndex, 2);
    assert.equal(r.nonFiniteA, 1);
    assert.equal(r.nonFiniteB, 0);
    assert.equal(compareTensors(new Float64Array([Infinity]), new Float64Array([-Infinity])).maxAbs, Infinity);
    assert.equal(compareTensors(new Float64Array([NaN]), new Float64Array([Infinity])).maxAbsIndex, 0);
  });

  test('empty tensors and length mismatch', () => {
    const r = compareTensors(new Float32Array(0), new Float32Array(0));
    assert.equal(r.count, 0);
    assert.equal(r.maxAbsIndex, -1);
    assert.equal(r.meanAbs, 0);
    assert.throws(() => compareTensors(new Float32Array(2), new Float32Array(3)), /2 and 3 elements/);
  });
});

suite('parseTolerance', () => {
  test('no spec: fp32 everywhere, or the given fallback', () => {
    assert.deepEqual(parseTolerance([])('output0'), { name: 'fp32', atol: 1e-5, rtol: 1e-4 });
    assert.deepEqual(parseTolerance([], TOLERANCES.exact)('x'), { name: 'exact', atol: 0, rtol: 0 });
  });

  test('presets', () => {
    assert.deepEqual(parseTolerance(['exact'])('o'), { name: 'exact', atol: 0, rtol: 0 });
    assert.deepEqual(parseTolerance(['tf32'])('o'), { name: 'tf32', atol: 1e-3, rtol: 1e-3 });
    assert.deepEqual(parseTolerance(['fp16'])('o'), { name: 'fp16', atol: 1e-2, rtol: 1e-2 });
  });

  test('explicit atol/rtol, either alone', () => {
    assert.deepEqual(parseTolerance(['atol=1e-3,rtol=1e-2'])('o'), { name: 'atol=0.001,rtol=0.01', atol: 0.001, rtol: 0.01 });
    assert.deepEqual(parseTolerance(['rtol=0.5'])('o'), { name: 'atol=0,rtol=0.5', atol: 0, rtol: 0.5 });
    assert.deepEqual(parseTolerance([' atol = 2 '])('o'), { name: 'atol=2,rtol=0', atol: 2, rtol: 0 });
  });

  test('per-output specs beat global ones in any order; later specs of a kind win', () => {
    const tol = parseTolerance(['output0:atol=1e-3', 'fp16', 'boxes:tf32', 'boxes:exact']);
    assert.deepEqual(tol('output0'), { name: 'atol=0.001,rtol=0', atol: 0.001, rtol: 0 });
    assert.equal(tol('boxes').name, 'exact');
    assert.equal(tol('scores').name, 'fp16');
    assert.equal(parseTolerance(['tf32', 'exact'])('o').name, 'exact');
  });

  test('output names with colons split at the last one', () => {
    const tol = parseTolerance(['scores:0:fp16']);
    assert.equal(tol('scores:0').name, 'fp16');
    assert.equal(tol('scores').name, 'fp32');
  });

  test('returned tolerances are copies', () => {
    const tol = parseTolerance(['fp16']);
    tol('a').atol = 99;
    assert.equal(tol('a').atol, 1e-2);
    assert.equal(TOLERANCES.fp16.atol, 1e-2);
  });

  test('bad specs are UsageErrors with one line naming the bad part and the valid forms', () => {
    const cases: [string[], RegExp][] = [
      [['fp64'], /unknown preset 'fp64'/],
      [['atol='], /'atol=' is not a finite non-negative number/],
      [['atol=-1'], /'atol=-1'/],
      [['atol=abc'], /'atol=abc'/],
      [['atol=0x10'], /'atol=0x10'/],
      [['atol=Infinity'], /'atol=Infinity'/],
      [['btol=1'], /unknown key 'btol=1'/],
      [['atol=1,atol=2'], /'atol' given twice/],
      [[':fp16'], /empty output name/],
      [['out:'], /empty tolerance/],
      [[''], /empty tolerance/],
      [['fp32', 'out:nope'], /bad tolerance 'out:nope': unknown preset 'nope'/],
    ];
    for (const [spec, why] of cases) {
      assert.throws(
        () => parseTolerance(spec),
        (e: unknown) => {
          assert.ok(e instanceof UsageError && isOnnxAttnError(e), `${spec.join(' ')} gave ${String(e)}`);
          assert.match(e.message, why);
          assert.match(e.message, /valid forms: exact \| fp32 \| tf32 \| fp16 \| atol=N,rtol=N/);
          assert.ok(!e.message.includes('\n'));
          assert.equal(e.exitCode, 2);
          return true;
        },
      );
    }
  });
});

suite('withinTolerance', () => {
  test('allclose bound atol + rtol·|b|', () => {
    const a = new Float64Array([1, 2]);
    const b = new Float64Array([1, 2.1]);
    assert.deepEqual(withinTolerance(a, b, { name: 't', atol: 0, rtol: 0.05 }), { pass: true, violations: 0, worstIndex: -1 });
    assert.deepEqual(withinTolerance(a, b, { name: 't', atol: 0, rtol: 0.04 }), { pass: false, violations: 1, worstIndex: 1 });
    assert.deepEqual(withinTolerance(a, b, { name: 't', atol: 0.1, rtol: 0 }), { pass: false, violations: 1, worstIndex: 1 });
    assert.deepEqual(withinTolerance(a, b, { name: 't', atol: 0.11, rtol: 0 }).pass, true);
  });

  test('b is the reference, as in numpy', () => {
    const tol = { name: 't', atol: 0, rtol: 1 };
    assert.equal(withinTolerance(new Float64Array([0]), new Float64Array([1]), tol).pass, true); // 1 ≤ 1·|1|
    assert.equal(withinTolerance(new Float64Array([1]), new Float64Array([0]), tol).pass, false); // 1 > 1·|0|
  });

  test('worstIndex is the largest excess over the allowance', () => {
    const r = withinTolerance(new Float64Array([0, 0, 0]), new Float64Array([1, 3, 2]), { name: 't', atol: 0.5, rtol: 0 });
    assert.deepEqual(r, { pass: false, violations: 3, worstIndex: 1 });
    const rel = withinTolerance(new Float64Array([0, 90]), new Float64Array([2, 100]), { name: 't', atol: 0, rtol: 0.05 });
    assert.deepEqual(rel, { pass: false, violations: 2, worstIndex: 1 }); // excess 1.9 and 5
  });

  test('exact and non-finite values', () => {
    assert.equal(withinTolerance(new Float32Array([1, NaN, -Infinity]), new Float32Array([1, NaN, -Infinity]), TOLERANCES.exact).pass, true);
    assert.equal(withinTolerance(new Float32Array([0]), new Float32Array([-0]), TOLERANCES.exact).pass, true);
    assert.deepEqual(withinTolerance(new Float32Array([0, NaN]), new Float32Array([10, 0]), TOLERANCES.fp16), {
      pass: false,
      violations: 2,
      worstIndex: 1,
    });
    assert.equal(withinTolerance(new Float64Array([Infinity]), new Float64Array([1e308]), TOLERANCES.fp16).pass, false);
    assert.equal(withinTolerance(new BigInt64Array([3n]), new Int32Array([3]), TOLERANCES.exact).pass, true);
    assert.throws(() => withinTolerance(new Float32Array(1), new Float32Array(2), TOLERANCES.exact), Error);
  });
});

suite('latencyStats', () => {
  test('1..100 matches numpy.percentile', () => {
    const ms = Array.from({ length: 100 }, (_, i) => 100 - i); // unsorted on purpose
    assert.deepEqual(latencyStats(ms), { p50: 50.5, p90: 90.1, p99: 99.01, mean: 50.5, min: 1, max: 100, n: 100 });
  });

  test('small inputs interpolate linearly', () => {
    assert.deepEqual(latencyStats([4, 1, 3, 2]), { p50: 2.5, p90: 3.7, p99: 3.97, mean: 2.5, min: 1, max: 4, n: 4 });
    assert.deepEqual(latencyStats([5]), { p50: 5, p90: 5, p99: 5, mean: 5, min: 5, max: 5, n: 1 });
  });

  test('rounds to 4 decimals', () => {
    assert.deepEqual(latencyStats([0.123456, 0.5]), {
      p50: 0.3117,
      p90: 0.4623,
      p99: 0.4962,
      mean: 0.3117,
      min: 0.1235,
      max: 0.5,
      n: 2,
    });
  });

  test('empty or non-finite input throws', () => {
    assert.throws(() => latencyStats([]), /no timings/);
    assert.throws(() => latencyStats([1, NaN]), /finite/);
  });
});
