import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { toBinary, create } from '@bufbuild/protobuf';
import { TensorProtoSchema, ModelProtoSchema } from '../src/onnx/proto.js';
import { decodeModel } from '../src/onnx/load.js';
import { fixture, listFiles, runBin, tmpDir } from './helpers.js';

/** One line on stderr, no stack trace, the documented exit code, and nothing written. */
function assertCleanFailure(r: { code: number; stdout: string; stderr: string }, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^onnx-attn: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const dir = tmpDir();
const v5 = fixture('yolov5-op12.onnx');
const bytes = fs.readFileSync(v5);

const cases: [string, () => string, RegExp][] = [
  ['a missing file', () => path.join(dir, 'nope.onnx'), /no such file/],
  ['a directory', () => dir, /is a directory/],
  ['an empty file', () => write('empty.onnx', Buffer.alloc(0)), /is empty/],
  ['random bytes', () => write('random.onnx', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))), /not a valid ONNX protobuf|not an ONNX ModelProto|damaged/],
  ['a truncated model', () => write('truncated.onnx', bytes.subarray(0, Math.floor(bytes.length * 0.6))), /not a valid ONNX protobuf|truncated|damaged/],
  [
    'a protobuf that is not a ModelProto',
    () => write('tensor.onnx', Buffer.from(toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 'w', dims: [2n], dataType: 1, floatData: [1, 2] })))),
    /not an ONNX ModelProto|not a valid ONNX protobuf/,
  ],
];

function write(name: string, data: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

for (const [what, make, pattern] of cases) {
  test(`inspect refuses ${what} with exit 4 and one line`, () => {
    const file = make();
    const before = listFiles(dir);
    assertCleanFailure(runBin(['inspect', file]), 4, pattern);
    assert.deepEqual(listFiles(dir), before);
  });
}

test('external data: missing, short and escaping files are exit 4', () => {
  const src = fixture('yolov5-external/yolov5-op12.onnx');
  const d = tmpDir();
  fs.copyFileSync(src, path.join(d, 'm.onnx'));
  assertCleanFailure(runBin(['inspect', path.join(d, 'm.onnx')]), 4, /external data file 'yolov5-op12.onnx.data' of tensor .* not found/);
  fs.writeFileSync(path.join(d, 'yolov5-op12.onnx.data'), Buffer.alloc(100));
  assertCleanFailure(runBin(['inspect', path.join(d, 'm.onnx')]), 4, /is 100 bytes, but tensor/);
  const proto = decodeModel(fs.readFileSync(src));
  for (const t of proto.graph!.initializer) for (const e of t.externalData) if (e.key === 'location') e.value = '../outside.data';
  fs.writeFileSync(path.join(d, 'escape.onnx'), toBinary(ModelProtoSchema, proto));
  assertCleanFailure(runBin(['inspect', path.join(d, 'escape.onnx')]), 4, /outside the model's folder; refused/);
});

test('an unknown SPEC and an ambiguous module are exit 4 with the candidates', () => {
  assertCleanFailure(runBin(['inspect', v5, '--at', '99']), 4, /layer 99 not found: this yolov5 model has layers 0\.\.24/);
  assertCleanFailure(runBin(['inspect', v5, '--at', 'model.23/cv9']), 4, /matches no layer, scope, node or tensor/);
  assertCleanFailure(runBin(['inspect', v5, '--at', 'node:/model.23/nope']), 4, /node '\/model.23\/nope' not found/);
  // C3's inner Bottleneck scope m has one boundary, but the whole model.2 'm' + 'cv1' ... an SPPF pool chain is ambiguous:
  // the official RT-DETR encoder glue has several boundary tensors.
  assertCleanFailure(
    runBin(['inspect', fixture('rtdetr-official-op16.onnx'), '--no-probe', '--at', 'model/encoder']),
    4,
    /is ambiguous: scope model\/encoder has \d+ boundary tensors; pick one with model\/encoder#0: /,
  );
});

test('usage errors are exit 2', () => {
  const r1 = runBin(['frobnicate']);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /^onnx-attn: Unknown argument: frobnicate/);
  const r0 = runBin([]);
  assert.equal(r0.code, 2);
  assert.equal(r0.stderr, "onnx-attn: name a command: inspect, insert, validate, compare, sweep, apply, convert, modules, doctor (see 'onnx-attn --help')\n");
  const r2 = runBin(['inspect']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /Not enough non-option arguments/);
  const r3 = runBin(['convert', v5, path.join(tmpDir(), 'o.onnx'), '--external-data', 'sometimes']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /Invalid values:/);
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'exists.onnx'), 'x');
  const r4 = runBin(['convert', v5, path.join(d, 'exists.onnx')]);
  assertCleanFailure(r4, 2, /already exists; pass --force/);
  assert.equal(fs.readFileSync(path.join(d, 'exists.onnx'), 'utf8'), 'x');
});

test('--debug shows the stack trace', () => {
  const r = runBin(['inspect', path.join(dir, 'nope.onnx'), '--debug']);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /\n\s+at /);
});
