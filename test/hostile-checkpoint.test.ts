import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { zipSync, type Zippable } from 'fflate';
import { isOnnxAttnError } from '../src/errors.js';
import { seededRandom } from '../src/runtime/inputs.js';
import { parseTorchCheckpoint } from '../src/weights/torch-checkpoint.js';
import { decodeTensor } from '../src/weights/torch-tensor.js';
import { fixture, listFiles, runBin, runMain, tmpDir } from './helpers.js';
import { bytesOf, P } from './pickle-bytes.js';

/**
 * Hostile `.pt` files at the CLI: each is refused with exit 4 and one line, nothing runs, nothing is written; and
 * hundreds of byte-level mutations of the fixture checkpoints never reach an internal error (exit 70) or hang.
 */

const zip = (files: Record<string, Uint8Array>, level: 0 | 9 = 0) => {
  const z: Zippable = {};
  for (const [k, v] of Object.entries(files)) z[k] = [v, { level: k.endsWith('data/0') ? level : 0 }];
  return zipSync(z);
};

test('hostile checkpoints at the CLI: exit 4, one line, no output, nothing executed', () => {
  const dir = tmpDir();
  const marker = path.join(dir, 'pwned');
  const call = (m: string, n: string) => bytesOf(P.proto(2), P.global(m, n), P.str(`touch ${marker}`), P.tuple1, P.reduce, P.stop);
  const tensorPkl = bytesOf(
    P.proto(2),
    P.emptyDict,
    P.str('w'),
    P.global('torch._utils', '_rebuild_tensor_v2'),
    P.mark,
    P.mark,
    P.str('storage'),
    P.global('torch', 'FloatStorage'),
    P.str('0'),
    P.str('cpu'),
    P.int4(1 << 20),
    P.tuple,
    [0x51],
    P.int4(0),
    P.mark,
    P.int4(1 << 20),
    P.tuple,
    P.mark,
    P.int4(1),
    P.tuple,
    [0x89],
    P.none,
    P.tuple,
    P.reduce,
    P.setitem,
    P.stop,
  );
  const good = fs.readFileSync(fixture('checkpoints/yolov5-nam.pt'));
  const files: [string, Uint8Array, RegExp][] = [
    ['system.pt', zip({ 'archive/data.pkl': call('os', 'system') }), /refused: the pickle calls os\.system/],
    ['posix.pth', zip({ 'best/data.pkl': call('posix', 'system') }), /refused: the pickle calls posix\.system/],
    [
      'size.pt',
      zip({ 'archive/data.pkl': tensorPkl, 'archive/data/0': new Uint8Array(16) }),
      /storage 0 holds 1048576 F32 values \(4194304 bytes\), but its record archive\/data\/0 has 16 bytes/,
    ],
    ['truncated.pt', good.subarray(0, good.length - 200), /not a valid PyTorch checkpoint: a damaged or truncated zip/],
    ['bomb.pt', zip({ 'archive/data.pkl': tensorPkl, 'archive/data/0': new Uint8Array(4 << 20) }, 9), /a zip bomb/],
    [
      'deep.pt',
      zip({ 'archive/data.pkl': bytesOf(P.proto(2), ...Array.from({ length: 50_000 }, () => P.mark), P.stop) }),
      /more than 10000 MARKs \(a recursion bomb\?\)/,
    ],
  ];
  for (const [name, bytes, message] of files) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    const out = path.join(dir, 'out.onnx');
    const r = runBin(['insert', fixture('yolov5-op12.onnx'), '--after', '23', '--module', 'NAM', '--weights', file, '-o', out]);
    assert.equal(r.code, 4, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`onnx-attn: ${file}: `), r.stderr);
    assert.ok(!fs.existsSync(out), name);
  }
  assert.ok(!fs.existsSync(marker));
  assert.deepEqual(listFiles(dir), files.map(([name]) => name).sort());
});

test('hundreds of mutated checkpoints are read or refused (exit 4), never an internal error or a hang', { timeout: 240_000 }, async () => {
  const rand = seededRandom(16_2026);
  const names = [
    'yolov5-nam.pt',
    'ultralytics-cbam.pt',
    'rtdetr-ema-eca.pth',
    'gam-views.pt',
    'nam-legacy.pt',
    'nam-bare.pth',
    'yolov5-nam-p5.pt',
    'ultralytics-cbam-legacy.pt',
  ];
  const sources = names.map((n) => fs.readFileSync(fixture(`checkpoints/${n}`)));
  const outcomes = new Map<string, number>();
  const N = 360;
  for (let i = 0; i < N; i++) {
    const src = sources[i % sources.length]!;
    let bytes = Buffer.from(src);
    // The pickle sits at the start of the file in both formats (data.pkl is the zip's first entry).
    const pickleEnd = Math.max(64, Math.min(src.length, src.indexOf('/data/0') > 0 ? src.indexOf('/data/0') : src.length));
    const kind = Math.floor(i / sources.length) % 4;
    if (kind === 0) {
      for (let j = 0; j < 1 + Math.floor(rand() * 6); j++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    } else if (kind === 1) {
      for (let j = 0; j < 1 + Math.floor(rand() * 3); j++) {
        const at = Math.floor(rand() * pickleEnd);
        bytes[at] = bytes[at]! ^ (1 << Math.floor(rand() * 8));
      }
    } else if (kind === 2) {
      bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
    } else {
      const a = Math.floor(rand() * pickleEnd);
      const b = Math.floor(rand() * pickleEnd);
      Buffer.from(src.subarray(a, a + Math.floor(rand() * 64))).copy(bytes, b);
    }
    let outcome: string;
    try {
      const ckpt = parseTorchCheckpoint(`mutant-${i}.pt`, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
      for (const t of ckpt.tensors.values()) decodeTensor(t);
      outcome = 'read';
    } catch (e) {
      assert.ok(isOnnxAttnError(e), `mutation ${i} of ${names[i % names.length]} (kind ${kind}): not a refusal: ${(e as Error).stack}`);
      assert.equal(e.exitCode, 4, `mutation ${i}: ${e.message}`);
      assert.ok(!e.message.includes('\n'), e.message);
      outcome = 'refused';
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // Both happen: flipped tensor bytes still read; flipped pickle or zip bytes are refused.
  assert.ok((outcomes.get('refused') ?? 0) > N / 4, JSON.stringify([...outcomes]));
  assert.ok((outcomes.get('read') ?? 0) > 0, JSON.stringify([...outcomes]));

  // And through the CLI's own error handling: a sample of mutants given to insert.
  const dir = tmpDir();
  const codes = new Map<number, number>();
  for (let i = 0; i < 24; i++) {
    const src = sources[0]!;
    const bytes = Buffer.from(src);
    for (let j = 0; j < 3; j++) {
      const at = Math.floor(rand() * Math.min(src.length, 40_000));
      bytes[at] = bytes[at]! ^ (1 << Math.floor(rand() * 8));
    }
    const file = path.join(dir, `m${i}.pt`);
    fs.writeFileSync(file, bytes);
    const r = await runMain(['insert', fixture('yolov5-op12.onnx'), '--after', '23', '--module', 'NAM', '--weights', file, '--dry-run']);
    assert.ok([0, 2, 4].includes(r.code), `mutant ${i}: exit ${r.code}: ${r.stderr}`);
    if (r.code !== 0) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
  }
  assert.ok(!codes.has(70));
});
