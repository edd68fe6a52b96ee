import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../src/runtime/inputs.js';
import { fixture, runMain, tmpDir } from './helpers.js';

/**
 * Byte-level mutations of a real fixture through `inspect`: every run must end with exit 0 or 4, one error line,
 * no stack trace, and in bounded time. Runs in-process (the same `main` the bin calls) to afford hundreds.
 */
test('hundreds of mutated models never crash or hang inspect', { timeout: 240_000 }, async () => {
  const rand = seededRandom(20261124);
  const dir = tmpDir();
  const sources = ['yolov5-op12.onnx', 'yolov8-op17.onnx', 'rtdetr-official-op16.onnx'].map((f) => fs.readFileSync(fixture(f)));
  const codes = new Map<number, number>();
  const N = 300;
  for (let i = 0; i < N; i++) {
    const src = sources[i % sources.length]!;
    let bytes = Buffer.from(src);
    const kind = i % 4;
    if (kind === 0) {
      // Flip a few random bytes.
      for (let j = 0; j < 1 + Math.floor(rand() * 8); j++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    } else if (kind === 1) {
      // Flip bytes near the start, where the graph's nodes and names live.
      for (let j = 0; j < 4; j++) {
        const at = Math.floor(rand() * Math.min(bytes.length, 20000));
        bytes[at] = bytes[at]! ^ (1 << Math.floor(rand() * 8));
      }
    } else if (kind === 2) {
      // Truncate anywhere.
      bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
    } else {
      // Splice a chunk of the file over another place.
      const a = Math.floor(rand() * bytes.length);
      const b = Math.floor(rand() * bytes.length);
      const len = Math.floor(rand() * 256);
      Buffer.from(src.subarray(a, a + len)).copy(bytes, b);
    }
    const file = path.join(dir, `m${i}.onnx`);
    fs.writeFileSync(file, bytes);
    const started = Date.now();
    const r = await runMain(['inspect', file, '--json', '--no-probe']);
    const ms = Date.now() - started;
    assert.ok(r.code === 0 || r.code === 4, `mutation ${i}: exit ${r.code}\n${r.stderr}`);
    assert.ok(ms < 20_000, `mutation ${i} took ${ms} ms`);
    if (r.code === 4) {
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `mutation ${i}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error/, `mutation ${i}: ${r.stderr}`);
    } else {
      JSON.parse(r.stdout);
    }
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    fs.rmSync(file);
  }
  // Both outcomes occur: the mutations reach past the decoder into graph analysis.
  assert.ok((codes.get(4) ?? 0) > 0 && (codes.get(0) ?? 0) > 0, `outcomes ${JSON.stringify([...codes])}`);
});
