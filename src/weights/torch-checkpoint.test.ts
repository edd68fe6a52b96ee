import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { isOnnxAttnError } from '../errors.js';
import { bytesOf, P } from '../../test/pickle-bytes.js';
import { parseTorchCheckpoint, readTorchCheckpoint } from './torch-checkpoint.js';
import { decodeTensor } from './torch-tensor.js';

const CHECKPOINTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../fixtures/checkpoints');
const ckpt = (name: string) => path.join(CHECKPOINTS, name);

/** A state_dict pickle of float32 tensors, each `(key, storage key, storage numel, offset, size, stride)`. */
function stateDictPickle(
  tensors: { key: string; storage: string; numel: number; offset?: number; size: number[]; stride: number[]; type?: string }[],
): Uint8Array {
  const ints = (xs: number[]) => [P.mark, ...xs.map((x) => P.int4(x)), P.tuple].flat();
  return bytesOf(
    P.proto(2),
    P.global('collections', 'OrderedDict'),
    P.emptyTuple,
    P.reduce,
    P.mark,
    ...tensors.flatMap((t) => [
      P.str(t.key),
      P.global('torch._utils', '_rebuild_tensor_v2'),
      P.mark,
      P.mark,
      P.str('storage'),
      P.global('torch', t.type ?? 'FloatStorage'),
      P.str(t.storage),
      P.str('cpu'),
      P.int4(t.numel),
      P.tuple,
      [0x51], // BINPERSID
      P.int4(t.offset ?? 0),
      ints(t.size),
      ints(t.stride),
      [0x89],
      P.global('collections', 'OrderedDict'),
      P.emptyTuple,
      P.reduce,
      P.tuple,
      P.reduce,
    ]),
    P.setitems,
    P.stop,
  );
}

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

/** A zip as torch.save writes it (stored, under one top folder). */
function torchZip(pkl: Uint8Array, records: Record<string, Uint8Array>, top = 'archive', extra: Zippable = {}): Uint8Array {
  const files: Zippable = { [`${top}/data.pkl`]: [pkl, { level: 0 }], ...extra };
  for (const [k, v] of Object.entries(records)) files[`${top}/data/${k}`] = [v, { level: 0 }];
  return zipSync(files);
}

/** The one-line exit-4 refusal every hostile file must get. */
function refused(data: Uint8Array, pattern: RegExp) {
  assert.throws(
    () => parseTorchCheckpoint('evil.pt', data),
    (e: Error) => isOnnxAttnError(e) && e.exitCode === 4 && pattern.test(e.message) && !e.message.includes('\n') && e.message.startsWith('evil.pt: '),
  );
}

test('every layout the fixtures hold gives PyTorch state_dict keys and dtypes', () => {
  const cases: [string, string, number, string, string][] = [
    // file, layout, tensor count, a key, its dtype
    ['yolov5-nam.pt', "'model' (models.yolo.Model pickled whole)", 155, 'model.24.Channel_Att.bn2.weight', 'F16'],
    ['yolov5-head-nam-fp32.pt', "'ema' (models.yolo.Model pickled whole)", 166, 'model.26.Channel_Att.bn2.running_var', 'F32'],
    ['ultralytics-cbam.pt', "'model' (ultralytics.nn.tasks.DetectionModel pickled whole)", 147, 'model.22.spatial_attention.cv1.weight', 'F16'],
    ['rtdetr-nam.pth', "'model' (a state_dict)", 58, 'backbone.res_layers.2.blocks.1.nam.Channel_Att.bn2.bias', 'F32'],
    ['rtdetr-ema-eca.pth', "'ema' → 'module' (a state_dict)", 27, 'encoder.pan_blocks.1.attn.conv.weight', 'F32'],
    ['nam-bare.pth', 'the file (a state_dict)', 5, 'Channel_Att.bn2.num_batches_tracked', 'I64'],
    ['gam-views.pt', 'the file (a state_dict)', 18, 'channel_attention.0.weight', 'F32'],
    ['nam-legacy.pt', "'model' (a state_dict)", 5, 'model.24.Channel_Att.bn2.running_mean', 'F16'],
    ['yolov5-nam-p5.pt', "'model' (models.yolo.Model pickled whole)", 155, 'model.24.Channel_Att.bn2.weight', 'F16'],
    ['ultralytics-cbam-legacy.pt', "'model' (ultralytics.nn.tasks.DetectionModel pickled whole)", 147, 'model.22.channel_attention.fc.bias', 'F16'],
  ];
  for (const [file, layout, count, key, dtype] of cases) {
    const c = readTorchCheckpoint(ckpt(file));
    assert.equal(c.layout, layout, file);
    assert.equal(c.tensors.size, count, file);
    assert.equal(c.tensors.get(key)?.dtype, dtype, `${file} ${key}`);
  }
  // Detect's anchors are a buffer of the module pickled whole; its `stride` attribute is not in the state_dict.
  const v5 = readTorchCheckpoint(ckpt('yolov5-nam.pt'));
  assert.deepEqual(v5.tensors.get('model.25.anchors')?.shape, [3, 3, 2]);
  assert.ok(![...v5.tensors.keys()].some((k) => k.endsWith('.stride')));
  assert.equal(decodeTensor(readTorchCheckpoint(ckpt('nam-bare.pth')).tensors.get('Channel_Att.bn2.num_batches_tracked')!).data[0], 123n);
});

