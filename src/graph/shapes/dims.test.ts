import assert from 'node:assert/strict';
import { test } from 'node:test';
import { broadcast, cleanDim, cleanShape, inferDim, MAX_RANK, mulDims, normAxis, numel, unknownDims } from './dims.js';

test('cleanDim keeps non-negative safe integers and non-empty symbols, anything else is unknown', () => {
  assert.deepEqual([3, 0, -1, 2.5, 5n, 2 ** 53, 'batch', '', undefined, NaN].map(cleanDim), [3, 0, null, null, 5, null, 'batch', null, null, null]);
});

test('cleanShape: arrays up to MAX_RANK dims', () => {
  assert.deepEqual(cleanShape([1, 'b', -2]), [1, 'b', null]);
  assert.equal(cleanShape(new Array<number>(MAX_RANK + 1).fill(1)), null);
  assert.equal(cleanShape(new Array<number>(MAX_RANK).fill(1))?.length, MAX_RANK);
  assert.equal(cleanShape('x'), null);
});

test('numel: known sizes only, and a safe product', () => {
  assert.equal(numel([2, 3, 4]), 24);
  assert.equal(numel([]), 1);
  assert.equal(numel([2, 'b']), null);
  assert.equal(numel(null), null);
  assert.equal(numel([2 ** 30, 2 ** 30, 2 ** 30]), null);
});

test('normAxis: negative axes count from the end; out of range or fractional is null', () => {
  assert.deepEqual(
    [-1, 0, 3, 4, -5, 1.5, undefined].map((a) => normAxis(a, 4)),
    [3, 0, 3, null, null, null, null],
  );
});

test('mulDims: numbers multiply, one symbol survives 1s, a 0 wins', () => {
  assert.equal(mulDims([2, 3]), 6);
  assert.equal(mulDims(['b', 1, 1]), 'b');
  assert.equal(mulDims(['b', 2]), null);
  assert.equal(mulDims(['a', 'b']), null);
  assert.equal(mulDims(['b', 0, null]), 0);
  assert.equal(mulDims([]), 1);
});

test('broadcast: numpy rules; a size > 1 wins over 1, symbols and unknowns; disagreement is unknown', () => {
  assert.deepEqual(broadcast([[2, 1], [3]]), [2, 3]);
  assert.deepEqual(
    broadcast([
      ['b', 1],
      [1, 4],
    ]),
    ['b', 4],
  );
  assert.deepEqual(broadcast([['b'], [1]]), ['b']);
  assert.deepEqual(broadcast([['b'], [5]]), [5]);
  assert.deepEqual(broadcast([['a'], ['b']]), [null]);
  assert.deepEqual(broadcast([[2], [3]]), [null]);
  assert.deepEqual(broadcast([[1], [null]]), [null]);
  assert.equal(broadcast([[2], null]), null);
  assert.equal(broadcast([]), null);
});

test("inferDim: a Reshape's -1 from the elements left, cancelling symbols on both sides", () => {
  assert.equal(inferDim(['b', 3, 4, 4], ['b', 3]), 16);
  assert.equal(inferDim(['b', 3, 4], [3, 4]), 'b');
  assert.equal(inferDim([6], [4]), null);
  assert.equal(inferDim([6], [0]), null);
  assert.equal(inferDim([2, 'b'], ['c']), null);
  assert.equal(inferDim([2, null], [2]), null);
  assert.deepEqual(unknownDims([1, 'a']), [null, null]);
});
