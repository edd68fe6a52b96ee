import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { clone, create } from '@bufbuild/protobuf';
import { loadModelSync } from '../src/onnx/load.js';
import { NodeProtoSchema, OperatorSetIdProtoSchema, ValueInfoProtoSchema } from '../src/onnx/proto.js';
import { saveModel } from '../src/onnx/save.js';
import { fixture, listFiles, runMain, tmpDir } from './helpers.js';

/**
 * insert stages its output (a temporary file beside it) before the check run, runs the staged file, and publishes it
 * only when the run passes: a failed run leaves no file behind and an existing output as it was.
 */

/** yolov8 with one more output, made by an op of a domain onnxruntime does not know: it loads, but cannot run. */
function unrunnableModel(dir: string): string {
  const m = loadModelSync(fixture('yolov8-op12.onnx'));
  const g = m.proto.graph!;
  const last = g.output[0]!;
  g.node.push(create(NodeProtoSchema, { opType: 'Unknown', domain: 'com.example', name: 'unknown_op', input: [last.name], output: ['extra'] }));
  g.output.push(create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, last), name: 'extra' }));
  m.proto.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.example', version: 1n }));
  const file = path.join(dir, 'unrunnable.onnx');
  saveModel(m, file);
  return file;
}

test('a check run that fails writes nothing and leaves the old output as it was', async () => {
  const dir = tmpDir();
  const model = unrunnableModel(dir);
  const out = path.join(dir, 'out.onnx');
  fs.writeFileSync(out, 'old');
  const r = await runMain(['insert', model, '--after', 'head', '--module', 'NAM', '-o', out, '--force']);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^onnx-attn: onnxruntime cannot load the original model: .*Unknown.*\n$/);
  assert.deepEqual(listFiles(dir), ['out.onnx', 'unrunnable.onnx'], 'the staged file is gone');
  assert.equal(fs.readFileSync(out, 'utf8'), 'old');
  const unchecked = await runMain(['insert', model, '--after', 'head', '--module', 'NAM', '-o', out, '--force', '--no-check']);
  assert.equal(unchecked.code, 0, 'without the run the same insert is written: the run is what refused it');
});

test('a check run that passes publishes the staged file: the output is there, no temporary file is', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.onnx');
  const r = await runMain(['insert', fixture('yolov8-op12.onnx'), '--after', 'head', '--module', 'NAM', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { check: { run: { problems: string[]; outputs: unknown[] } } };
  assert.deepEqual(result.check.run.problems, []);
  assert.ok(result.check.run.outputs.length > 0);
  assert.deepEqual(listFiles(dir), ['out.onnx']);
});

test('with external data the run is made from memory (the staged model names a data file not yet published); both files are published', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.onnx');
  const r = await runMain([
    'insert',
    fixture('yolov5-op12.onnx'),
    '--after',
    '23',
    '--module',
    'NAM',
    '--gate',
    'zero',
    '--external-data',
    'always',
    '-o',
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listFiles(dir), ['out.onnx', 'out.onnx.data']);
});
