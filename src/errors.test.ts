import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitCode, verdictExitCode, worstExitCode } from './errors.js';

test('verdictExitCode: pass 0, a failed placement check 5 (even with values off too), any other failure 1', () => {
  assert.equal(verdictExitCode({ pass: true, placementCheck: null }), 0);
  assert.equal(verdictExitCode({ pass: true, placementCheck: { pass: true } }), 0);
  assert.equal(verdictExitCode({ pass: false, placementCheck: null }), 1);
  assert.equal(verdictExitCode({ pass: false, placementCheck: { pass: true } }), 1);
  assert.equal(verdictExitCode({ pass: false, placementCheck: { pass: false } }), 5);
});

test('worstExitCode: the highest code wins, none is a pass', () => {
  assert.equal(worstExitCode([]), ExitCode.pass);
  assert.equal(worstExitCode([0, 0]), 0);
  assert.equal(worstExitCode([1, 0]), 1);
  assert.equal(worstExitCode([0, 5, 1]), 5);
  assert.equal(worstExitCode([4, 1, 3]), 4);
  assert.equal(worstExitCode([2, 1]), 2);
  assert.equal(worstExitCode(new Set([3, 1])), 3, 'any iterable');
});
