import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture } from '../../test/helpers.js';
import { withEffects } from '../effects.js';
import type { ModelSession } from './session.js';

test("library callers get the CLI's run-count limits: no run of 1e20 iterations", async () => {
  const { runCounts } = await import('./run.js');
  assert.deepEqual(runCounts({}), { warmup: 3, iters: 20 });
  assert.throws(() => runCounts({ iters: 1e20 }), /^UsageError: iters 100000000000000000000: expected a whole number from 1 to 100000$/);
  assert.throws(() => runCounts({ warmup: -1 }), /warmup -1: expected a whole number from 0 to 100000/);
  assert.throws(() => runCounts({ iters: 1.5 }), /iters 1\.5/);
});

/** A session whose every run takes `ms` on the fixed clock below (and no time at all on the real one). */
function sessionTaking(ms: number, clock: { ms: number }): ModelSession {
  return {
    inputNames: [],
    outputNames: [],
    run: () => {
      clock.ms += ms;
      return Promise.resolve([]);
    },
    endProfiling: () => null,
    release: () => Promise.resolve(),
  };
}

test('timing reads the clock through effects: a fixed clock gives exact latencies and a deterministic budget stop', async () => {
  const { timeAlternately } = await import('./run.js');
  const clock = { ms: 1000 };
  const a = sessionTaking(2, clock);
  const b = sessionTaking(5, clock);
  // Each pair takes 7 ms of the fixed clock, so a 50 ms budget ends after the 8th pair (56 ms), past iters = 4.
  const times = await withEffects({ now: () => clock.ms }, () => timeAlternately(a, b, [], 1, 4, { budgetS: 0.05 }));
  assert.deepEqual(times, { a: Array(8).fill(2), b: Array(8).fill(5), stoppedBy: 'budget' });
  // The warm-up pair ran too (7 ms) but is not timed; without a budget, iters decides.
  assert.equal(clock.ms, 1000 + 7 + 8 * 7);
  const plain = await withEffects({ now: () => clock.ms }, () => timeAlternately(a, b, [], 0, 3));
  assert.deepEqual(plain, { a: [2, 2, 2], b: [5, 5, 5], stoppedBy: 'iters' });
});

test("validate's latency report is the clock's: every timed run of a real model reads as one tick of a stepping clock", async () => {
  const { validate } = await import('../validate.js');
  let tick = 0;
  // Each read of the clock moves it 0.25 ms: a timed run reads it twice (before, after), so it lasts exactly 0.25 ms.
  const result = await withEffects({ now: () => (tick += 0.25) }, () => validate(fixture('yolov8-op12.onnx'), { iters: 5, warmup: 1 }));
  assert.deepEqual(result.latencySamplesMs, [0.25, 0.25, 0.25, 0.25, 0.25]);
  assert.deepEqual(
    { p50: result.latencyMs.p50, p99: result.latencyMs.p99, min: result.latencyMs.min, max: result.latencyMs.max },
    { p50: 0.25, p99: 0.25, min: 0.25, max: 0.25 },
  );
});
