import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, nearestFirst } from './nearest.js';

test('editDistance counts insertions, deletions and substitutions', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('', 'abcd'), 4);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('modul', 'module'), 1);
  assert.equal(editDistance('flaw', 'lawn'), 2);
  assert.equal(editDistance('model.23.cv1', 'model.23.cv2'), 1);
  assert.equal(editDistance('sitting', 'kitten'), 3, 'symmetric');
});

test('nearestFirst sorts by distance, then by name, and uses the given distance', () => {
  assert.deepEqual(nearestFirst('nam.gamma', ['se.fc1', 'nam.beta', 'nam.gamma', 'nam.gamme']), ['nam.gamma', 'nam.gamme', 'nam.beta', 'se.fc1']);
  assert.deepEqual(nearestFirst('b', ['c', 'a']), ['a', 'c'], 'ties in code-unit order');
  assert.deepEqual(
    nearestFirst('x', ['aaaa', 'bb'], (_, n) => -n.length),
    ['aaaa', 'bb'],
  );
});
