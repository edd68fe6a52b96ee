import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isOnnxAttnError } from '../src/errors.js';
import type { ParamSpec } from '../src/modules/types.js';
import { tmpDir } from './temp.js';

/**
 * Hand-built weights files and module parameters for the tests of src/weights/ (reading, matching, init): the
 * safetensors and .npy layouts written byte by byte, NAM- and SE-like ParamSpecs, and the one-line error assertion.
 */

/** A fresh temporary folder and a writer of numbered files in it. */
export function tmpWriter(prefix: string): { dir: string; write: (ext: string, bytes: Uint8Array | string) => string } {
  const dir = tmpDir(prefix);
  let fileNo = 0;
  return {
    dir,
    write: (ext, bytes) => {
      const p = path.join(dir, `w${fileNo++}${ext}`);
      fs.writeFileSync(p, bytes);
      return p;
    },
  };
}

export type Raw = { dtype: string; shape: number[]; bytes: Uint8Array };
export const f32 = (shape: number[], values: number[]): Raw => ({ dtype: 'F32', shape, bytes: new Uint8Array(new Float32Array(values).buffer) });
export const f64 = (shape: number[], values: number[]): Raw => ({ dtype: 'F64', shape, bytes: new Uint8Array(new Float64Array(values).buffer) });
export const i64 = (shape: number[], values: bigint[]): Raw => ({ dtype: 'I64', shape, bytes: new Uint8Array(new BigInt64Array(values).buffer) });
export const i32 = (shape: number[], values: number[]): Raw => ({ dtype: 'I32', shape, bytes: new Uint8Array(new Int32Array(values).buffer) });
export const u16 = (dtype: string, shape: number[], bits: number[]): Raw => ({ dtype, shape, bytes: new Uint8Array(new Uint16Array(bits).buffer) });

/** The safetensors layout: u64 LE header length, JSON header padded with spaces to 8 bytes, data. */
export function safetensors(entries: Record<string, Raw>, metadata?: Record<string, string>, mutate?: (h: Record<string, unknown>) => void): Uint8Array {
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
export function npy(descr: string, shape: number[], bytes: Uint8Array, opts: { version?: 1 | 2 | 3; fortran?: boolean; header?: string } = {}): Uint8Array {
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

export const le32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

/** Asserts `fn` throws an onnx-attn error of this class and exit status, one line naming the file, matching `re`. */
export function throwsUser(fn: () => unknown, name: 'UsageError' | 'BuildError' | 'DataFileError', re: RegExp, file?: string): string {
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

/** NAM channel params at C=4 (as the NAM builder declares them). */
export function namParams(c: number): ParamSpec[] {
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
export const convParams: ParamSpec[] = [
  { key: 'fc.0.weight', shape: [16, 64], init: { kind: 'kaiming', fanIn: 64 }, trainable: true },
  { key: 'fc.2.weight', shape: [64, 16], init: { kind: 'kaiming', fanIn: 16 }, trainable: true },
  { key: 'conv.weight', shape: [8, 4, 7, 7], init: { kind: 'kaiming', fanIn: 4 * 49 }, trainable: true },
  { key: 'conv.bias', shape: [8], init: { kind: 'bias', fanIn: 4 * 49 }, trainable: true },
];

export const namTensors = (c: number, prefix = '', scale = 1): Record<string, Raw> => {
  const r = (k: number) => Array.from({ length: c }, (_, i) => scale * (i + k));
  return {
    [`${prefix}Channel_Att.bn2.weight`]: f32([c], r(1)),
    [`${prefix}Channel_Att.bn2.bias`]: f32([c], r(2)),
    [`${prefix}Channel_Att.bn2.running_mean`]: f32([c], r(3)),
    [`${prefix}Channel_Att.bn2.running_var`]: f32([c], r(4)),
    [`${prefix}Channel_Att.bn2.num_batches_tracked`]: i64([], [123n]),
  };
};
