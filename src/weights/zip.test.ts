import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixture, ROOT, tmpDir } from '../../test/helpers.js';
import { insertIntoFile } from '../insert.js';
import { readTensorFile } from './read.js';

// Node's CommonJS cache: fflate, loaded through require, shows there once loaded (this file runs in its own process).
const fflateLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes(`${path.sep}fflate${path.sep}`));

test('fflate is loaded by the first zip read, not by an insert without a zip weights file', async () => {
  const out = path.join(tmpDir(), 'nam.onnx');
  await insertIntoFile(fixture('yolov5-op12.onnx'), { after: '23', module: 'NAM', output: out, check: false });
  assert.ok(fs.existsSync(out));
  assert.equal(fflateLoaded(), false);
  const { tensors } = readTensorFile(path.join(ROOT, 'fixtures/checkpoints/yolov5-nam.pt'));
  assert.ok(tensors.size > 0);
  assert.equal(fflateLoaded(), true);
});

test('only src/weights/zip.ts loads fflate (every other file imports its types alone)', () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && p !== path.join(ROOT, 'src/weights/zip.ts')) {
        if (/^import\s+(?!type\b)[^;]*\bfrom\s+'fflate'/m.test(fs.readFileSync(p, 'utf8'))) offenders.push(path.relative(ROOT, p));
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  assert.deepEqual(offenders, []);
});
