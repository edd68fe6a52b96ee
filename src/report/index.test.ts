import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { listFiles, tmpDir } from '../../test/helpers.js';
import { fsWith, withEffects } from '../effects.js';
import { UsageError } from '../errors.js';
import { writeText } from './index.js';

test('writeText publishes the whole report atomically and replaces an old one', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'r.md');
  fs.writeFileSync(file, 'old');
  writeText(file, '# report\nµ\n');
  assert.equal(fs.readFileSync(file, 'utf8'), '# report\nµ\n');
  assert.deepEqual(listFiles(dir), ['r.md']);
});

test('writeText on a full disk: a UsageError naming the file and the code, no temporary file, the old report untouched', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'r.json');
  fs.writeFileSync(file, 'old');
  const fullDisk = fsWith({
    writeSync: () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
  });
  assert.throws(() => withEffects({ fs: fullDisk }, () => writeText(file, '{}')), { constructor: UsageError, message: `cannot write ${file}: ENOSPC` });
  assert.deepEqual(listFiles(dir), ['r.json']);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  // A missing folder: the same message form, nothing made.
  const lost = path.join(dir, 'gone', 'r.json');
  assert.throws(() => writeText(lost, '{}'), { constructor: UsageError, message: `cannot write ${lost}: ENOENT` });
});
