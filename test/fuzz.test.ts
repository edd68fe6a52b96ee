import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { clone, toBinary } from '@bufbuild/protobuf';
import { decodeModel } from '../src/onnx/load.js';
import { ModelProtoSchema, TensorProtoSchema } from '../src/onnx/proto.js';
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

/**
 * Structural mutations, past the decoder: a node input rewired to a random tensor (cycles, reads before the
 * producer), a node output renamed to another tensor's name (double assignment), a node renamed to another's
 * name, an initializer repeated, a read of a name nothing defines. Each goes through `inspect` and `inspect --at`
 * (what insert locates with): exit 0 or 4, one line, never an internal error, in bounded time.
 */
test('hundreds of rewired graphs never reach an internal error or hang inspect --at', { timeout: 240_000 }, async () => {
  const rand = seededRandom(20261203);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const dir = tmpDir();
  const sources = ['yolov5-op12.onnx', 'yolov8-op17.onnx'].map((f) => decodeModel(fs.readFileSync(fixture(f))));
  const codes = new Map<number, number>();
  const messages = new Set<string>();
  const N = 200;
  for (let i = 0; i < N; i++) {
    const proto = clone(ModelProtoSchema, sources[i % sources.length]!);
    const g = proto.graph!;
    const tensors = g.node.flatMap((n) => n.output);
    const victim = pick(g.node);
    const kind = i % 5;
    if (kind === 0) victim.input[Math.floor(rand() * victim.input.length)] = pick(tensors);
    else if (kind === 1) victim.output[0] = pick(tensors);
    else if (kind === 2) victim.name = pick(g.node).name;
    else if (kind === 3) g.initializer.push(clone(TensorProtoSchema, pick(g.initializer)));
    else victim.input[0] = `missing_${i}`;
    const file = path.join(dir, `r${i}.onnx`);
    fs.writeFileSync(file, toBinary(ModelProtoSchema, proto));
    const started = Date.now();
    const r = await runMain(['inspect', file, '--json', '--no-probe', '--at', `tensor:${pick(tensors)}`]);
    const ms = Date.now() - started;
    assert.ok(r.code === 0 || r.code === 4, `rewiring ${i} (kind ${kind}): exit ${r.code}\n${r.stderr}`);
    assert.ok(ms < 10_000, `rewiring ${i} took ${ms} ms`);
    if (r.code === 4) {
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `rewiring ${i}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error/, `rewiring ${i}: ${r.stderr}`);
      messages.add(
        r.stderr
          .replace(/'[^']*'/g, "'…'")
          .replace(/\S*r\d+\.onnx/g, 'FILE')
          .trim(),
      );
    } else JSON.parse(r.stdout);
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    fs.rmSync(file);
  }
  // The mutations reach every new rule: cycles or unsorted nodes, double assignment, duplicate names, dangling reads.
  const all = [...messages].join('\n');
  for (const rule of [
    /has a cycle|topological order/,
    /assigned twice/,
    /two nodes are named/,
    /initializer '…' is defined twice/,
    /which no node, input or initializer defines/,
  ]) {
    assert.match(all, rule);
  }
  assert.ok((codes.get(0) ?? 0) > 0, `outcomes ${JSON.stringify([...codes])}`);
});
