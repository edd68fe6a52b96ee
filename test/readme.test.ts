import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { fixture, listFiles, ROOT, tmpDir } from './helpers.js';

// The README's library example is run as written (its TypeScript-only `!` assertions dropped), so it cannot rot.
test("the README's library example runs and writes the patched model", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library\n'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  assert.match(code, /planInsertions/);
  const dir = tmpDir();
  fs.copyFileSync(fixture('yolov5-op12.onnx'), path.join(dir, 'yolov5s.onnx'));
  const js = code
    .replace("from 'onnx-attn'", `from '${pathToFileURL(path.join(ROOT, 'dist/src/index.js')).href}'`)
    .replace(/!(?=[,)\s}])/g, '')
    .concat('\nconsole.log(JSON.stringify({ problems, cosine: report.outputs[0].cosine, detections: report.detections !== null }));\n');
  fs.writeFileSync(path.join(dir, 'example.mjs'), js);
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { problems: string[]; cosine: number; detections: boolean };
  assert.deepEqual(out.problems, []);
  // NAM with PyTorch's initialisation changes the output a little, not a lot.
  assert.ok(out.cosine > 0.999 && out.cosine < 1, `cosine ${out.cosine}`);
  assert.equal(out.detections, true);
  assert.deepEqual(listFiles(dir), ['example.mjs', 'yolov5s-nam.onnx', 'yolov5s.onnx']);
});
