import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { zipSync } from 'fflate';
import { stringify as toYaml } from 'yaml';
import { isOnnxAttnError } from '../src/errors.js';
import { resolveWeights } from '../src/weights/match.js';
import { readTensorFile } from '../src/weights/read.js';
import type { ParamSpec } from '../src/modules/types.js';
import { TensorProto_DataType as DT } from '../src/onnx/proto.js';
import { seededRandom } from '../src/runtime/inputs.js';
import { inputSets } from '../src/runtime/sources.js';
import { fixture, FIXTURES, runMain, tmpDir } from './helpers.js';

/**
 * Seeded mutations of plans (YAML and JSON), `--inputs` JSON and weights files (safetensors, npz, json), beside the
 * model fuzzer (fuzz.test.ts): byte flips, truncation, duplicated chunks, values swapped for other types, huge
 * numbers, deep nesting and huge declared sizes. Each mutation runs in this process: through the library call that
 * reads the file (fast, hundreds of them), and every few through the CLI's main as a user runs it. None may end in
 * an exception that is not one of the project's errors (the CLI's "internal error", exit 70), take 10 s, or push
 * the process past 1 GB of RSS.
 */

const MUTATIONS = 300;
const MAX_MS = 10_000;
const MAX_RSS = 1024 * 1024 * 1024;

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (rand: Rand, n: number) => Math.floor(rand() * n);

/** Values a hostile file puts where another was expected. */
function oddValue(rand: Rand): unknown {
  const deep = (n: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  return pick(rand, [
    () => null,
    () => true,
    () => -1,
    () => 0,
    () => 1e308,
    () => -1e308,
    () => 2 ** 53 + 2,
    () => 4294967296,
    () => 0.5,
    () => '',
    () => 'x'.repeat(1 + int(rand, 100_000)),
    () => '\u001b]0;title\u0007\n',
    () => 'a\u0000b',
    () => [],
    () => ({}),
    () => Array.from({ length: 1 + int(rand, 20_000) }, () => 1),
    () => Object.fromEntries(Array.from({ length: 1 + int(rand, 2000) }, (_, i) => [`k${i}`, i])),
    () => deep(1 + int(rand, 200)),
  ])();
}

/** A copy of `doc` with one node (found by a random walk) swapped for an odd value. */
function swapValue(doc: unknown, rand: Rand): unknown {
  const root = structuredClone(doc) as Record<string, unknown>;
  let node: unknown = root;
  for (let depth = 0; depth < 8; depth++) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : node && typeof node === 'object' ? Object.keys(node) : [];
    if (keys.length === 0) break;
    const key = pick(rand, keys as (string | number)[]);
    const child = (node as Record<string | number, unknown>)[key];
    if (rand() < 0.35 || !child || typeof child !== 'object') {
      (node as Record<string | number, unknown>)[key] = oddValue(rand);
      return root;
    }
    node = child;
  }
  return root;
}

/** Byte-level mutations of any file. */
function mutateBytes(src: Uint8Array, rand: Rand): Uint8Array {
  const bytes = Buffer.from(src);
  switch (int(rand, 5)) {
    case 0: // flip a few bytes
      for (let j = 0; j < 1 + int(rand, 8); j++) bytes[int(rand, bytes.length)] = int(rand, 256);
      return bytes;
    case 1: // truncate
      return bytes.subarray(0, int(rand, bytes.length));
    case 2: {
      // duplicate a chunk somewhere else
      const a = int(rand, bytes.length);
      const chunk = bytes.subarray(a, a + int(rand, 512));
      const at = int(rand, bytes.length);
      return Buffer.concat([bytes.subarray(0, at), chunk, bytes.subarray(at)]);
    }
    case 3: {
      // overwrite a 4- or 8-byte field with a huge little-endian number (sizes, offsets, counts)
      const at = int(rand, Math.max(1, bytes.length - 8));
      if (rand() < 0.5) bytes.writeUInt32LE(pick(rand, [0xffffffff, 0x7fffffff, 0x40000000]), at);
      else bytes.writeBigUInt64LE(pick(rand, [0xffffffffffffffffn, 1n << 40n, 1n << 62n]), at);
      return bytes;
    }
    default: {
      // a number in the text made huge, tiny or negative
      const text = bytes.toString('latin1');
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
      if (numbers.length === 0) return bytes;
      const m = pick(rand, numbers);
      const huge = pick(rand, ['1e999', '-1e999', '99999999999999999999999', '-1', '1e-400', '0', '4294967296', '9007199254740993']);
      return Buffer.from(text.slice(0, m.index) + huge + text.slice(m.index + m[0].length), 'latin1');
    }
  }
}

