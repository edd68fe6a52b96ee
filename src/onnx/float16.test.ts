import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16Bits, float16Value, fromFloat16Array, toFloat16Array } from './float16.js';

test('float16: known bit patterns both ways', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [x, bits] of cases) {
    assert.equal(float16Bits(x), bits, `bits of ${x}`);
    assert.ok(Object.is(float16Value(bits), x), `value of 0x${bits.toString(16)}`);
  }
  assert.ok(Number.isNaN(float16Value(float16Bits(NaN))));
});

test('float16: rounding is to nearest, ties to even, overflow to Infinity', () => {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
  assert.equal(float16Bits(1 + 2 ** -11), 0x3c00);
  // 1 + 3·2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  assert.equal(float16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(float16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01);
  assert.equal(float16Bits(65520), 0x7c00); // halfway to the next (absent) step: rounds up to Infinity
  assert.equal(float16Bits(65519), 0x7bff);
  assert.equal(float16Bits(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal: even (0)
  assert.equal(float16Bits(3 * 2 ** -25), 0x0002);
});

test('float16: every finite pattern survives value → bits, and arrays convert', () => {
  for (let h = 0; h < 0x10000; h++) {
    const e = (h >>> 10) & 0x1f;
    if (e === 0x1f) continue;
    assert.equal(float16Bits(float16Value(h)), h);
  }
  assert.deepEqual([...fromFloat16Array(toFloat16Array([0.1, -3.25, 1000]))], [0.0999755859375, -3.25, 1000]);
});
