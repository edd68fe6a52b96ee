import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { effects, fsWith, withEffects } from './effects.js';

test('withEffects replaces the named effects while fn runs and restores them after, also on a throw', async () => {
  const realNow = effects.now;
  const seen = withEffects({ now: () => 42 }, () => effects.now());
  assert.equal(seen, 42);
  assert.equal(effects.now, realNow);
  assert.throws(() =>
    withEffects({ now: () => 1 }, () => {
      throw new Error('boom');
    }),
  );
  assert.equal(effects.now, realNow);
  const later = await withEffects({ date: () => new Date(0) }, async () => {
    await new Promise((r) => setTimeout(r, 1));
    return effects.date().toISOString();
  });
  assert.equal(later, '1970-01-01T00:00:00.000Z');
  assert.notEqual(effects.date().getTime(), 0);
});

test('fsWith keeps node:fs except the overridden members', () => {
  const full = fsWith({
    writeSync: () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
  });
  assert.equal(full.readFileSync, fs.readFileSync);
  assert.throws(() => full.writeSync(1, 'x'), /ENOSPC/);
  assert.equal(effects.fs.writeSync, fs.writeSync);
});