/** Text-level: wrap a place of a JSON or YAML text in deep brackets. */
function deepen(text: string, rand: Rand): string {
  const at = int(rand, text.length);
  const n = pick(rand, [65, 1000, 200_000]);
  return text.slice(0, at) + '['.repeat(n) + text.slice(at) + ']'.repeat(rand() < 0.5 ? n : 0);
}

interface Tally {
  ok: number;
  refused: Map<string, number>;
}

/** Runs `fn` and requires it to succeed or to throw one of the project's errors, one line, in bounded time and memory. */
/** CPU milliseconds this process has spent (a time bound that holds on a busy CI machine, unlike wall time). */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

async function survives(label: string, fn: () => unknown, tally: Tally): Promise<void> {
  const started = cpuMs();
  try {
    await fn();
    tally.ok++;
  } catch (e) {
    assert.ok(isOnnxAttnError(e), `${label}: not one of the project's errors: ${(e as Error)?.stack ?? String(e)}`);
    // Names taken from a damaged file may hold newlines: the CLI escapes them (cliSurvives checks its lines).
    assert.ok(e.message.length < 2000, `${label}: a message of ${e.message.length} characters: ${e.message.slice(0, 300)}`);
    tally.refused.set(e.name, (tally.refused.get(e.name) ?? 0) + 1);
  }
  const ms = cpuMs() - started;
  assert.ok(ms < MAX_MS, `${label} took ${ms.toFixed(0)} ms of CPU`);
  assert.ok(process.memoryUsage().rss < MAX_RSS, `${label}: RSS ${process.memoryUsage().rss} bytes`);
}

