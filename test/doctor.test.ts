import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CUDA_LIBRARIES, CUDA_LOADS } from './cuda-here.js';
import { ROOT, runBin } from './helpers.js';

/** doctor where the CUDA provider is absent (every CI machine) and where it is installed: what is there, what is not, and the fix. */
test('doctor --json: version, providers listed/bundled/loadable, the skipped download and each fix', () => {
  const r = runBin(['doctor', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version;
  assert.equal(d.onnxruntimeNode, version);
  const byName = Object.fromEntries(d.providers.map((p: { name: string }) => [p.name, p]));
  assert.deepEqual(Object.keys(byName), ['cpu', 'cuda', 'tensorrt', 'webgpu']);
  assert.deepEqual([byName.cpu.bundled, byName.cpu.loadable, byName.cpu.reason], [true, true, null]);
  // CUDA is never bundled: onnxruntime-node's install script downloads it.
  assert.deepEqual([byName.cuda.listed, byName.cuda.bundled, byName.cuda.loadable], [true, false, CUDA_LOADS]);
  assert.deepEqual(
    byName.cuda.libraries.map((l: { file: string; present: boolean }) => [l.file, l.present]),
    CUDA_LIBRARIES.map((l) => [l.file, l.present]),
  );
  const cuda = d.problems.find((p: { what: string }) => p.what.startsWith('cuda:'));
  if (CUDA_LOADS) {
    assert.equal(cuda, undefined);
    assert.equal(byName.cuda.fix, null);
    return;
  }
  assert.match(cuda.fix, /CUDA 12 and cuDNN 9/);
  if (CUDA_LIBRARIES.some((l) => !l.present)) {
    assert.match(d.installScript.skippedBy, /onnxruntime-node-install=skip|ONNXRUNTIME_NODE_INSTALL=skip/);
    assert.match(cuda.what, /libonnxruntime_providers_cuda\.so not installed/);
    assert.match(cuda.fix, /--onnxruntime-node-install=cuda12/);
    assert.match(cuda.fix, /npm install-scripts approve onnxruntime-node/);
  }
});

test('doctor prints a table and the fixes', () => {
  const r = runBin(['doctor']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^onnxruntime-node \d+\.\d+\.\d+ /);
  assert.match(r.stdout, /^cpu\s+yes\s+yes\s+yes\s*$/m);
  assert.match(r.stdout, new RegExp(`^cuda\\s+yes\\s+no\\s+${CUDA_LOADS ? 'yes' : 'no'}\\b`, 'm'));
  // Without CUDA there is at least that fix to print.
  if (!CUDA_LOADS) assert.match(r.stdout, /^To fix:\n- cuda: /m);
});