test('views: offsets, strides and shared storages decode row-major', () => {
  const storage = f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const pkl = stateDictPickle([
    { key: 'whole', storage: '0', numel: 12, size: [3, 4], stride: [4, 1] },
    { key: 'transposed', storage: '0', numel: 12, size: [4, 3], stride: [1, 4] },
    { key: 'offset', storage: '0', numel: 12, offset: 5, size: [3], stride: [2] },
    { key: 'scalar', storage: '0', numel: 12, offset: 11, size: [], stride: [] },
    { key: 'expanded', storage: '0', numel: 12, offset: 2, size: [2, 2], stride: [0, 1] },
  ]);
  const c = parseTorchCheckpoint('views.pt', torchZip(pkl, { '0': storage }));
  const values = (k: string) => Array.from(decodeTensor(c.tensors.get(k)!).data as Float32Array);
  assert.deepEqual(values('whole'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(values('transposed'), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.deepEqual(values('offset'), [5, 7, 9]);
  assert.deepEqual(values('scalar'), [11]);
  assert.deepEqual(values('expanded'), [2, 3, 2, 3]);
  assert.equal(c.tensors.get('whole')!.storage, c.tensors.get('offset')!.storage);
});

test('fp16 and bf16 widen exactly, fp64 and int64 stay as they are; a big-endian archive (byteorder) is read as such', () => {
  const half = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]); // 1, -2, 2^-24, inf
  const bf16 = new Uint8Array([0x80, 0x3f, 0x49, 0x40]); // 1, 3.140625
  const pkl = stateDictPickle([
    { key: 'h', storage: 'a', numel: 4, size: [4], stride: [1], type: 'HalfStorage' },
    { key: 'b', storage: 'b', numel: 2, size: [2], stride: [1], type: 'BFloat16Storage' },
    { key: 'd', storage: 'c', numel: 3, offset: 1, size: [2], stride: [1], type: 'DoubleStorage' },
    { key: 'n', storage: 'e', numel: 1, size: [], stride: [], type: 'LongStorage' },
  ]);
  const c = parseTorchCheckpoint(
    'x.pt',
    torchZip(pkl, { a: half, b: bf16, c: new Uint8Array(new Float64Array([9, 0.1, -1e300]).buffer), e: new Uint8Array(new BigInt64Array([2n ** 40n]).buffer) }),
  );
  assert.deepEqual(Array.from(decodeTensor(c.tensors.get('h')!).data as Float32Array), [1, -2, 2 ** -24, Infinity]);
  assert.deepEqual(Array.from(decodeTensor(c.tensors.get('b')!).data as Float32Array), [1, 3.140625]);
  assert.deepEqual(decodeTensor(c.tensors.get('d')!), { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -1e300]) });
  assert.deepEqual(decodeTensor(c.tensors.get('n')!), { dtype: 'I64', shape: [], data: new BigInt64Array([2n ** 40n]) });
  const big = new Uint8Array(8);
  new DataView(big.buffer).setFloat32(0, 1.5, false);
  new DataView(big.buffer).setFloat32(4, -3, false);
  const be = parseTorchCheckpoint(
    'be.pt',
    torchZip(stateDictPickle([{ key: 'w', storage: '0', numel: 2, size: [2], stride: [1] }]), { '0': big }, 'be', {
      'be/byteorder': [strToU8('big'), { level: 0 }],
    }),
  );
  assert.deepEqual(Array.from(decodeTensor(be.tensors.get('w')!).data as Float32Array), [1.5, -3]);
});

