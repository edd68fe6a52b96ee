import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { isOnnxAttnError } from '../errors.js';
import type { ParamSpec } from '../modules/types.js';
import { initWeights, Xoshiro128 } from './init.js';
import { pointPrefixes, resolveWeights } from './match.js';
import { parseNpy } from './npz.js';
import { readTensorFile } from './read.js';

/** Repository root (this file runs from dist/src/weights/). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GOLDENS = path.join(ROOT, 'fixtures/goldens');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-weights-'));
let fileNo = 0;
function write(ext: string, bytes: Uint8Array | string): string {
  const p = path.join(tmp, `w${fileNo++}${ext}`);
  fs.writeFileSync(p, bytes);
  return p;
}

// ----------------------------------------------------------------------------------------------------------------
// Hand-built files

type Raw = { dtype: string; shape: number[]; bytes: Uint8Array };
const f32 = (shape: number[], values: number[]): Raw => ({ dtype: 'F32', shape, bytes: new Uint8Array(new Float32Array(values).buffer) });
const f64 = (shape: number[], values: number[]): Raw => ({ dtype: 'F64', shape, bytes: new Uint8Array(new Float64Array(values).buffer) });
const i64 = (shape: number[], values: bigint[]): Raw => ({ dtype: 'I64', shape, bytes: new Uint8Array(new BigInt64Array(values).buffer) });
const i32 = (shape: number[], values: number[]): Raw => ({ dtype: 'I32', shape, bytes: new Uint8Array(new Int32Array(values).buffer) });
const u16 = (dtype: string, shape: number[], bits: number[]): Raw => ({ dtype, shape, bytes: new Uint8Array(new Uint16Array(bits).buffer) });

/** The safetensors layout: u64 LE header length, JSON header padded with spaces to 8 bytes, data. */
function safetensors(entries: Record<string, Raw>, metadata?: Record<string, string>, mutate?: (h: Record<string, unknown>) => void): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [k, r] of Object.entries(entries)) {
    header[k] = { dtype: r.dtype, shape: r.shape, data_offsets: [offset, offset + r.bytes.length] };
    offset += r.bytes.length;
  }
  mutate?.(header);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const r of Object.values(entries)) {
    out.set(r.bytes, at);
    at += r.bytes.length;
  }
  return out;
}

