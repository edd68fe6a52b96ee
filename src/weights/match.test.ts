import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, test } from 'node:test';
import { convParams, f32, f64, i32, i64, namParams, namTensors, safetensors, throwsUser, tmpWriter, u16 } from '../../test/weights-files.js';
import { pointPrefixes, resolveWeights } from './match.js';
import { readTensorFile } from './read.js';

const { dir: tmp, write } = tmpWriter('onnx-attn-match-');

suite('resolveWeights', () => {
  test('picks every key, converts F64 and I32 to float32, skips num_batches_tracked', () => {
    const file = write(
      '.safetensors',
      safetensors({
        'Channel_Att.bn2.weight': f64([2], [0.1, -2]),
        'Channel_Att.bn2.bias': i32([2], [3, -4]),
        'Channel_Att.bn2.running_mean': f32([2], [5, 6]),
        'Channel_Att.bn2.running_var': u16('F16', [2], [0x3c00, 0x4000]),
      }),
    );
    const w = resolveWeights(namParams(2), file, readTensorFile(file).tensors);
    assert.deepEqual([...w.keys()], ['Channel_Att.bn2.weight', 'Channel_Att.bn2.bias', 'Channel_Att.bn2.running_mean', 'Channel_Att.bn2.running_var']);
    for (const v of w.values()) assert.ok(v instanceof Float32Array);
    assert.deepEqual([...w.get('Channel_Att.bn2.weight')!], [Math.fround(0.1), -2]);
    assert.deepEqual([...w.get('Channel_Att.bn2.bias')!], [3, -4]);
    assert.deepEqual([...w.get('Channel_Att.bn2.running_var')!], [1, 2]);
  });

  test('num_batches_tracked present (int64 scalar) is accepted and not returned', () => {
    const file = write('.safetensors', safetensors(namTensors(4)));
    const w = resolveWeights(namParams(4), file, readTensorFile(file).tensors);
    assert.equal(w.size, 4);
    assert.ok(!w.has('Channel_Att.bn2.num_batches_tracked'));
  });

  test('multi-point files: the prefix picks the point, other points are ignored, keys come back unprefixed', () => {
    const file = write('.safetensors', safetensors({ ...namTensors(4, '0.', 1), ...namTensors(8, '1.', 10), ...namTensors(4, '12.', 100) }));
    const { tensors } = readTensorFile(file);
    assert.deepEqual(pointPrefixes(tensors), [0, 1, 12]);
    const w0 = resolveWeights(namParams(4), file, tensors, { prefix: '0.' });
    const w1 = resolveWeights(namParams(8), file, tensors, { prefix: '1.' });
    const w12 = resolveWeights(namParams(4), file, tensors, { prefix: '12.' });
    assert.deepEqual([...w0.get('Channel_Att.bn2.weight')!], [1, 2, 3, 4]);
    assert.deepEqual([...w1.get('Channel_Att.bn2.weight')!], [10, 20, 30, 40, 50, 60, 70, 80]);
    assert.deepEqual([...w12.get('Channel_Att.bn2.bias')!], [200, 300, 400, 500]);
    // Point 1 has C=8: asking for C=4 there is a shape error naming the prefixed key.
    throwsUser(
      () => resolveWeights(namParams(4), file, tensors, { prefix: '1.', context: 'C=4' }),
      'BuildError',
      /: 1\.Channel_Att\.bn2\.weight has shape \[8\], expected \[4\] \(C=4\)$/,
      file,
    );
    // A point that is not in the file: missing, with the file's keys nearest first.
    const msg = throwsUser(() => resolveWeights(namParams(4), file, tensors, { prefix: '2.' }), 'BuildError', /no tensor 2\.Channel_Att\.bn2\.weight/, file);
    assert.match(msg, /the file has: [01]\.Channel_Att\.bn2\.weight, /);
    // Without a prefix, prefixed keys are not the module's keys.
    assert.equal(pointPrefixes(readTensorFile(write('.safetensors', safetensors(namTensors(4)))).tensors).length, 0);
  });

  test('an unprefixed stray key in a multi-point file is still an extra key', () => {
    const file = write('.safetensors', safetensors({ ...namTensors(4, '0.'), 'fc.0.weight': f32([1], [1]) }));
    throwsUser(
      () => resolveWeights(namParams(4), file, readTensorFile(file).tensors, { prefix: '0.', module: 'NAM' }),
      'BuildError',
      /1 key\(s\) the NAM at point 0 does not use: fc\.0\.weight/,
      file,
    );
  });

  test('missing key: names it, counts the others, lists the file keys nearest first', () => {
    const t = namTensors(4);
    delete t['Channel_Att.bn2.running_var'];
    const file = write('.safetensors', safetensors(t));
    const msg = throwsUser(
      () => resolveWeights(namParams(4), file, readTensorFile(file).tensors, { module: 'NAM' }),
      'BuildError',
      /^.*: no tensor Channel_Att\.bn2\.running_var for NAM; the file has: /,
      file,
    );
    assert.match(msg, /the file has: Channel_Att\.bn2\.running_mean, /, 'nearest first');
    // Loading SE weights into NAM: every key is missing.
    const se = write('.json', JSON.stringify({ 'fc.0.weight': [[1]], 'fc.2.weight': [[1]] }));
    throwsUser(
      () => resolveWeights(namParams(4), se, readTensorFile(se).tensors),
      'BuildError',
      /no tensor Channel_Att\.bn2\.weight \(and 3 more missing: .*\); the file has: fc\.[02]\.weight, fc\.[02]\.weight$/,
      se,
    );
  });

  test('wrong shape: the exact message', () => {
    const file = path.join(tmp, 'weights.safetensors');
    fs.writeFileSync(file, safetensors(namTensors(32)));
    const msg = throwsUser(() => resolveWeights(namParams(64), file, readTensorFile(file).tensors, { context: 'C=64' }), 'BuildError', /./);
    assert.equal(msg, `${file}: Channel_Att.bn2.weight has shape [32], expected [64] (C=64)`);
    // A rank mismatch too (a Conv1x1 weight given for a Linear).
    const conv = write('.json', JSON.stringify({ 'fc.0.weight': { shape: [16, 64, 1, 1], data: new Array(1024).fill(0) } }));
    throwsUser(
      () => resolveWeights([convParams[0]!], conv, readTensorFile(conv).tensors),
      'BuildError',
      /fc\.0\.weight has shape \[16, 64, 1, 1\], expected \[16, 64\]$/,
      conv,
    );
  });

  test('extra keys (another module or variant): listed', () => {
    const file = write('.safetensors', safetensors({ ...namTensors(4), 'Spatial_Att.bn.weight': f32([2], [1, 1]), 'Spatial_Att.bn.bias': f32([2], [0, 0]) }));
    throwsUser(
      () => resolveWeights(namParams(4), file, readTensorFile(file).tensors, { module: 'NAM' }),
      'BuildError',
      /2 key\(s\) the NAM does not use: Spatial_Att\.bn\.weight, Spatial_Att\.bn\.bias \(another module's or variant's weights\?\); expected: Channel_Att\.bn2\.weight, /,
      file,
    );
  });

  test('non-finite values and a counter with a shape are refused', () => {
    const file = write('.json', JSON.stringify({ 'fc.0.weight': { shape: [16, 64], data: new Array(1024).fill(0) } }));
    const { tensors } = readTensorFile(file);
    (tensors.get('fc.0.weight')!.data as Float64Array)[5] = NaN;
    throwsUser(() => resolveWeights([convParams[0]!], file, tensors), 'BuildError', /fc\.0\.weight holds NaN at flat index 5; weights must be finite/, file);
    const t = namTensors(4);
    t['Channel_Att.bn2.num_batches_tracked'] = i64([2], [1n, 2n]);
    const f2 = write('.safetensors', safetensors(t));
    throwsUser(
      () => resolveWeights(namParams(4), f2, readTensorFile(f2).tensors),
      'BuildError',
      /num_batches_tracked has shape \[2\], expected \[\] \(a counter\)/,
      f2,
    );
  });

  test('a negative running_var is refused: BN would take the square root of it and output NaN', () => {
    const t = namTensors(4);
    t['Channel_Att.bn2.running_var'] = f32([4], [1, 0, -0.5, 2]);
    const file = write('.safetensors', safetensors(t));
    throwsUser(
      () => resolveWeights(namParams(4), file, readTensorFile(file).tensors),
      'BuildError',
      /Channel_Att\.bn2\.running_var holds -0\.5 at flat index 2; a variance cannot be negative$/,
      file,
    );
  });
});
