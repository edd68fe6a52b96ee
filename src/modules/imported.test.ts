import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { loadModelSync } from '../onnx/load.js';
import { encodeModel } from '../onnx/save.js';
import { ModelProtoSchema } from '../onnx/proto.js';
import { openSession } from '../runtime/session.js';
import { tapeFromModel } from './imported.js';
import { standaloneModel } from './standalone.js';
import { ROOT } from '../../test/helpers.js';

test('a torch-exported module recorded as a tape computes exactly what the file does', async () => {
  const dir = path.join(ROOT, 'fixtures/torch-form');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx'));
  assert.ok(files.length >= 10);
  const x = { name: 'x', type: 'float32' as const, dims: [1, 64, 20, 20], data: new Float32Array(64 * 400).map((_, i) => Math.sin(i * 0.1)) };
  for (const f of files) {
    const model = loadModelSync(path.join(dir, f));
    const { tape, output } = tapeFromModel(model.proto, 17);
    assert.equal(tape.nodes.length, model.proto.graph!.node.length, f);
    const rebuilt = toBinary(ModelProtoSchema, standaloneModel(tape, output, { inputDims: [1, 64, 20, 20], name: f }));
    const run = async (bytes: Uint8Array) => {
      const s = await openSession(bytes, {}, f);
      const [y] = await s.run([x]);
      await s.release();
      return y!.data as Float32Array;
    };
    assert.deepEqual(await run(rebuilt), await run(encodeModel(model)), f);
  }
});
