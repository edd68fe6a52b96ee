import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fsWith, withEffects } from '../src/effects.js';
import { fixture, listFiles, runMain, tmpDir } from './helpers.js';

/**
 * A full disk while the output is written: the message says so (not "check that the folder exists"), the partly
 * written temporary file is gone and an existing output is untouched. The disk is made full by making fs.writeSync
 * fail as the kernel does (ENOSPC, or EDQUOT for a quota), through the effects seam (src/effects.ts): node:fs is
 * left alone.
 */
for (const code of ['ENOSPC', 'EDQUOT'] as const) {
  test(`${code} while saving is "no space left on the device", and nothing is left behind`, async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out.onnx');
    fs.writeFileSync(out, 'old');
    const fullDisk = fsWith({
      writeSync: () => {
        throw Object.assign(new Error(`${code}: no space left on device, write`), { code, errno: -28, syscall: 'write' });
      },
    });
    const r = await withEffects({ fs: fullDisk }, () => runMain(['convert', fixture('yolov5-op12.onnx'), out, '--force']));
    assert.equal(r.stderr, `onnx-attn: cannot write ${out}: no space left on the device (${code}); free some space or write elsewhere\n`);
    assert.equal(r.code, 2);
    assert.deepEqual(listFiles(dir), ['out.onnx']);
    assert.equal(fs.readFileSync(out, 'utf8'), 'old');
  });
}
