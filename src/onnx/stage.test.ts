import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixture, listFiles, tmpDir } from '../../test/helpers.js';
import { loadModelSync } from './load.js';
import { stageModel } from './save.js';

test('a staged model lies under a temporary name until published, then at its output, byte for byte', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.onnx');
  const src = fixture('yolov5-op12.onnx');
  const staged = stageModel(loadModelSync(src), out);
  assert.equal(staged.hasExternalData, false);
  assert.equal(path.dirname(staged.stagedPath), dir, 'staged beside the output, so the rename stays on one file system');
  assert.deepEqual(listFiles(dir), [path.basename(staged.stagedPath)]);
  assert.ok(fs.readFileSync(staged.stagedPath).equals(fs.readFileSync(src)), 'the staged file is the whole model already');
  const r = staged.publish();
  assert.equal(r.path, out);
  assert.deepEqual(listFiles(dir), ['out.onnx']);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(src)));
});

test('a discarded stage leaves nothing, and an existing output stays as it was', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.onnx');
  fs.writeFileSync(out, 'old');
  const staged = stageModel(loadModelSync(fixture('yolov5-op12.onnx')), out, { force: true });
  assert.equal(listFiles(dir).length, 2);
  staged.discard();
  assert.deepEqual(listFiles(dir), ['out.onnx']);
  assert.equal(fs.readFileSync(out, 'utf8'), 'old');
});

test('with external data, both files are staged and published data first', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.onnx');
  const staged = stageModel(loadModelSync(fixture('yolov5-op12.onnx')), out, { externalData: 'always' });
  assert.equal(staged.hasExternalData, true);
  assert.equal(listFiles(dir).length, 2);
  assert.ok(!listFiles(dir).includes('out.onnx') && !listFiles(dir).includes('out.onnx.data'));
  const r = staged.publish();
  assert.equal(r.dataPath, `${out}.data`);
  assert.deepEqual(listFiles(dir), ['out.onnx', 'out.onnx.data']);
  assert.equal(loadModelSync(out).externalData.size > 0, true);
});
