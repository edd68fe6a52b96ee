import assert from 'node:assert/strict';
import { suite, test } from 'node:test';
import { convParams, namParams } from '../../test/weights-files.js';
import type { ParamSpec } from '../modules/types.js';
import { initWeights, Xoshiro128 } from './init.js';

suite('initWeights', () => {
  const all = [...namParams(64), ...convParams];

  test('same seed, same values; another seed, other values; key streams are independent of order', () => {
    for (const init of ['torch', 'random'] as const) {
      const a = initWeights(all, init, 7);
      const b = initWeights(all, init, 7);
      assert.deepEqual(a, b);
      const reversed = initWeights([...all].reverse(), init, 7);
      for (const [k, v] of a) assert.deepEqual(reversed.get(k), v, k);
      const c = initWeights(all, init, 8);
      assert.notDeepEqual(c.get('fc.0.weight'), a.get('fc.0.weight'));
    }
    // Large seeds use both 32-bit halves.
    assert.notDeepEqual(initWeights(convParams, 'torch', 2 ** 32 + 1).get('conv.bias'), initWeights(convParams, 'torch', 1).get('conv.bias'));
  });

  test('pinned values for seed 0 (the stream must not change between releases)', () => {
    const k: ParamSpec = { key: 'k', shape: [4], init: { kind: 'bias', fanIn: 1 }, trainable: true };
    const v = initWeights([k], 'torch', 0).get('k')!;
    assert.deepEqual([...v], [-0.9099476337432861, -0.5578233003616333, -0.14166812598705292, -0.663037896156311]);
    // xoshiro128** itself, from the state [1, 2, 3, 4] (values of the reference C implementation).
    const rng = new Xoshiro128(0);
    (rng as unknown as { s: Uint32Array }).s = new Uint32Array([1, 2, 3, 4]);
    assert.deepEqual([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()], [11520, 0, 5927040]);
  });

  test('torch: BN γ=1, β=0, mean 0, var 1; no num_batches_tracked', () => {
    const w = initWeights(namParams(64), 'torch', 0);
    assert.deepEqual([...w.keys()], ['Channel_Att.bn2.weight', 'Channel_Att.bn2.bias', 'Channel_Att.bn2.running_mean', 'Channel_Att.bn2.running_var']);
    assert.ok(w.get('Channel_Att.bn2.weight')!.every((x) => x === 1));
    assert.ok(w.get('Channel_Att.bn2.bias')!.every((x) => x === 0));
    assert.ok(w.get('Channel_Att.bn2.running_mean')!.every((x) => x === 0));
    assert.ok(w.get('Channel_Att.bn2.running_var')!.every((x) => x === 1));
  });

  test('torch: kaiming and bias within ±1/√fan_in, with the moments of a uniform', () => {
    const w = initWeights(convParams, 'torch', 3);
    for (const p of convParams) {
      const v = w.get(p.key)!;
      assert.equal(
        v.length,
        p.shape.reduce((a, b) => a * b, 1),
      );
      const fanIn = (p.init as { fanIn: number }).fanIn;
      const bound = Math.fround(1 / Math.sqrt(fanIn));
      assert.ok(
        v.every((x) => Math.abs(x) <= bound),
        `${p.key} within ±${bound}`,
      );
      if (v.length >= 1000) {
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
        const expected = 1 / fanIn / 3; // U(±b) has variance b²/3
        assert.ok(Math.abs(mean) < 4 * Math.sqrt(expected / v.length), `${p.key} mean ${mean}`);
        assert.ok(Math.abs(variance / expected - 1) < 0.1, `${p.key} variance ${variance} vs ${expected}`);
        assert.ok(Math.max(...v) > 0.95 * bound && Math.min(...v) < -0.95 * bound, `${p.key} fills the range`);
      }
    }
  });

  test('random: Conv/Linear as torch, BN randomized away from identity', () => {
    const t = initWeights(all, 'torch', 5);
    const r = initWeights(all, 'random', 5);
    for (const p of convParams) assert.deepEqual(r.get(p.key), t.get(p.key), p.key);
    const g = r.get('Channel_Att.bn2.weight')!;
    assert.ok(
      g.every((x) => Math.abs(x) >= 0.5 && Math.abs(x) <= 1.5),
      'γ magnitude in [0.5, 1.5]',
    );
    assert.ok(g.some((x) => x < 0) && g.some((x) => x > 0), 'γ has both signs');
    const v = r.get('Channel_Att.bn2.running_var')!;
    assert.ok(
      v.every((x) => x >= 0.5 && x <= 1.5),
      'running_var in [0.5, 1.5]',
    );
    for (const k of ['Channel_Att.bn2.bias', 'Channel_Att.bn2.running_mean']) {
      const x = r.get(k)!;
      assert.ok(
        x.some((y) => y !== 0),
        `${k} randomized`,
      );
      const sd = Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length);
      assert.ok(sd > 0.05 && sd < 0.2 && x.every((y) => Math.abs(y) < 0.6), `${k} ~ N(0, 0.1): sd ${sd}`);
    }
  });

  test('the generator: uniform in [0, 1), normal moments', () => {
    const rng = new Xoshiro128(1, 2, 3);
    let sum = 0;
    let sq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      assert.ok(u >= 0 && u < 1);
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    assert.ok(Math.abs(sum / n) < 0.05 && Math.abs(sq / n - 1) < 0.05);
  });
});
