import assert from 'node:assert/strict';
import { test } from 'node:test';

test("library callers get the CLI's run-count limits: no run of 1e20 iterations", async () => {
  const { runCounts } = await import('./run.js');
  assert.deepEqual(runCounts({}), { warmup: 3, iters: 20 });
  assert.throws(() => runCounts({ iters: 1e20 }), /^UsageError: iters 100000000000000000000: expected a whole number from 1 to 100000$/);
  assert.throws(() => runCounts({ warmup: -1 }), /warmup -1: expected a whole number from 0 to 100000/);
  assert.throws(() => runCounts({ iters: 1.5 }), /iters 1\.5/);
});