/** A .npy array: magic, version, header length (u16 for v1, u32 for v2/v3), dict header padded to 64 bytes. */
function npy(descr: string, shape: number[], bytes: Uint8Array, opts: { version?: 1 | 2 | 3; fortran?: boolean; header?: string } = {}): Uint8Array {
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = opts.header ?? `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const lenSize = version === 1 ? 2 : 4;
  const pad = (64 - ((8 + lenSize + dict.length + 1) % 64)) % 64;
  dict += ' '.repeat(pad) + '\n';
  const head = new TextEncoder().encode(dict);
  const out = new Uint8Array(8 + lenSize + head.length + bytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, head.length, true);
  else dv.setUint32(8, head.length, true);
  out.set(head, 8 + lenSize);
  out.set(bytes, 8 + lenSize + head.length);
  return out;
}

const le32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

/** Asserts `fn` throws an onnx-attn error of this class and exit status, one line naming the file, matching `re`. */
function throwsUser(fn: () => unknown, name: 'UsageError' | 'BuildError' | 'DataFileError', re: RegExp, file?: string): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a ${name}`);
  assert.ok(isOnnxAttnError(caught), `expected an onnx-attn error, got ${String(caught)}`);
  assert.equal(caught.name, name, caught.message);
  assert.equal(caught.exitCode, name === 'UsageError' ? 2 : 4);
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`);
  if (file) assert.ok(caught.message.startsWith(`${file}: `), `names the file: ${caught.message}`);
  assert.match(caught.message, re);
  return caught.message;
}

// A real numpy 1.24 `np.savez` / `np.savez_compressed` of {'fc.0.weight': f32 [2,3] = arange/4, 'fc.0.bias': f64
// [-1.5, 2.25], 'bn.num_batches_tracked': i64 7, 'h': f16 [1, -2.5]}. numpy forces zip64 local headers.
const NUMPY_SAVEZ =
  'UEsDBBQAAAAAAAAAIQAKnACkmAAAAJgAAAAPABQAZmMuMC53ZWlnaHQubnB5AQAQAJgAAAAAAAAAmAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgAAAAAAAIA+AAAAPwAAQD8AAIA/AACgP1BLAwQUAAAAAAAAACEAXXke+JAAAACQAAAADQAUAGZjLjAuYmlhcy5ucHkBABAAkAAAAAAAAACQAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxmOCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAAAAAAA+L8AAAAAAAACQFBLAwQUAAAAAAAAACEAI7jwbIgAAACIAAAAGgAUAGJuLm51bV9iYXRjaGVzX3RyYWNrZWQubnB5AQAQAIgAAAAAAAAAiAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgcAAAAAAAAAUEsDBBQAAAAAAAAAIQBLJQF4hAAAAIQAAAAFABQAaC5ucHkBABAAhAAAAAAAAACEAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxmMicsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKADwAwVBLAQIUAxQAAAAAAAAAIQAKnACkmAAAAJgAAAAPAAAAAAAAAAAAAACAAQAAAABmYy4wLndlaWdodC5ucHlQSwECFAMUAAAAAAAAACEAXXke+JAAAACQAAAADQAAAAAAAAAAAAAAgAHZAAAAZmMuMC5iaWFzLm5weVBLAQIUAxQAAAAAAAAAIQAjuPBsiAAAAIgAAAAaAAAAAAAAAAAAAACAAagBAABibi5udW1fYmF0Y2hlc190cmFja2VkLm5weVBLAQIUAxQAAAAAAAAAIQBLJQF4hAAAAIQAAAAFAAAAAAAAAAAAAACAAXwCAABoLm5weVBLBQYAAAAABAAEAPMAAAA3AwAAAAA=';
const NUMPY_SAVEZ_COMPRESSED =
  'UEsDBBQAAAAIAAAAIQAKnACkVgAAAJgAAAAPABQAZmMuMC53ZWlnaHQubnB5AQAQAJgAAAAAAAAAVgAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2airqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOgrGmjoKtQpkAy4GMGiwAxL2DAwOQNwAxAvsAVBLAwQUAAAACAAAACEAXXke+E0AAACQAAAADQAUAGZjLjAuYmlhcy5ucHkBABAAkAAAAAAAAABNAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC4GMPixH0IzOQAAUEsDBBQAAAAIAAAAIQAjuPBsRgAAAIgAAAAaABQAYm4ubnVtX2JhdGNoZXNfdHJhY2tlZC5ucHkBABAAiAAAAAAAAABGAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5Gpo6CrUKFAEudgYIAABQSwMEFAAAAAgAAAAhAEslAXhIAAAAhAAAAAUAFABoLm5weQEAEACEAAAAAAAAAEgAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmpK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALgYbhoMAUEsBAhQDFAAAAAgAAAAhAAqcAKRWAAAAmAAAAA8AAAAAAAAAAAAAAIABAAAAAGZjLjAud2VpZ2h0Lm5weVBLAQIUAxQAAAAIAAAAIQBdeR74TQAAAJAAAAANAAAAAAAAAAAAAACAAZcAAABmYy4wLmJpYXMubnB5UEsBAhQDFAAAAAgAAAAhACO48GxGAAAAiAAAABoAAAAAAAAAAAAAAIABIwEAAGJuLm51bV9iYXRjaGVzX3RyYWNrZWQubnB5UEsBAhQDFAAAAAgAAAAhAEslAXhIAAAAhAAAAAUAAAAAAAAAAAAAAIABtQEAAGgubnB5UEsFBgAAAAAEAAQA8wAAADQCAAAAAA==';

/** NAM channel params at C=4 (as the NAM builder declares them). */
function namParams(c: number): ParamSpec[] {
  const bn = 'Channel_Att.bn2.';
  return [
    { key: `${bn}weight`, shape: [c], init: { kind: 'ones' }, trainable: true },
    { key: `${bn}bias`, shape: [c], init: { kind: 'zeros' }, trainable: true },
    { key: `${bn}running_mean`, shape: [c], init: { kind: 'zeros' }, trainable: false },
    { key: `${bn}running_var`, shape: [c], init: { kind: 'ones' }, trainable: false },
    { key: `${bn}num_batches_tracked`, shape: [], init: { kind: 'count' }, trainable: false },
  ];
}

/** SE-like params: two Linear weights without bias, plus one conv with bias, to exercise kaiming and bias rules. */
const convParams: ParamSpec[] = [
  { key: 'fc.0.weight', shape: [16, 64], init: { kind: 'kaiming', fanIn: 64 }, trainable: true },
  { key: 'fc.2.weight', shape: [64, 16], init: { kind: 'kaiming', fanIn: 16 }, trainable: true },
  { key: 'conv.weight', shape: [8, 4, 7, 7], init: { kind: 'kaiming', fanIn: 4 * 49 }, trainable: true },
  { key: 'conv.bias', shape: [8], init: { kind: 'bias', fanIn: 4 * 49 }, trainable: true },
];

const namTensors = (c: number, prefix = '', scale = 1): Record<string, Raw> => {
  const r = (k: number) => Array.from({ length: c }, (_, i) => scale * (i + k));
  return {
    [`${prefix}Channel_Att.bn2.weight`]: f32([c], r(1)),
    [`${prefix}Channel_Att.bn2.bias`]: f32([c], r(2)),
    [`${prefix}Channel_Att.bn2.running_mean`]: f32([c], r(3)),
    [`${prefix}Channel_Att.bn2.running_var`]: f32([c], r(4)),
    [`${prefix}Channel_Att.bn2.num_batches_tracked`]: i64([], [123n]),
  };
};

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

suite('initWeights', () => {
  const all = [...namParams(64), ...convParams];

  test('same seed, same values; another seed, other values; key streams are independent of order', () => {
    for (const init of ['torch', 'random'] as const) {
      const a = initWeights(all, init, 7);
      const b = initWeights(all, init, 7);
      assert.deepEqual(a, b);
      const reversed = initWeights([...all].reverse(), init, 7);
      for (const [k, v] of a) assert.deepEqual(reversed.get(k), v, k);
      const c = initWeights(all, init, 8);
      assert.notDeepEqual(c.get('fc.0.weight'), a.get('fc.0.weight'));
    }
    // Large seeds use both 32-bit halves.
    assert.notDeepEqual(initWeights(convParams, 'torch', 2 ** 32 + 1).get('conv.bias'), initWeights(convParams, 'torch', 1).get('conv.bias'));
  });

  test('pinned values for seed 0 (the stream must not change between releases)', () => {
    const k: ParamSpec = { key: 'k', shape: [4], init: { kind: 'bias', fanIn: 1 }, trainable: true };
    const v = initWeights([k], 'torch', 0).get('k')!;
    assert.deepEqual([...v], [-0.9099476337432861, -0.5578233003616333, -0.14166812598705292, -0.663037896156311]);
    // xoshiro128** itself, from the state [1, 2, 3, 4] (values of the reference C implementation).
    const rng = new Xoshiro128(0);
    (rng as unknown as { s: Uint32Array }).s = new Uint32Array([1, 2, 3, 4]);
    assert.deepEqual([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()], [11520, 0, 5927040]);
  });

  test('torch: BN γ=1, β=0, mean 0, var 1; no num_batches_tracked', () => {
    const w = initWeights(namParams(64), 'torch', 0);
    assert.deepEqual([...w.keys()], ['Channel_Att.bn2.weight', 'Channel_Att.bn2.bias', 'Channel_Att.bn2.running_mean', 'Channel_Att.bn2.running_var']);
    assert.ok(w.get('Channel_Att.bn2.weight')!.every((x) => x === 1));
    assert.ok(w.get('Channel_Att.bn2.bias')!.every((x) => x === 0));
    assert.ok(w.get('Channel_Att.bn2.running_mean')!.every((x) => x === 0));
    assert.ok(w.get('Channel_Att.bn2.running_var')!.every((x) => x === 1));
  });

  test('torch: kaiming and bias within ±1/√fan_in, with the moments of a uniform', () => {
    const w = initWeights(convParams, 'torch', 3);
    for (const p of convParams) {
      const v = w.get(p.key)!;
      assert.equal(
        v.length,
        p.shape.reduce((a, b) => a * b, 1),
      );
      const fanIn = (p.init as { fanIn: number }).fanIn;
      const bound = Math.fround(1 / Math.sqrt(fanIn));
      assert.ok(
        v.every((x) => Math.abs(x) <= bound),
        `${p.key} within ±${bound}`,
      );
      if (v.length >= 1000) {
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
        const expected = 1 / fanIn / 3; // U(±b) has variance b²/3
        assert.ok(Math.abs(mean) < 4 * Math.sqrt(expected / v.length), `${p.key} mean ${mean}`);
        assert.ok(Math.abs(variance / expected - 1) < 0.1, `${p.key} variance ${variance} vs ${expected}`);
        assert.ok(Math.max(...v) > 0.95 * bound && Math.min(...v) < -0.95 * bound, `${p.key} fills the range`);
      }
    }
  });

  test('random: Conv/Linear as torch, BN randomized away from identity', () => {
    const t = initWeights(all, 'torch', 5);
    const r = initWeights(all, 'random', 5);
    for (const p of convParams) assert.deepEqual(r.get(p.key), t.get(p.key), p.key);
    const g = r.get('Channel_Att.bn2.weight')!;
    assert.ok(
      g.every((x) => Math.abs(x) >= 0.5 && Math.abs(x) <= 1.5),
      'γ magnitude in [0.5, 1.5]',
    );
    assert.ok(g.some((x) => x < 0) && g.some((x) => x > 0), 'γ has both signs');
    const v = r.get('Channel_Att.bn2.running_var')!;
    assert.ok(
      v.every((x) => x >= 0.5 && x <= 1.5),
      'running_var in [0.5, 1.5]',
    );
    for (const k of ['Channel_Att.bn2.bias', 'Channel_Att.bn2.running_mean']) {
      const x = r.get(k)!;
      assert.ok(
        x.some((y) => y !== 0),
        `${k} randomized`,
      );
      const sd = Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length);
      assert.ok(sd > 0.05 && sd < 0.2 && x.every((y) => Math.abs(y) < 0.6), `${k} ~ N(0, 0.1): sd ${sd}`);
    }
  });

  test('the generator: uniform in [0, 1), normal moments', () => {
    const rng = new Xoshiro128(1, 2, 3);
    let sum = 0;
    let sq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      assert.ok(u >= 0 && u < 1);
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    assert.ok(Math.abs(sum / n) < 0.05 && Math.abs(sq / n - 1) < 0.05);
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
