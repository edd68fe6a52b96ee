import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OnnxModel } from '../../onnx/load.js';
import { TensorProto_DataType as DT } from '../../onnx/proto.js';
import { int64Tensor } from '../../onnx/tensor.js';
import { ADD, broadcastData, build, cmp, dataOf, DIV, EQUAL, fix, flat, fromTensor, MAX_DATA, MUL, strides, SUB, variadic } from './fold.js';

test('strides and flat offsets are row-major', () => {
  assert.deepEqual(strides([2, 3, 4]), [12, 4, 1]);
  assert.equal(flat([1, 2, 3], [12, 4, 1]), 23);
});

test('build walks the multi-index in row-major order; too many elements or a pick that gives up is null', () => {
  assert.deepEqual(
    build([2, 2], ([i = 0, j = 0]) => i * 10 + j),
    [0, 1, 10, 11],
  );
  assert.equal(
    build([MAX_DATA + 1], () => 0),
    null,
  );
  assert.equal(
    build([2, 'b'], () => 0),
    null,
  );
  assert.equal(
    build([3], ([i]) => (i === 2 ? undefined : 1)),
    null,
  );
});

test('broadcastData reads each input at the broadcast index', () => {
  const a = { shape: [2, 1], data: [1, 2], st: [1, 1] };
  const b = { shape: [3], data: [10, 20, 30], st: [1] };
  assert.deepEqual(
    broadcastData([2, 3], [a, b], ([x, y]) => (x as number) + (y as number)),
    [11, 21, 31, 12, 22, 32],
  );
});

test('fix rounds to the element type: integers truncate, float32 rounds, bool is 0/1, non-finite is unknown', () => {
  assert.equal(fix(2.7, DT.INT64), 2);
  assert.equal(fix(-2.7, DT.INT32), -2);
  assert.equal(fix(0.1, DT.FLOAT), Math.fround(0.1));
  assert.equal(fix(0.1, DT.DOUBLE), 0.1);
  assert.equal(fix(5, DT.BOOL), 1);
  assert.equal(fix(Infinity, DT.FLOAT), null);
  assert.equal(fix(null, DT.INT64), null);
});

test('shape arithmetic keeps symbols through x+0, x-0, x*1, x/1 and x/x, and evaluates numbers in the element type', () => {
  const I = DT.INT64;
  assert.deepEqual([ADD(['b', 0], I), ADD([0, 'b'], I), ADD([2, 3], I), ADD(['b', 1], I)], ['b', 'b', 5, null]);
  assert.deepEqual([SUB(['b', 0], I), SUB([0, 'b'], I), SUB([2, 5], I)], ['b', null, -3]);
  assert.deepEqual([MUL(['b', 1], I), MUL([1, 'b'], I), MUL(['b', 0], I), MUL([null, 0], I), MUL([4, 5], I)], ['b', 'b', 0, null, 20]);
  assert.deepEqual(
    [DIV([7, 2], I), DIV([-7, 2], I), DIV([1, 0], I), DIV([1, 0], DT.FLOAT), DIV([1, 4], DT.FLOAT), DIV(['b', 'b'], I), DIV(['b', 1], I)],
    [3, -3, null, null, 0.25, 1, 'b'],
  );
  assert.deepEqual([EQUAL(['b', 'b'], I), EQUAL([2, 3], I), EQUAL(['a', 'b'], I), EQUAL([null, null], I)], [1, 0, null, null]);
  const max = variadic((a, b) => Math.max(a, b));
  assert.equal(max([1, 7, 3], I), 7);
  assert.equal(max([1, 'b'], I), null);
  assert.equal(cmp((a, b) => a < b)([1, 2], DT.BOOL), 1);
});

test('a tensor is decoded only when its values are first asked for, and only up to MAX_DATA elements', () => {
  const model: OnnxModel = { proto: undefined as never, path: null, externalData: new Map(), hadExternalData: false };
  const small = fromTensor(int64Tensor('s', [3], [4, -1, 2]));
  assert.equal(small.data, undefined);
  assert.deepEqual(small.shape, [3]);
  assert.deepEqual(dataOf(small, model), [4, -1, 2]);
  assert.deepEqual(small.data, [4, -1, 2]);
  const big = fromTensor(int64Tensor('b', [MAX_DATA + 1], new Array<number>(MAX_DATA + 1).fill(1)));
  assert.equal(dataOf(big, model), null);
});
