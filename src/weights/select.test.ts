import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOnnxAttnError } from '../errors.js';
import { bnParams } from '../modules/common.js';
import type { NamedTensor } from './tensor.js';
import { pickModuleTensors, type TensorSource } from './select.js';

/** A state_dict by key and shape; each tensor's values are its key's length, so a test can tell them apart. */
function source(shapes: Record<string, number[]>): TensorSource {
  const map = new Map(Object.entries(shapes));
  return {
    file: 'best.pt',
    layout: "'model' (a state_dict)",
    shapes: map,
    load: (key): NamedTensor => ({ dtype: 'F32', shape: map.get(key)!, data: new Float32Array(map.get(key)!.reduce((a, b) => a * b, 1)).fill(key.length) }),
  };
}

const nam = (prefix: string, c: number) => Object.fromEntries(bnParams(`${prefix}Channel_Att.bn2`, c).map((p) => [p.key, [...p.shape]]));
const params = (c: number) => bnParams('Channel_Att.bn2', c);
const point = (i = 0, n = 1) => ({ module: 'NAM', point: `head:${i} (C=?)`, pointIndex: i, pointCount: n });

test('the one module whose keys and shapes fit is found; its keys come back without the prefix', () => {
  const src = source({ 'model.0.conv.weight': [4, 3, 3, 3], ...nam('model.10.', 16), ...nam('model.24.', 32), 'model.25.anchors': [3, 3, 2] });
  const picked = pickModuleTensors(src, params(32), point());
  assert.equal(picked.prefix, 'model.24.');
  assert.deepEqual(
    [...picked.tensors.keys()],
    params(32).map((p) => p.key),
  );
  assert.equal(picked.tensors.get('Channel_Att.bn2.weight')!.data[0], 'model.24.Channel_Att.bn2.weight'.length);
  assert.equal(pickModuleTensors(src, params(16), point()).prefix, 'model.10.');
  // A bare state_dict: the empty prefix.
  assert.equal(pickModuleTensors(source(nam('', 8)), params(8), point()).prefix, '');
});

test('a given prefix wins (a final dot is added); a prefix over nothing lists the candidates', () => {
  const src = source({ ...nam('model.10.', 16), ...nam('model.24.', 32) });
  assert.equal(pickModuleTensors(src, params(32), { ...point(), prefix: 'model.10' }).prefix, 'model.10.');
  assert.throws(
    () => pickModuleTensors(src, params(32), { ...point(), prefix: 'model.2.' }),
    (e: Error) =>
      isOnnxAttnError(e) &&
      e.exitCode === 2 &&
      /no tensor under --weights-prefix 'model\.2\.'; modules with NAM's keys: model\.10\. \(Channel_Att\.bn2\.weight \[16\]\), model\.24\. /.test(e.message),
  );
});

test('several points: one fitting module each, or as many as points in checkpoint order; otherwise exit 2', () => {
  const src = source({ ...nam('encoder.fpn.1.', 16), ...nam('encoder.pan.0.', 16), ...nam('encoder.pan.1.', 16) });
  assert.deepEqual(
    [0, 1, 2].map((i) => pickModuleTensors(src, params(16), point(i, 3)).prefix),
    ['encoder.fpn.1.', 'encoder.pan.0.', 'encoder.pan.1.'],
  );
  // One point, three candidates: ambiguous.
  assert.throws(() => pickModuleTensors(src, params(16), point(0, 1)), /3 modules fit NAM at head:0 .*pass --weights-prefix/);
  // Two points, three candidates: no order can be trusted.
  assert.throws(() => pickModuleTensors(src, params(16), point(1, 2)), /3 modules fit/);
  assert.throws(
    () => pickModuleTensors(src, params(64), point()),
    /no NAM in it fits head:0 \(C=\?\), which needs Channel_Att\.bn2\.weight \[64\]; found encoder\.fpn\.1\. /,
  );
  assert.throws(
    () => pickModuleTensors(source({ 'fc.weight': [2, 2] }), params(16), point()),
    /no module in it has NAM's state_dict keys \(Channel_Att\.bn2\.weight, Channel_Att\.bn2\.bias, Channel_Att\.bn2\.running_mean, \.\.\.\)/,
  );
});