/** The CLI, as a user runs it: any exit but 70, stderr one line per problem, never "internal error". */
async function cliSurvives(label: string, args: string[]): Promise<number> {
  const started = cpuMs();
  const r = await runMain(args);
  assert.notEqual(r.code, 70, `${label}: ${r.stderr.slice(0, 2000)}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, label);
  assert.ok(cpuMs() - started < MAX_MS, `${label} took ${(cpuMs() - started).toFixed(0)} ms of CPU`);
  return r.code;
}

const v5 = fixture('yolov5-op12.onnx');

test('fuzzed plans (YAML and JSON) end in a plan error or a run, never an internal error', { timeout: 120_000 }, async () => {
  const rand = seededRandom(20261203);
  const dir = tmpDir('onnx-attn-fuzz-plan-');
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  const base = {
    version: 1,
    defaults: { validate: { ep: ['cpu'], warmup: 0, iters: 1 }, compare: { tolerance: 'fp32', iters: 1 } },
    models: [
      {
        name: 'a',
        input: 'm.onnx',
        output: 'out/a.onnx',
        insert: [
          { after: '23', module: 'NAM' },
          { after: 'head', module: 'SE', opts: { reduction: 4 }, gate: 'zero' },
        ],
        compare: false,
      },
      { input: 'm.onnx', output: 'out/b.onnx', shape: { images: '1x3x128x128' }, insert: [{ after: ['17', '20'], module: 'ECA', seed: 3 }] },
    ],
    reports: ['out/r.md'],
  };
  const codes = new Map<number, number>();
  for (let i = 0; i < MUTATIONS; i++) {
    const json = i % 2 === 1;
    const text = json ? JSON.stringify(base, null, 2) : toYaml(base);
    let mutated: string | Uint8Array;
    const kind = i % 5;
    if (kind === 0) mutated = mutateBytes(Buffer.from(text), rand);
    else if (kind === 1) mutated = deepen(text, rand);
    else if (kind === 2) {
      // YAML's own hazards: anchors and aliases, tags, many documents.
      const yamlOnly = ['a: &a [1, 2]\nb: [*a, *a, *a]\n', '!!binary AAAA\n', '---\n---\n---\n', 'x: !!js/function "f"\n', '<<: *nope\n', '? [a, b]\n: c\n'];
      mutated = json ? `${text.slice(0, -2)},\n "x": ${JSON.stringify(oddValue(rand))}}` : `${text}${pick(rand, yamlOnly)}`;
    } else {
      const doc = swapValue(base, rand);
      mutated = json ? JSON.stringify(doc) : toYaml(doc, { aliasDuplicateObjects: false, lineWidth: 0 });
    }
    const plan = path.join(dir, `p${i}.${json ? 'json' : 'yaml'}`);
    fs.writeFileSync(plan, mutated);
    const code = await cliSurvives(`plan mutation ${i} (${plan})`, ['apply', plan, '--dry-run', '--json']);
    codes.set(code, (codes.get(code) ?? 0) + 1);
    fs.rmSync(plan);
  }
  assert.deepEqual(fs.readdirSync(dir), ['m.onnx'], 'a dry run writes nothing');
  // Both outcomes occur: the mutations reach past the parser into the checks and the build.
  assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(2) ?? 0) > 0, `outcomes ${JSON.stringify([...codes])}`);
});

test('fuzzed --inputs JSON files end in a file error or input tensors, never an internal error', { timeout: 120_000 }, async () => {
  const rand = seededRandom(7);
  const dir = tmpDir('onnx-attn-fuzz-inputs-');
  const specs = [
    { name: 'images', elemType: DT.FLOAT, dims: [1, 3, 4, 4] },
    { name: 'orig_target_sizes', elemType: DT.INT64, dims: [1, 2] },
  ];
  const values = (n: number) => Array.from({ length: n }, (_, i) => (i % 7) / 7);
  const bases = [
    { images: [[0, 1, 2].map(() => [0, 1, 2, 3].map(() => values(4)))], orig_target_sizes: [[4, 4]] },
    { images: { dims: [1, 3, 4, 4], data: values(48) }, orig_target_sizes: { shape: [1, 2], data: [4, 4] } },
  ];
  const tally: Tally = { ok: 0, refused: new Map() };
  // The CLI's whole path, every so often, on the fixture (its one input is images [1, 3, 128, 128]).
  const cliBase = JSON.stringify({ images: { dims: [1, 3, 128, 128], data: new Array(3 * 128 * 128).fill(0.5) } });
  for (let i = 0; i < MUTATIONS; i++) {
    const base = JSON.stringify(bases[i % 2]);
    const kind = i % 4;
    const mutated = kind === 0 ? mutateBytes(Buffer.from(base), rand) : kind === 1 ? deepen(base, rand) : JSON.stringify(swapValue(JSON.parse(base), rand));
    const file = path.join(dir, `in${i}.json`);
    fs.writeFileSync(file, mutated);
    await survives(`inputs mutation ${i} (${file})`, () => inputSets(file, specs), tally);
    if (i % 30 === 0) {
      const cli = i % 60 === 0 ? mutateBytes(Buffer.from(cliBase.slice(0, 200) + cliBase.slice(-200)), rand) : deepen(cliBase, rand);
      fs.writeFileSync(file, cli);
      await cliSurvives(`inputs CLI mutation ${i}`, ['validate', v5, '--inputs', file, '--iters', '1', '--warmup', '0', '--json']);
    }
    fs.rmSync(file);
  }
  assert.ok(tally.ok > 0 && (tally.refused.get('DataFileError') ?? 0) > 0, `outcomes ok ${tally.ok}, ${JSON.stringify([...tally.refused])}`);
});

/** A .npy of float32 values (format 1.0). */
function npy(shape: readonly number[], data: Float32Array): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** A safetensors file of float32 tensors. */
function safetensors(tensors: [string, readonly number[], Float32Array][]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [key, shape, data] of tensors) {
    header[key] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const h = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + h.length + offset);
  out.writeBigUInt64LE(BigInt(h.length));
  h.copy(out, 8);
  let at = 8 + h.length;
  for (const [, , data] of tensors) {
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, at);
    at += data.byteLength;
  }
  return out;
}

test('fuzzed weights files (safetensors, npz, json) end in a file or build error or weights, never an internal error', { timeout: 120_000 }, async () => {
  const rand = seededRandom(11);
  const dir = tmpDir('onnx-attn-fuzz-weights-');
  // SE at C=32, r=16, as the fixture's layer 23 takes it: the golden's state_dict.
  const golden = readTensorFile(path.join(FIXTURES, 'goldens/se-default-c32r16-8x8.safetensors')).tensors;
  const keys = ['fc.0.weight', 'fc.2.weight'];
  const tensors = keys.map((k) => [k, golden.get(k)!.shape, Float32Array.from(golden.get(k)!.data as Float32Array)] as [string, number[], Float32Array]);
  const params: ParamSpec[] = tensors.map(([key, shape]) => ({ key, shape, init: { kind: 'ones' }, trainable: true }));
  const expect = { keys: new Set(keys), shapes: new Map(params.map((p) => [p.key, p.shape])), module: 'SE' };
  const bases: Record<string, Uint8Array> = {
    '.safetensors': safetensors(tensors),
    '.npz': zipSync(Object.fromEntries(tensors.map(([k, s, d]) => [`${k}.npy`, npy(s, d)]))),
    '.json': Buffer.from(
      JSON.stringify(
        Object.fromEntries(
          tensors.map(([k, s, d], n) => [
            k,
            n === 0 ? { shape: s, data: [...d] } : [...Array(s[0]).keys()].map((r) => [...d.subarray(r * s[1]!, (r + 1) * s[1]!)]),
          ]),
        ),
      ),
    ),
  };
  const tally: Tally = { ok: 0, refused: new Map() };
  const exts = Object.keys(bases);
  for (let i = 0; i < MUTATIONS * 2; i++) {
    const ext = exts[i % exts.length]!;
    const base = bases[ext]!;
    let mutated: Uint8Array;
    const kind = i % 4;
    if (ext === '.json' && kind === 1) mutated = Buffer.from(deepen(Buffer.from(base).toString(), rand));
    else if (ext === '.json' && kind === 2) mutated = Buffer.from(JSON.stringify(swapValue(JSON.parse(Buffer.from(base).toString()), rand)));
    else if (ext === '.safetensors' && kind >= 1) {
      // Mutate the header as JSON (types, huge shapes and offsets, deep nesting), keep the data.
      const n = Number(Buffer.from(base).readBigUInt64LE(0));
      const header = Buffer.from(base.subarray(8, 8 + n)).toString();
      const h = Buffer.from(kind === 1 ? deepen(header, rand) : JSON.stringify(swapValue(JSON.parse(header), rand)));
      const out = Buffer.alloc(8 + h.length);
      out.writeBigUInt64LE(BigInt(kind === 3 && rand() < 0.3 ? 2 ** 26 : h.length));
      h.copy(out, 8);
      mutated = Buffer.concat([out, base.subarray(8 + n)]);
    } else mutated = mutateBytes(base, rand);
    const file = path.join(dir, `w${i}${ext}`);
    fs.writeFileSync(file, mutated);
    await survives(
      `weights mutation ${i} (${file})`,
      () => resolveWeights(params, file, readTensorFile(file, { expect }).tensors, { module: 'SE', context: 'C=32' }),
      tally,
    );
    if (i % 20 === 0) await cliSurvives(`weights CLI mutation ${i}`, ['insert', v5, '--after', '23', '--module', 'SE', '--weights', file, '--dry-run']);
    fs.rmSync(file);
  }
  const refused = Object.fromEntries(tally.refused);
  assert.ok(tally.ok > 0 && (refused['DataFileError'] ?? 0) > 0 && (refused['BuildError'] ?? 0) > 0, `outcomes ok ${tally.ok}, ${JSON.stringify(refused)}`);
  assert.ok(process.resourceUsage().maxRSS * 1024 < MAX_RSS, `peak RSS ${process.resourceUsage().maxRSS} KB`);
});
