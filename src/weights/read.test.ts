import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { fsWith, withEffects } from '../effects.js';
import { f32, f64, i32, i64, le32, namTensors, npy, safetensors, throwsUser, tmpWriter, u16 } from '../../test/weights-files.js';
import { parseNpy } from './npz.js';
import { readTensorFile } from './read.js';

/** Repository root (this file runs from dist/src/weights/). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GOLDENS = path.join(ROOT, 'fixtures/goldens');

const { dir: tmp, write } = tmpWriter('onnx-attn-weights-');

// A real numpy 1.24 `np.savez` / `np.savez_compressed` of {'fc.0.weight': f32 [2,3] = arange/4, 'fc.0.bias': f64
// [-1.5, 2.25], 'bn.num_batches_tracked': i64 7, 'h': f16 [1, -2.5]}. numpy forces zip64 local headers.
const NUMPY_SAVEZ =
  'UEsDBBQAAAAAAAAAIQAKnACkmAAAAJgAAAAPABQAZmMuMC53ZWlnaHQubnB5AQAQAJgAAAAAAAAAmAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgAAAAAAAIA+AAAAPwAAQD8AAIA/AACgP1BLAwQUAAAAAAAAACEAXXke+JAAAACQAAAADQAUAGZjLjAuYmlhcy5ucHkBABAAkAAAAAAAAACQAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxmOCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAAAAAAA+L8AAAAAAAACQFBLAwQUAAAAAAAAACEAI7jwbIgAAACIAAAAGgAUAGJuLm51bV9iYXRjaGVzX3RyYWNrZWQubnB5AQAQAIgAAAAAAAAAiAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgcAAAAAAAAAUEsDBBQAAAAAAAAAIQBLJQF4hAAAAIQAAAAFABQAaC5ucHkBABAAhAAAAAAAAACEAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxmMicsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKADwAwVBLAQIUAxQAAAAAAAAAIQAKnACkmAAAAJgAAAAPAAAAAAAAAAAAAACAAQAAAABmYy4wLndlaWdodC5ucHlQSwECFAMUAAAAAAAAACEAXXke+JAAAACQAAAADQAAAAAAAAAAAAAAgAHZAAAAZmMuMC5iaWFzLm5weVBLAQIUAxQAAAAAAAAAIQAjuPBsiAAAAIgAAAAaAAAAAAAAAAAAAACAAagBAABibi5udW1fYmF0Y2hlc190cmFja2VkLm5weVBLAQIUAxQAAAAAAAAAIQBLJQF4hAAAAIQAAAAFAAAAAAAAAAAAAACAAXwCAABoLm5weVBLBQYAAAAABAAEAPMAAAA3AwAAAAA=';
const NUMPY_SAVEZ_COMPRESSED =
  'UEsDBBQAAAAIAAAAIQAKnACkVgAAAJgAAAAPABQAZmMuMC53ZWlnaHQubnB5AQAQAJgAAAAAAAAAVgAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2airqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOgrGmjoKtQpkAy4GMGiwAxL2DAwOQNwAxAvsAVBLAwQUAAAACAAAACEAXXke+E0AAACQAAAADQAUAGZjLjAuYmlhcy5ucHkBABAAkAAAAAAAAABNAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC4GMPixH0IzOQAAUEsDBBQAAAAIAAAAIQAjuPBsRgAAAIgAAAAaABQAYm4ubnVtX2JhdGNoZXNfdHJhY2tlZC5ucHkBABAAiAAAAAAAAABGAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5Gpo6CrUKFAEudgYIAABQSwMEFAAAAAgAAAAhAEslAXhIAAAAhAAAAAUAFABoLm5weQEAEACEAAAAAAAAAEgAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmpK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALgYbhoMAUEsBAhQDFAAAAAgAAAAhAAqcAKRWAAAAmAAAAA8AAAAAAAAAAAAAAIABAAAAAGZjLjAud2VpZ2h0Lm5weVBLAQIUAxQAAAAIAAAAIQBdeR74TQAAAJAAAAANAAAAAAAAAAAAAACAAZcAAABmYy4wLmJpYXMubnB5UEsBAhQDFAAAAAgAAAAhACO48GxGAAAAiAAAABoAAAAAAAAAAAAAAIABIwEAAGJuLm51bV9iYXRjaGVzX3RyYWNrZWQubnB5UEsBAhQDFAAAAAgAAAAhAEslAXhIAAAAhAAAAAUAAAAAAAAAAAAAAIABtQEAAGgubnB5UEsFBgAAAAAEAAQA8wAAADQCAAAAAA==';

// ----------------------------------------------------------------------------------------------------------------

suite('readTensorFile: safetensors', () => {
  test('every dtype round-trips, with metadata; F16 and BF16 widen to float32', () => {
    const file = write(
      '.safetensors',
      safetensors(
        {
          a: f32([2, 3], [0, 1, 2, 3, 4, -5.5]),
          b: f64([2], [Math.PI, -1e300]),
          c: i64([], [9007199254740993n]),
          d: i32([3], [-1, 0, 2147483647]),
          // 1.0, -2.5, 65504, 2^-24 (subnormal), +inf
          h: u16('F16', [5], [0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00]),
          // bf16 of 1.0 and -3.0
          g: u16('BF16', [2], [0x3f80, 0xc040]),
        },
        { module: 'NAM', options: '{"spatial":"channel"}' },
      ),
    );
    const { tensors, metadata } = readTensorFile(file);
    assert.deepEqual(metadata, { module: 'NAM', options: '{"spatial":"channel"}' });
    assert.deepEqual([...tensors.keys()], ['a', 'b', 'c', 'd', 'h', 'g']);
    const a = tensors.get('a')!;
    assert.equal(a.dtype, 'F32');
    assert.deepEqual(a.shape, [2, 3]);
    assert.ok(a.data instanceof Float32Array);
    assert.deepEqual([...a.data], [0, 1, 2, 3, 4, -5.5]);
    assert.deepEqual([...tensors.get('b')!.data], [Math.PI, -1e300]);
    assert.ok(tensors.get('b')!.data instanceof Float64Array);
    const c = tensors.get('c')!;
    assert.deepEqual(c.shape, []);
    assert.ok(c.data instanceof BigInt64Array);
    assert.equal(c.data[0], 9007199254740993n);
    assert.deepEqual([...tensors.get('d')!.data], [-1, 0, 2147483647]);
    const h = tensors.get('h')!;
    assert.equal(h.dtype, 'F16');
    assert.ok(h.data instanceof Float32Array);
    assert.deepEqual([...h.data], [1, -2.5, 65504, Math.fround(2 ** -24), Infinity]);
    assert.deepEqual([...tensors.get('g')!.data], [1, -3]);
  });

  test('unaligned data offsets (a 2-byte tensor before a float32) still decode', () => {
    const file = write('.safetensors', safetensors({ h: u16('F16', [1], [0x3c00]), x: f32([2], [1.5, -2]) }));
    assert.deepEqual([...readTensorFile(file).tensors.get('x')!.data], [1.5, -2]);
  });

  test('the golden files read back with consistent headers', () => {
    for (const name of fs.readdirSync(GOLDENS).filter((n) => n.endsWith('.safetensors'))) {
      const { tensors, metadata } = readTensorFile(path.join(GOLDENS, name));
      assert.ok(tensors.has('input') && tensors.has('output'), name);
      assert.ok(metadata.module && metadata.options && metadata.bn_eps, name);
    }
  });
});

suite('readTensorFile: npz', () => {
  test('hand-built .npy versions 1, 2 and 3, every dtype, big-endian, scalars', () => {
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.25, false);
    new DataView(be.buffer).setFloat32(4, -3, false);
    const file = write(
      '.npz',
      zipSync({
        'Channel_Att.bn2.weight.npy': npy('<f4', [2, 2], le32([1, 2, 3, 4])),
        'v2.npy': npy('<f8', [3], new Uint8Array(new Float64Array([0.1, 0.2, 0.3]).buffer), { version: 2 }),
        'v3.npy': npy('<i4', [2], new Uint8Array(new Int32Array([7, -7]).buffer), { version: 3 }),
        'n.npy': npy('<i8', [], new Uint8Array(new BigInt64Array([42n]).buffer)),
        'h.npy': npy('<f2', [1], new Uint8Array(new Uint16Array([0xc100]).buffer)),
        'be.npy': npy('>f4', [2], be),
        'empty.npy': npy('<f4', [0, 3], new Uint8Array(0)),
      }),
    );
    const { tensors, metadata } = readTensorFile(file);
    assert.deepEqual(metadata, {});
    const w = tensors.get('Channel_Att.bn2.weight')!;
    assert.deepEqual([w.dtype, w.shape, [...w.data]], ['F32', [2, 2], [1, 2, 3, 4]]);
    assert.deepEqual([...tensors.get('v2')!.data], [0.1, 0.2, 0.3]);
    assert.deepEqual([tensors.get('v3')!.dtype, [...tensors.get('v3')!.data]], ['I32', [7, -7]]);
    assert.deepEqual([tensors.get('n')!.shape, tensors.get('n')!.data[0]], [[], 42n]);
    assert.deepEqual([...tensors.get('h')!.data], [-2.5]);
    assert.deepEqual([...tensors.get('be')!.data], [1.25, -3]);
    assert.deepEqual(tensors.get('empty')!.shape, [0, 3]);
  });

  test('real numpy savez and savez_compressed files (zip64 local headers)', () => {
    for (const b64 of [NUMPY_SAVEZ, NUMPY_SAVEZ_COMPRESSED]) {
      const { tensors } = readTensorFile(write('.npz', Buffer.from(b64, 'base64')));
      assert.deepEqual([...tensors.keys()].sort(), ['bn.num_batches_tracked', 'fc.0.bias', 'fc.0.weight', 'h']);
      const w = tensors.get('fc.0.weight')!;
      assert.deepEqual([w.dtype, w.shape, [...w.data]], ['F32', [2, 3], [0, 0.25, 0.5, 0.75, 1, 1.25]]);
      assert.deepEqual([tensors.get('fc.0.bias')!.dtype, [...tensors.get('fc.0.bias')!.data]], ['F64', [-1.5, 2.25]]);
      const n = tensors.get('bn.num_batches_tracked')!;
      assert.deepEqual([n.dtype, n.shape, n.data[0]], ['I64', [], 7n]);
      assert.deepEqual([...tensors.get('h')!.data], [1, -2.5]);
    }
  });
});

suite('readTensorFile: json', () => {
  test('nested arrays, {shape, data}, scalars and __metadata__', () => {
    const file = write(
      '.json',
      JSON.stringify({
        __metadata__: { module: 'SE' },
        'fc.0.weight': [
          [1, 2, 3],
          [4, 5, 6],
        ],
        'fc.2.weight': { shape: [3, 2], data: [1, 2, 3, 4, 5, 6] },
        'bn.num_batches_tracked': 0,
        'conv.weight': { shape: [1, 1, 2], data: [[[0.5, -0.5]]] },
      }),
    );
    const { tensors, metadata } = readTensorFile(file);
    assert.deepEqual(metadata, { module: 'SE' });
    assert.deepEqual(tensors.get('fc.0.weight')!.shape, [2, 3]);
    assert.deepEqual([...tensors.get('fc.0.weight')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(tensors.get('fc.2.weight')!.shape, [3, 2]);
    assert.deepEqual(tensors.get('bn.num_batches_tracked')!.shape, []);
    assert.deepEqual([...tensors.get('conv.weight')!.data], [0.5, -0.5]);
  });
});

suite('readTensorFile: a path that is no file is UsageError (exit 2), malformed content DataFileError (exit 4), one line naming the file', () => {
  const good = safetensors(namTensors(4));

  test('missing file, directory, unknown extension', () => {
    const missing = path.join(tmp, 'nope.safetensors');
    throwsUser(() => readTensorFile(missing), 'UsageError', /no such file/, missing);
    const dir = path.join(tmp, 'dir.npz');
    fs.mkdirSync(dir);
    throwsUser(() => readTensorFile(dir), 'UsageError', /is a directory/, dir);
    const ckpt = write('.ckpt', 'x');
    throwsUser(() => readTensorFile(ckpt), 'UsageError', /unknown weights format '\.ckpt'.*safetensors\.torch\.save_file/, ckpt);
    // .pt and .pth are PyTorch checkpoints (src/weights): content that is none is the file's fault.
    const pt = write('.pt', 'x');
    throwsUser(() => readTensorFile(pt), 'DataFileError', /not a valid PyTorch checkpoint: neither a zip nor a pickle/, pt);
    const none = write('', 'x');
    throwsUser(() => readTensorFile(none), 'UsageError', /unknown weights format '\(no extension\)'/, none);
  });

  test('a read the file system refuses (EIO, through the effects seam) is the path at fault, for every format', () => {
    const eio = () => {
      throw Object.assign(new Error('i/o error'), { code: 'EIO' });
    };
    const files = [write('.safetensors', safetensors(namTensors(2))), write('.json', '{}'), write('.npz', zipSync({})), write('.pt', 'x')];
    for (const file of files) {
      const message = withEffects({ fs: fsWith({ readFileSync: eio }) }, () => throwsUser(() => readTensorFile(file), 'UsageError', /./, file));
      assert.equal(message, `${file}: cannot read (EIO)`);
    }
    // The safetensors header is read first, when the module's keys are known: its open goes through the seam too.
    const file = files[0]!;
    const expect = { keys: new Set(['Channel_Att.bn2.weight']), module: 'NAM' };
    const message = withEffects({ fs: fsWith({ openSync: eio }) }, () => throwsUser(() => readTensorFile(file, { expect }), 'UsageError', /./, file));
    assert.equal(message, `${file}: cannot read (EIO)`);
  });

  test('truncated safetensors: in the length, in the header, in the data', () => {
    for (const [cut, re] of [
      [5, /truncated \(5 bytes/],
      [40, /header of \d+ bytes runs past the end/],
      [good.length - 3, /lie outside the \d+-byte data section \(truncated\?\)/],
    ] as const) {
      const f = write('.safetensors', good.subarray(0, cut));
      throwsUser(() => readTensorFile(f), 'DataFileError', re, f);
    }
  });

  test('a header length over 100 MB, a header that is not JSON or not an object', () => {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    const f1 = write('.safetensors', huge);
    throwsUser(() => readTensorFile(f1), 'DataFileError', /exceeds the 104857600-byte limit/, f1);
    const mk = (json: string) => {
      const h = new TextEncoder().encode(json);
      const b = new Uint8Array(8 + h.length);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      return write('.safetensors', b);
    };
    const f2 = mk('{"a": {"dtype"');
    throwsUser(() => readTensorFile(f2), 'DataFileError', /header is not JSON/, f2);
    const f3 = mk('[1,2]');
    throwsUser(() => readTensorFile(f3), 'DataFileError', /not a JSON object/, f3);
    const f4 = mk('{"__metadata__": {"a": 1}}');
    throwsUser(() => readTensorFile(f4), 'DataFileError', /__metadata__\.a is not a string/, f4);
  });

  test('bad entries: dtype, shape, offsets, size mismatch', () => {
    const cases: [(h: Record<string, unknown>) => void, RegExp][] = [
      [(h) => ((h.x as { dtype: string }).dtype = 'U8'), /x has dtype "U8" \(supported: F32, F64, F16, BF16, I64, I32\)/],
      [(h) => ((h.x as { shape: unknown }).shape = [2, -1]), /x has shape \[2,-1\], not a list of non-negative integers/],
      [(h) => ((h.x as { data_offsets: unknown }).data_offsets = [0]), /x has data_offsets \[0\], not \[begin, end\]/],
      [(h) => ((h.x as { data_offsets: unknown }).data_offsets = [8, 4]), /x data_offsets \[8, 4\] lie outside/],
      [(h) => ((h.x as { shape: unknown }).shape = [3]), /x holds 8 bytes, but F32 \[3\] needs 12/],
    ];
    for (const [mutate, re] of cases) {
      const f = write('.safetensors', safetensors({ x: f32([2], [1, 2]) }, undefined, mutate));
      throwsUser(() => readTensorFile(f), 'DataFileError', re, f);
    }
  });

  test('npz: not a zip, a member that is not .npy, bad magic, bad header, fortran order, bad dtype, truncated data', () => {
    const f0 = write('.npz', 'this is not a zip archive at all');
    throwsUser(() => readTensorFile(f0), 'DataFileError', /not a valid \.npz \(zip\) file/, f0);
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('PK not numpy'), /missing the \\x93NUMPY magic/],
      [npy('<f4', [2], le32([1, 2]), { header: "{'descr': '<f4', 'shape': (2,), }" }), /lacks 'descr', 'fortran_order' or 'shape'/],
      [npy('<f4', [2], le32([1, 2]), { header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }" }), /shape \(2, x\) is not a tuple of integers/],
      [npy('<f4', [2, 2], le32([1, 2, 3, 4]), { fortran: true }), /fortran_order is True/],
      [npy('|O', [1], new Uint8Array(8)), /dtype '\|O' is not supported/],
      [npy('<u2', [1], new Uint8Array(2)), /dtype '<u2' is not supported/],
      [npy('<f4', [3], le32([1, 2])), /<f4 \[3\] needs 12 data bytes, found 8 \(truncated\)/],
      [npy('<f4', [2], le32([1, 2])).subarray(0, 40), /header of \d+ bytes runs past the end/],
    ];
    for (const [bytes, re] of cases) {
      const f = write('.npz', zipSync({ 'k.npy': bytes }));
      throwsUser(() => readTensorFile(f), 'DataFileError', re, f);
    }
    const other = write('.npz', zipSync({ 'readme.txt': new TextEncoder().encode('hi') }));
    throwsUser(() => readTensorFile(other), 'DataFileError', /member readme\.txt of the \.npz is not a \.npy array/, other);
    // parseNpy names the member too.
    assert.throws(() => parseNpy('w.npz: k.npy', new Uint8Array(3)), /^DataFileError: w\.npz: k\.npy: not a valid \.npy array/);
  });

  test('json: syntax, top level, ragged arrays, non-numbers, size mismatch', () => {
    const cases: [string, RegExp][] = [
      ['{"a": [1, 2', /not a valid weights JSON file/],
      ['[1, 2]', /top level is not an object/],
      ['{"a": [[1, 2], [3]]}', /a is not a number, a rectangular nested array/],
      ['{"a": [1, "2"]}', /a is not a number, a rectangular nested array/],
      ['{"a": {"shape": [2], "data": [1, null]}}', /a holds null, not a number/],
      ['{"a": {"shape": [3], "data": [1, 2]}}', /a has 2 values, but shape \[3\] needs 3/],
      ['{"a": {"shape": "3", "data": [1, 2, 3]}}', /a\.shape is "3"/],
    ];
    for (const [text, re] of cases) {
      const f = write('.json', text);
      throwsUser(() => readTensorFile(f), 'DataFileError', re, f);
    }
  });
});

suite('golden files: the shapes their metadata implies', () => {
  /** Expected state_dict shapes from the module, options and C, H, W (attention-modules.md). */
  function expectedShapes(module: string, opts: Record<string, string>, c: number, h: number, w: number): Record<string, number[]> {
    const bn = (p: string, n: number) => ({
      [`${p}.weight`]: [n],
      [`${p}.bias`]: [n],
      [`${p}.running_mean`]: [n],
      [`${p}.running_var`]: [n],
      [`${p}.num_batches_tracked`]: [],
    });
    switch (module) {
      case 'NAM':
        return { ...bn('Channel_Att.bn2', c), ...(opts.spatial === 'pixel' ? bn('Spatial_Att.bn', h * w) : {}) };
      case 'GAM': {
        const r = Number(opts.rate);
        const cr = Math.floor(c / r);
        const g = opts.variant === 'grouped' ? r : 1;
        return {
          'channel_attention.0.weight': [cr, c],
          'channel_attention.0.bias': [cr],
          'channel_attention.2.weight': [c, cr],
          'channel_attention.2.bias': [c],
          'spatial_attention.0.weight': [cr, c / g, 7, 7],
          'spatial_attention.0.bias': [cr],
          ...bn('spatial_attention.1', cr),
          'spatial_attention.3.weight': [c, cr / g, 7, 7],
          'spatial_attention.3.bias': [c],
          ...bn('spatial_attention.4', c),
        };
      }
      case 'SimAM':
        return {};
      case 'SE': {
        const cr = Math.floor(c / Number(opts.reduction));
        return { 'fc.0.weight': [cr, c], 'fc.2.weight': [c, cr] };
      }
      case 'CBAM': {
        if (opts.variant === 'ultralytics') {
          const k = Number(opts.kernel);
          return { 'channel_attention.fc.weight': [c, c, 1, 1], 'channel_attention.fc.bias': [c], 'spatial_attention.cv1.weight': [1, 2, k, k] };
        }
        const cr = Math.floor(c / Number(opts.reduction));
        return {
          'ChannelGate.mlp.1.weight': [cr, c],
          'ChannelGate.mlp.1.bias': [cr],
          'ChannelGate.mlp.3.weight': [c, cr],
          'ChannelGate.mlp.3.bias': [c],
          'SpatialGate.spatial.conv.weight': [1, 2, 7, 7],
          ...bn('SpatialGate.spatial.bn', 1),
        };
      }
      case 'ECA': {
        const t = Math.trunc(Math.abs((Math.log2(c) + 1) / 2));
        const k = opts.k === 'auto' ? (t % 2 ? t : t + 1) : Number(opts.k);
        return { 'conv.weight': [1, 1, k] };
      }
      case 'CA': {
        const mip = Math.max(8, Math.floor(c / Number(opts.reduction)));
        return {
          'conv1.weight': [mip, c, 1, 1],
          'conv1.bias': [mip],
          ...bn('bn1', mip),
          'conv_h.weight': [c, mip, 1, 1],
          'conv_h.bias': [c],
          'conv_w.weight': [c, mip, 1, 1],
          'conv_w.bias': [c],
        };
      }
      default:
        throw new Error(`unknown module ${module}`);
    }
  }

  const names = fs.existsSync(GOLDENS)
    ? fs
        .readdirSync(GOLDENS)
        .filter((n) => n.endsWith('.safetensors'))
        .sort()
    : [];

  test('there is a golden for every module', () => {
    const modules = new Set(names.map((n) => readTensorFile(path.join(GOLDENS, n)).metadata.module));
    assert.deepEqual([...modules].sort(), ['CA', 'CBAM', 'ECA', 'GAM', 'NAM', 'SE', 'SimAM']);
  });

  for (const name of names) {
    test(name, () => {
      const { tensors, metadata } = readTensorFile(path.join(GOLDENS, name));
      const opts = JSON.parse(metadata.options!) as Record<string, string>;
      assert.ok(Number.isFinite(Number(metadata.bn_eps)) && Number(metadata.bn_eps) > 0);
      const x = tensors.get('input')!;
      const y = tensors.get('output')!;
      assert.equal(x.dtype, 'F32');
      assert.equal(y.dtype, 'F32');
      assert.equal(x.shape.length, 4);
      assert.deepEqual(y.shape, x.shape);
      const [n, c, h, w] = x.shape as [number, number, number, number];
      assert.equal(n, 2);
      assert.ok(name.startsWith(`${metadata.module!.toLowerCase()}-${metadata.variant}-`), `${name} is <module>-<variant>-<tag>`);
      assert.ok(name.includes(`-${h}x${w}.`), `${name} names its map size`);
      assert.ok(
        y.data.every((v) => Number.isFinite(v)),
        'finite output',
      );
      const expected = expectedShapes(metadata.module!, opts, c, h, w);
      const got: Record<string, number[]> = {};
      for (const [k, t] of tensors) if (k !== 'input' && k !== 'output') got[k] = t.shape;
      assert.deepEqual(got, expected);
      for (const [k, t] of tensors) {
        assert.equal(t.dtype, k.endsWith('num_batches_tracked') ? 'I64' : 'F32', k);
      }
    });
  }
});
