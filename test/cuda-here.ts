import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fixture } from './helpers.js';

/**
 * Whether this machine has onnxruntime-node's CUDA provider, found without the code under test (doctor and
 * providers.ts), so the doctor and runtime tests can assert the right branch on a CI machine and on a GPU box.
 */

const require = createRequire(import.meta.url);
const ORT_DIR = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);

/** The two files onnxruntime-node's install script downloads for CUDA, and whether each is there. */
export const CUDA_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'].map((file) => ({
  file,
  present: fs.existsSync(path.join(ORT_DIR, file)),
}));

/** Whether a session on the CUDA provider runs a fixture (in a child: a broken CUDA install can abort the process). */
export const CUDA_LOADS: boolean = CUDA_LIBRARIES.every((l) => l.present) && cudaRunsFixture();

function cudaRunsFixture(): boolean {
  const script = `
    const ort = await import(${JSON.stringify(pathToFileURL(require.resolve('onnxruntime-node')).href)});
    const s = await ort.InferenceSession.create(${JSON.stringify(fixture('yolov5-op12.onnx'))}, { executionProviders: [{ name: 'cuda' }], logSeverityLevel: 4 });
    await s.run({ images: new ort.Tensor('float32', new Float32Array(3 * 128 * 128), [1, 3, 128, 128]) });
    process.stdout.write('ran');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  return r.stdout === 'ran';
}
