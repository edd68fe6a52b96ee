import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from '../onnx/proto.js';
import { openSession } from '../runtime/session.js';
import { ModuleBuilder } from './builder.js';
import { findModule, resolveOptions } from './index.js';
import { standaloneModel } from './standalone.js';
import type { ModuleContext } from './types.js';
import { resolveWeights } from '../weights/match.js';
import { readTensorFile } from '../weights/read.js';
import { ROOT } from '../../test/helpers.js';

/**
 * Numerical truth: each golden (scripts/make_goldens.py, from the PyTorch references in scripts/reference_modules.py)
 * holds an input, the reference module's eval output and its state_dict. The module built from that state_dict
 * must reproduce the output in onnxruntime within 1e-5·max(1, max|y|) at every opset the issue names, with static
 * and with dynamic N, H, W.
 */
const GOLDENS = path.join(ROOT, 'fixtures/goldens');
const OPSETS = [11, 12, 13, 14, 17, 18, 21];

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

const files = fs
  .readdirSync(GOLDENS)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();

describe('module goldens (PyTorch reference vs onnxruntime)', () => {
  it('covers every module', () => {
    const names = new Set(files.map((f) => readTensorFile(path.join(GOLDENS, f)).metadata['module']));
    assert.deepEqual([...names].sort(), ['CA', 'CBAM', 'ECA', 'GAM', 'NAM', 'SE', 'SimAM']);
  });

  for (const file of files) {
    it(file, async () => {
      const { tensors, metadata } = readTensorFile(path.join(GOLDENS, file));
      const module = findModule(metadata['module']!);
      const options = resolveOptions(module, JSON.parse(metadata['options']!) as Record<string, string>);
      const x = tensors.get('input')!;
      const y = tensors.get('output')!;
      const [n, c, h, w] = x.shape as [number, number, number, number];
      const expected = y.data as Float32Array;
      const tolerance = 1e-5 * Math.max(1, maxAbs(expected));
      const state = new Map([...tensors].filter(([k]) => k !== 'input' && k !== 'output'));
      for (const dynamic of [false, true]) {
        for (const opset of OPSETS) {
          const ctx: ModuleContext = { channels: c, height: dynamic ? null : h, width: dynamic ? null : w, opset, bnEps: Number(metadata['bn_eps']), options };
          let buildable = true;
          try {
            module.validate(ctx);
          } catch {
            buildable = false; // NAM pixel needs static H, W: checked in modules.test.ts
          }
          if (!buildable) {
            assert.ok(dynamic, `${file} must build with static shapes at opset ${opset}`);
            continue;
          }
          const params = module.params(ctx);
          // The golden's keys are the reference state_dict's: exactly what params() declares, nothing else.
          const weights = resolveWeights(params, file, state, { module: module.name });
          const tape = new ModuleBuilder(opset);
          const out = module.build(tape, tape.input, weights, ctx);
          assert.deepEqual(tape.opCounts(), { ...module.ops(ctx) }, `${file} opset ${opset}: ops() must declare what build() records`);
          const model = standaloneModel(tape, out, { inputDims: dynamic ? ['N', c, 'H', 'W'] : [n, c, h, w], name: module.name });
          const session = await openSession(toBinary(ModelProtoSchema, model), {}, `${file} at opset ${opset}`);
          const [result] = await session.run([{ name: 'x', type: 'float32', dims: [n, c, h, w], data: x.data }]);
          await session.release();
          assert.deepEqual(result!.dims, [n, c, h, w]);
          const got = result!.data as Float32Array;
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
          assert.ok(worst <= tolerance, `${file} opset ${opset}${dynamic ? ' dynamic' : ''}: max abs error ${worst} > ${tolerance}`);
        }
      }
    });
  }
});
