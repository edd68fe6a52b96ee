import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ROOT, runBin } from './helpers.js';

/** doctor on a machine without the CUDA provider (every CI machine): what is there, what is not, and the fix. */
test('doctor --json: version, providers listed/bundled/loadable, the skipped download and each fix', () => {
  const r = runBin(['doctor', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version;
  assert.equal(d.onnxruntimeNode, version);
  const byName = Object.fromEntries(d.providers.map((p: { name: string }) => [p.name, p]));
  assert.deepEqual(Object.keys(byName), ['cpu', 'cuda', 'tensorrt', 'webgpu']);
  assert.deepEqual([byName.cpu.bundled, byName.cpu.loadable, byName.cpu.reason], [true, true, null]);
  assert.deepEqual([byName.cuda.listed, byName.cuda.bundled, byName.cuda.loadable], [true, false, false]);
  assert.deepEqual(byName.cuda.libraries.map((l: { file: string; present: boolean }) => [l.file, l.present]), [
    ['libonnxruntime_providers_shared.so', false],
    ['libonnxruntime_providers_cuda.so', false],
  ]);
  assert.match(d.installScript.skippedBy, /onnxruntime-node-install=skip|ONNXRUNTIME_NODE_INSTALL=skip/);
  const cuda = d.problems.find((p: { what: string }) => p.what.startsWith('cuda:'));
  assert.match(cuda.what, /libonnxruntime_providers_cuda\.so not installed/);
  assert.match(cuda.fix, /--onnxruntime-node-install=cuda12/);
  assert.match(cuda.fix, /npm install-scripts approve onnxruntime-node/);
  assert.match(cuda.fix, /CUDA 12 and cuDNN 9/);
});

test('doctor prints a table and the fixes', () => {
  const r = runBin(['doctor']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^onnxruntime-node \d+\.\d+\.\d+ /);
  assert.match(r.stdout, /^cpu\s+yes\s+yes\s+yes\s*$/m);
  assert.match(r.stdout, /^cuda\s+yes\s+no\s+no\s+/m);
  assert.match(r.stdout, /^To fix:$/m);
});