test('the zip top folder may be named after the file or archive/', () => {
  const original = fs.readFileSync(ckpt('nam-bare.pth'));
  const renamed: Zippable = {};
  for (const [name, content] of Object.entries(unzipSync(original))) renamed[name.replace(/^nam-bare\//, 'archive/')] = [content, { level: 0 }];
  const a = readTorchCheckpoint(ckpt('nam-bare.pth'));
  const b = parseTorchCheckpoint('best.pt', zipSync(renamed));
  assert.deepEqual([...b.tensors.keys()], [...a.tensors.keys()]);
  for (const k of a.tensors.keys()) assert.deepEqual(decodeTensor(b.tensors.get(k)!), decodeTensor(a.tensors.get(k)!));
});

test('hostile checkpoints are refused with one line, exit 4', () => {
  const call = (m: string, n: string, arg: string) => bytesOf(P.proto(2), P.global(m, n), P.str(arg), P.tuple1, P.reduce, P.stop);
  refused(torchZip(call('posix', 'system', 'touch /tmp/onnx-attn-pwned'), {}), /refused: the pickle calls posix\.system/);
  refused(torchZip(call('builtins', 'exec', 'import os'), {}), /refused: the pickle calls builtins\.exec/);
  refused(torchZip(bytesOf(P.proto(2), P.global('subprocess', 'Popen'), P.emptyTuple, P.newobj, P.stop), {}), /refused: .*subprocess\.Popen/);
  // A storage whose record disagrees with the size the pickle declares.
  const one = stateDictPickle([{ key: 'w', storage: '0', numel: 4, size: [4], stride: [1] }]);
  refused(torchZip(one, { '0': f32([1, 2, 3]) }), /storage 0 holds 4 F32 values \(16 bytes\), but its record archive\/data\/0 has 12 bytes/);
  refused(torchZip(one, {}), /storage 0 has no record archive\/data\/0/);
  // A view reaching past its storage, and one with absurd sizes.
  refused(
    torchZip(stateDictPickle([{ key: 'w', storage: '0', numel: 4, offset: 2, size: [3], stride: [1] }]), { '0': f32([1, 2, 3, 4]) }),
    /runs past its storage 0 of 4 elements/,
  );
  refused(
    torchZip(stateDictPickle([{ key: 'w', storage: '0', numel: 4, size: [65536, 65536], stride: [0, 0] }]), { '0': f32([1, 2, 3, 4]) }),
    /too many elements/,
  );
  // Truncated anywhere: the zip's directory, or a record.
  const good = fs.readFileSync(ckpt('nam-bare.pth'));
  for (const cut of [good.length - 1, good.length - 30, Math.floor(good.length / 2), 100, 3]) refused(good.subarray(0, cut), /not a valid PyTorch checkpoint/);
  // A zip bomb: 8 MiB of zeros deflated to a few KiB.
  const bomb = zipSync({ 'archive/data.pkl': [one, { level: 0 }], 'archive/data/0': [new Uint8Array(8 << 20), { level: 9 }] });
  assert.ok(bomb.length < 64 * 1024);
  refused(bomb, /inflates from \d+ to 8388608 bytes \(a zip bomb\?\)/);
  // Not torch.save at all.
  refused(zipSync({ 'a.txt': strToU8('hello') }), /without <folder>\/data\.pkl/);
  refused(strToU8('hello world'), /neither a zip nor a pickle/);
  refused(bytesOf(P.proto(2), P.int1(5), P.stop), /magic number/);
});

test('a recursion bomb of nested modules is refused by the depth bound, not the JS stack', () => {
  // A module whose _modules holds a module ... n deep (pickled depth-first, as Python would write it).
  const nested = (n: number): number[] => {
    const out: number[] = [];
    const open = () =>
      out.push(
        ...P.global('torch.nn', 'Module'),
        ...P.emptyTuple,
        ...P.newobj,
        ...P.emptyDict,
        ...P.mark,
        ...P.str('_parameters'),
        ...P.emptyDict,
        ...P.str('_modules'),
        ...P.emptyDict,
        ...P.mark,
        ...P.str('m'),
      );
    for (let i = 0; i < n; i++) open();
    out.push(...P.none);
    for (let i = 0; i < n; i++) out.push(...P.setitems, ...P.setitems, ...P.build);
    return out;
  };
  const wrap = (n: number) => torchZip(bytesOf(P.proto(2), P.emptyDict, P.str('model'), nested(n), P.setitem, P.stop), {});
  assert.equal(parseTorchCheckpoint('ok.pt', wrap(3)).layout, "'model' (torch.nn.Module pickled whole)");
  refused(wrap(2000), /modules nest deeper than 500 levels/);
  refused(wrap(6000), /more than 10000 MARKs/);
});

test('legacy format: the data section is checked against the declared storages', () => {
  const good = fs.readFileSync(ckpt('nam-legacy.pt'));
  const c = parseTorchCheckpoint('legacy.pt', good);
  assert.deepEqual(c.tensors.get('model.24.Channel_Att.bn2.weight')?.shape, [32]);
  for (const cut of [good.length - 1, good.length - 70, 40]) refused(good.subarray(0, cut), /not a valid PyTorch checkpoint/);
});
