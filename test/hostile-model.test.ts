import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DT,
} from '../src/onnx/proto.js';
import type { ModelProto, NodeProto, TensorProto, ValueInfoProto } from '../src/onnx/proto.js';
import { decodeModel, loadModel } from '../src/onnx/load.js';
import { float16Value, toFloat16Array } from '../src/onnx/float16.js';
import { tensorInfo } from '../src/onnx/tensor.js';
import { openSession } from '../src/runtime/session.js';
import { BIN, ROOT, tmpDir } from './helpers.js';

/**
 * Hostile and malformed models (issue #12, the model side), each generated here: a FIFO or directory as external
 * data, a graph with a cycle, float16 and other input dtypes, sparse initializers, control characters in names,
 * models read from a pipe, and inputs that already break ONNX's rules. Every refusal is exit 4 with one line naming
 * the file and the problem, no stack trace, nothing written, within a time and memory bound measured on the
 * real bin (a child process reporting its own peak RSS).
 */

// Generous for a busy CI machine; a FIFO hangs forever, a cycle took 15-25 s and 2 GB, an absurd C minutes and 20 GB.
const TIME_LIMIT_MS = 15_000;
const MAX_LENGTH = bufferConstants.MAX_LENGTH;
const RSS_LIMIT_KB = 600 * 1024;

interface Bounded {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  maxRssKb: number;
}

/** The real bin in a child that records its peak RSS at exit; killed (and failed) past the time limit. */
function runBounded(args: string[], options: { input?: Uint8Array; cwd?: string } = {}): Bounded {
  const rssFile = path.join(tmpDir('onnx-attn-rss-'), 'rss');
  // `node -e CODE BIN ...args`: process.argv is [node, BIN, ...args], as when the bin runs itself.
  const code = `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS))); import(${JSON.stringify(BIN)});`;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['-e', code, BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: TIME_LIMIT_MS,
    ...(options.input ? { input: options.input } : {}),
  });
  const ms = Date.now() - started;
  assert.ok(r.error === undefined && r.signal === null, `onnx-attn ${args.join(' ')}: killed after ${ms} ms (${r.error?.message ?? r.signal})`);
  const maxRssKb = Number(fs.readFileSync(rssFile, 'utf8'));
  assert.ok(ms < TIME_LIMIT_MS, `took ${ms} ms`);
  assert.ok(maxRssKb < RSS_LIMIT_KB, `peak RSS ${Math.round(maxRssKb / 1024)} MB`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms, maxRssKb };
}

/** Exit 4, one line naming the file and matching `problem`, no stack trace, and the -o target (if any) absent. */
function assertRefused(r: Bounded, file: string, problem: RegExp, output?: string): void {
  assert.equal(r.code, 4, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.ok(lines[0]!.startsWith('onnx-attn: '), lines[0]);
  assert.ok(lines[0]!.includes(file), `the line names ${file}: ${lines[0]}`);
  assert.match(lines[0]!, problem);
  assert.doesNotMatch(r.stderr, /internal error|Please report|\n\s+at /);
  if (output) assert.equal(fs.existsSync(output), false, `${output} was written`);
}

// ------------------------------------------------------------------------------------------- model builder

const node = (opType: string, inputs: string[], outputs: string[], name: string, attrs: Record<string, number | number[]> = {}): NodeProto =>
  create(NodeProtoSchema, {
    opType,
    input: inputs,
    output: outputs,
    name,
    attribute: Object.entries(attrs).map(([k, v]) =>
      Array.isArray(v)
        ? create(AttributeProtoSchema, { name: k, type: AT.INTS, ints: v.map(BigInt) })
        : create(AttributeProtoSchema, { name: k, type: AT.INT, i: BigInt(v) }),
    ),
  });

/** A float tensor of `elemType` (float32, float16 or float64) with raw little-endian data. */
function floatTensor(name: string, dims: number[], values: ArrayLike<number>, elemType: number = DT.FLOAT): TensorProto {
  const typed = elemType === DT.FLOAT16 ? toFloat16Array(values) : elemType === DT.DOUBLE ? Float64Array.from(values) : Float32Array.from(values);
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: elemType,
    rawData: new Uint8Array(typed.buffer as ArrayBuffer, typed.byteOffset, typed.byteLength),
  });
}

function model(parts: { nodes: NodeProto[]; inputs: ValueInfoProto[]; outputs: ValueInfoProto[]; initializers?: TensorProto[]; opset?: number }): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'hostile-model.test',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(parts.opset ?? 13) })],
    graph: create(GraphProtoSchema, { name: 'g', node: parts.nodes, input: parts.inputs, output: parts.outputs, initializer: parts.initializers ?? [] }),
  });
}

function save(dir: string, name: string, m: ModelProto): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, toBinary(ModelProtoSchema, m));
  return file;
}

/** Seeded values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 31 - 1;
  });
}

/**
 * x [N,3,H,W] → Conv 3→C (3x3) → SiLU (Sigmoid, Mul) = `act` → Conv C→4 (1x1) → y: a detector's layer in
 * miniature, in float32, float16 (as `yolov5 export --half` writes it: every tensor float16, no Cast) or float64.
 */
function convModel(elemType: number, c = 16, hw: number | 'dynamic' = 16): ModelProto {
  const dims = hw === 'dynamic' ? [1, 3, 'H', 'W'] : [1, 3, hw, hw];
  return model({
    nodes: [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], '/model.0/conv/Conv', { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
      node('Sigmoid', ['c1'], ['s1'], '/model.0/act/Sigmoid'),
      node('Mul', ['c1', 's1'], ['act'], '/model.0/act/Mul'),
      node('Conv', ['act', 'w2', 'b2'], ['y'], '/model.1/conv/Conv', { kernel_shape: [1, 1] }),
    ],
    inputs: [tensorInfo('x', dims, elemType)],
    outputs: [tensorInfo('y', hw === 'dynamic' ? [1, 4, 'H', 'W'] : [1, 4, hw, hw], elemType)],
    initializers: [
      floatTensor(
        'w1',
        [c, 3, 3, 3],
        values(c * 27, 1).map((v) => v * 0.5),
        elemType,
      ),
      floatTensor('b1', [c], values(c, 2), elemType),
      floatTensor(
        'w2',
        [4, c, 1, 1],
        values(4 * c, 3).map((v) => v * 0.5),
        elemType,
      ),
      floatTensor('b2', [4], values(4, 4), elemType),
    ],
  });
}

/** One input per dtype (`x_<dtype>`, [1,2,3]), each cast to float and summed into y: a model whose point is its inputs' types. */
function castModel(dtypes: readonly (readonly [number, string])[]): ModelProto {
  const nodes = dtypes.map(([, name]) => node('Cast', [`x_${name}`], [`f_${name}`], `cast_${name}`, { to: DT.FLOAT }));
  nodes.push(
    node(
      'Sum',
      dtypes.map(([, name]) => `f_${name}`),
      ['y'],
      'sum',
    ),
  );
  return model({
    nodes,
    inputs: dtypes.map(([t, name]) => tensorInfo(`x_${name}`, [1, 2, 3], t)),
    outputs: [tensorInfo('y', [1, 2, 3], DT.FLOAT)],
  });
}

/** x → Relu → a → Relu → y, the smallest model with a point to insert at (tensor:a). */
function reluChain(extra: Partial<{ nodes: NodeProto[]; initializers: TensorProto[] }> = {}): ModelProto {
  return model({
    nodes: extra.nodes ?? [node('Relu', ['x'], ['a'], 'first'), node('Relu', ['a'], ['y'], 'second')],
    inputs: [tensorInfo('x', [1, 4, 8, 8])],
    outputs: [tensorInfo('y', [1, 4, 8, 8])],
    initializers: extra.initializers ?? [],
  });
}

// ------------------------------------------------------------------------------------------- external data

/** reluChain with one initializer `w` stored externally in `location` (and read by a Mul). */
function externalModel(location: string): ModelProto {
  const w = create(TensorProtoSchema, {
    name: 'w',
    dims: [1n, 4n, 1n, 1n],
    dataType: DT.FLOAT,
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: '16' },
    ] as never,
  });
  return reluChain({ nodes: [node('Mul', ['x', 'w'], ['a'], 'scale'), node('Relu', ['a'], ['y'], 'act')], initializers: [w] });
}

test('external data that is a FIFO, a directory or a socket is refused at once, naming the file and what it is', async () => {
  const dir = tmpDir();
  const cases: [string, () => void | Promise<void>, RegExp][] = [
    ['fifo.bin', () => void spawnSync('mkfifo', [path.join(dir, 'fifo.bin')]), /is a FIFO \(named pipe\), not a regular file/],
    ['folder.bin', () => fs.mkdirSync(path.join(dir, 'folder.bin')), /is a directory, not a regular file/],
    [
      'socket.bin',
      () =>
        new Promise<void>((resolve) => {
          const server = net.createServer().listen(path.join(dir, 'socket.bin'), () => {
            server.unref();
            resolve();
          });
        }),
      /is a socket, not a regular file/,
    ],
  ];
  for (const [location, make, problem] of cases) {
    await make();
    const file = save(dir, `${location}.onnx`, externalModel(location));
    const out = path.join(dir, `${location}-out.onnx`);
    assertRefused(runBounded(['inspect', file]), location, problem);
    assertRefused(runBounded(['insert', file, '--after', 'tensor:a', '--module', 'SimAM', '-o', out]), location, problem, out);
    assertRefused(runBounded(['validate', file, '--iters', '1', '--warmup', '0']), location, problem);
  }
  // A length that disagrees with the tensor's dims is refused before its bytes are allocated, however large (a sparse
  // 5 GiB file costs no disk); so is a payload that cannot be allocated at all.
  fs.writeFileSync(path.join(dir, 'huge.bin'), '');
  fs.truncateSync(path.join(dir, 'huge.bin'), 5 * 2 ** 30);
  const lying = externalModel('huge.bin');
  lying.graph!.initializer[0]!.externalData[2]!.value = String(5 * 2 ** 30);
  assertRefused(
    runBounded(['inspect', save(dir, 'lying.onnx', lying)]),
    "external data file 'huge.bin'",
    /tensor 'w' \(\[1,4,1,1\] float32, 16 bytes\) points to 5368709120 bytes/,
  );
  // Node 20 cannot allocate one Buffer past 4 GiB (buffer.constants.MAX_LENGTH); a later Node could, and would read it.
  if (MAX_LENGTH < 5 * 2 ** 30) {
    const vast = externalModel('huge.bin');
    vast.graph!.initializer[0]!.dims = [BigInt(5 * 2 ** 28)];
    vast.graph!.initializer[0]!.externalData[2]!.value = String(5 * 2 ** 30);
    assertRefused(
      runBounded(['inspect', save(dir, 'vast.onnx', vast)]),
      "'huge.bin'",
      /tensor 'w' needs 5368709120 bytes of external data \('huge\.bin'\), more than can be allocated here/,
    );
  }
  // A model file past protobuf's 2 GiB is refused by its size, before a byte is read.
  const giant = path.join(dir, 'giant.onnx');
  fs.writeFileSync(giant, '');
  fs.truncateSync(giant, 3 * 2 ** 30);
  assertRefused(runBounded(['inspect', giant]), giant, /is 3221225472 bytes, more than the 2147483648 \(MAX_MODEL_BYTES, protobuf's 2 GiB limit\)/);
  // Sparse as they are, files that claim gigabytes are not left behind for tools that copy /tmp.
  fs.rmSync(giant);
  fs.rmSync(path.join(dir, 'huge.bin'));
  // A regular file beside it loads (the same model, nothing else changed).
  fs.writeFileSync(path.join(dir, 'ok.bin'), Buffer.from(new Float32Array([1, 2, 3, 4]).buffer));
  const r = runBounded(['inspect', save(dir, 'ok.onnx', externalModel('ok.bin')), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).externalData, true);
});

// ------------------------------------------------------------------------------------------- cycles

/** A chain of `n` Relu nodes from x whose first node also reads the last one's output: one cycle through all. */
function cycleModel(n: number): ModelProto {
  const nodes = [node('Add', ['x', `t${n - 1}`], ['t0'], 'n0')];
  for (let i = 1; i < n; i++) nodes.push(node('Relu', [`t${i - 1}`], [`t${i}`], `n${i}`));
  nodes.push(node('Relu', [`t${n - 1}`], ['y'], 'out'));
  return model({ nodes, inputs: [tensorInfo('x', [1, 4, 8, 8])], outputs: [tensorInfo('y', [1, 4, 8, 8])] });
}

test('a graph with a cycle: inspect reports it, --at and insert refuse it naming a node on it, in bounded time and memory', () => {
  const dir = tmpDir();
  for (const n of [3, 20_000]) {
    const file = save(dir, `cycle-${n}.onnx`, cycleModel(n));
    const out = path.join(dir, `cycle-${n}-out.onnx`);
    const cycle = /the graph has a cycle through node 'n\d+' \('n\d+' -> .*\); an ONNX graph must be acyclic/;
    assertRefused(runBounded(['inspect', file, '--at', 'tensor:t1']), file, cycle);
    assertRefused(runBounded(['insert', file, '--after', 'tensor:t1', '--module', 'SimAM', '-o', out]), file, cycle, out);
    const plain = runBounded(['inspect', file]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^INVALID {3}the graph has a cycle through node 'n\d+'.*: nothing can be inserted$/m);
    const json = runBounded(['inspect', file, '--json']);
    assert.match(JSON.parse(json.stdout).orderProblem, cycle);
  }
  // The cycle is named in data-flow order and closes on its first node.
  const small = runBounded(['inspect', save(dir, 'c3.onnx', cycleModel(3)), '--json']);
  assert.equal(JSON.parse(small.stdout).orderProblem, "the graph has a cycle through node 'n1' ('n1' -> 'n2' -> 'n0' -> 'n1'); an ONNX graph must be acyclic");
});

// ------------------------------------------------------------------------------------------- dtypes

test('validate feeds every input dtype onnxruntime-node takes, in its own type; the others are one line, exit 4', () => {
  const dir = tmpDir();
  const fed: [number, string][] = [
    [DT.FLOAT, 'float32'],
    [DT.FLOAT16, 'float16'],
    [DT.DOUBLE, 'float64'],
    [DT.INT8, 'int8'],
    [DT.UINT8, 'uint8'],
    [DT.INT16, 'int16'],
    [DT.UINT16, 'uint16'],
    [DT.INT32, 'int32'],
    [DT.UINT32, 'uint32'],
    [DT.INT64, 'int64'],
    [DT.UINT64, 'uint64'],
    [DT.BOOL, 'bool'],
  ];
  // One model with an input of each type: one run feeds them all.
  const file = save(dir, 'every-dtype.onnx', castModel(fed));
  const r = runBounded(['validate', file, '--iters', '1', '--warmup', '0', '--inputs', 'zeros', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout).outputs[0];
  assert.deepEqual([out.dtype, out.shape, out.min, out.max], ['float32', [1, 2, 3], 0, 0]);
  // The JSON form is converted to each declared type too (it used to be fed as float32 or uint8): 1 + 0 + 1 per input.
  const inputs = path.join(dir, 'inputs.json');
  fs.writeFileSync(
    inputs,
    JSON.stringify(
      Object.fromEntries(
        fed.map(([, name]) => [
          `x_${name}`,
          [
            [
              [1, 0, 1],
              [0, 1, 1],
            ],
          ],
        ]),
      ),
    ),
  );
  const j = runBounded(['validate', file, '--iters', '1', '--warmup', '0', '--inputs', inputs, '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual([JSON.parse(j.stdout).outputs[0].min, JSON.parse(j.stdout).outputs[0].max], [0, fed.length]);
  // Random inputs: floats image-like in [0, 1], integers zeros, all fed without a type error.
  const rnd = runBounded(['validate', file, '--iters', '1', '--warmup', '0', '--json']);
  assert.equal(rnd.code, 0, rnd.stderr);
  for (const [elemType, name] of [
    [DT.BFLOAT16, 'bfloat16'],
    [DT.STRING, 'string'],
  ] as const) {
    const bad = save(
      dir,
      `${name}.onnx`,
      castModel([
        [DT.FLOAT, 'float32'],
        [elemType, name],
      ]),
    );
    assertRefused(
      runBounded(['validate', bad, '--iters', '1', '--warmup', '0']),
      bad,
      new RegExp(`model input 'x_${name}' is ${name}, which onnxruntime-node cannot feed`),
    );
  }
});

/** Runs a model file once on `x` (given as float values, fed in the model's input type); returns y as numbers. */
async function runOnce(file: string, elemType: number, x: number[], dims: number[]): Promise<Float32Array> {
  const m = await loadModel(file);
  const { encodeModel } = await import('../src/onnx/save.js');
  const s = await openSession(encodeModel(m));
  try {
    const data = elemType === DT.FLOAT16 ? toFloat16Array(x) : Float32Array.from(x);
    const [y] = await s.run([{ name: 'x', type: elemType === DT.FLOAT16 ? 'float16' : 'float32', dims, data }]);
    return Float32Array.from(y!.data as ArrayLike<number>);
  } finally {
    await s.release();
  }
}

test('insert on a float16 model builds every module in float16 and matches the float32 result at an fp16 tolerance', async () => {
  const dir = tmpDir();
  const f16 = save(dir, 'half.onnx', convModel(DT.FLOAT16));
  const f32 = save(dir, 'full.onnx', convModel(DT.FLOAT));
  const x = values(3 * 16 * 16, 7).map((v) => (v + 1) / 2);
  // The float16 run sees x rounded to float16: the float32 reference takes the same rounded values.
  const xh = Array.from(toFloat16Array(x), float16Value);
  const modules: [string, string[]][] = [
    ['NAM', []],
    ['GAM', ['--opt', 'rate=4']],
    ['SimAM', []],
    ['SE', ['--opt', 'reduction=4']],
    ['CBAM', ['--opt', 'reduction=4']],
    ['ECA', []],
    ['CA', ['--opt', 'reduction=4']],
  ];
  for (const [name, opts] of modules) {
    const outH = path.join(dir, `half-${name}.onnx`);
    const outF = path.join(dir, `full-${name}.onnx`);
    // --init random: BN statistics randomised too, so folding is exercised in float16 as well.
    for (const [src, out] of [
      [f16, outH],
      [f32, outF],
    ] as const) {
      const r = runBounded(['insert', src, '--after', 'tensor:act', '--module', name, ...opts, '--init', 'random', '--seed', '3', '-o', out]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
    // Every float initializer of the patched float16 model is float16 (the module's included): one precision.
    const patched = decodeModel(fs.readFileSync(outH));
    const types = new Set(patched.graph!.initializer.filter((t) => t.dataType !== DT.INT64).map((t) => t.dataType));
    assert.deepEqual([...types], [DT.FLOAT16], `${name}: initializer dtypes`);
    assert.equal(patched.graph!.node.filter((n) => n.opType === 'Cast').length, 0, `${name}: no Cast`);
    const yh = await runOnce(outH, DT.FLOAT16, xh, [1, 3, 16, 16]);
    const yf = await runOnce(outF, DT.FLOAT, xh, [1, 3, 16, 16]);
    assert.equal(yh.length, yf.length);
    let worst = 0;
    for (let i = 0; i < yf.length; i++) {
      const excess = Math.abs(yh[i]! - yf[i]!) - (1e-2 + 1e-2 * Math.abs(yf[i]!)); // the fp16 preset: atol 1e-2, rtol 1e-2
      worst = Math.max(worst, excess);
    }
    assert.ok(worst <= 0, `${name}: float16 differs from float32 beyond atol 1e-2 + rtol 1e-2 by ${worst}`);
    // The module changed the output: the comparison is not vacuous.
    const base = await runOnce(f32, DT.FLOAT, xh, [1, 3, 16, 16]);
    assert.ok(
      yf.some((v, i) => Math.abs(v - base[i]!) > 1e-3),
      `${name}: the module changed nothing`,
    );
  }
  // Dynamic H, W: SimAM counts H·W at run time and casts it to the map's type.
  const dyn = save(dir, 'half-dynamic.onnx', convModel(DT.FLOAT16, 16, 'dynamic'));
  const out = path.join(dir, 'half-dynamic-simam.onnx');
  const r = runBounded(['insert', dyn, '--after', 'tensor:act', '--module', 'SimAM', '--shape', 'x=1x3x16x16', '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  const cast = decodeModel(fs.readFileSync(out)).graph!.node.find((n) => n.opType === 'Cast')!;
  assert.equal(Number(cast.attribute.find((a) => a.name === 'to')!.i), DT.FLOAT16);
  // --gate zero stays bit-identical in float16 (insert checks it, exit 1 otherwise).
  const gated = runBounded(['insert', f16, '--after', 'tensor:act', '--module', 'NAM', '--gate', 'zero', '-o', path.join(dir, 'half-gated.onnx'), '--json']);
  assert.equal(gated.code, 0, gated.stderr);
  assert.equal(JSON.parse(gated.stdout).check.run.identical, true);
  // validate runs the float16 model and reads its float16 output as numbers.
  const v = runBounded(['validate', path.join(dir, 'half-CA.onnx'), '--iters', '1', '--warmup', '0', '--json']);
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual([JSON.parse(v.stdout).outputs[0].dtype, JSON.parse(v.stdout).outputs[0].finite], ['float16', true]);
});

test('a module at an integer tensor is one line, exit 4, naming the dtype', () => {
  const dir = tmpDir();
  const file = save(
    dir,
    'int.onnx',
    model({
      nodes: [node('Cast', ['x'], ['a'], 'to_int', { to: DT.INT32 }), node('Cast', ['a'], ['y'], 'to_float', { to: DT.FLOAT })],
      inputs: [tensorInfo('x', [1, 4, 8, 8])],
      outputs: [tensorInfo('y', [1, 4, 8, 8])],
    }),
  );
  const out = path.join(dir, 'o.onnx');
  assertRefused(
    runBounded(['insert', file, '--after', 'tensor:a', '--module', 'SimAM', '-o', out]),
    'tensor:a',
    /\(a\) is int32; SimAM is built in float32, float16 or float64/,
    out,
  );
});

// ------------------------------------------------------------------------------------------- sparse initializers

test('a sparse initializer is an initializer: inspect and insert work, and the patched model keeps it sparse', async () => {
  const dir = tmpDir();
  const m = reluChain({ nodes: [node('Mul', ['x', 'w'], ['a'], 'scale'), node('Relu', ['a'], ['y'], 'act')] });
  // w [1,4,1,1] = [0, 2, 0, 0]: one value at flat index 1.
  m.graph!.sparseInitializer.push({
    $typeName: 'onnx.SparseTensorProto',
    values: floatTensor('w', [1], [2]),
    indices: create(TensorProtoSchema, { name: 'w_indices', dims: [1n], dataType: DT.INT64, int64Data: [1n] }),
    dims: [1n, 4n, 1n, 1n],
  } as never);
  const file = save(dir, 'sparse.onnx', m);
  const r = runBounded(['inspect', file, '--at', 'tensor:a', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).sites[0].shape, [1, 4, 8, 8]);
  const out = path.join(dir, 'patched.onnx');
  const ins = runBounded(['insert', file, '--after', 'tensor:a', '--module', 'SimAM', '-o', out]);
  assert.equal(ins.code, 0, ins.stderr);
  const patched = decodeModel(fs.readFileSync(out));
  assert.equal(patched.graph!.sparseInitializer.length, 1);
  assert.equal(patched.graph!.sparseInitializer[0]!.values!.name, 'w');
  // onnxruntime runs it: channel 1 scaled by 2, the others zeroed, then SimAM and Relu.
  const y = await runOnce(
    out,
    DT.FLOAT,
    Array(4 * 64)
      .fill(1)
      .map((v, i) => v + (i % 7) / 7),
    [1, 4, 8, 8],
  );
  assert.ok(y.slice(0, 64).every((v) => v === 0) && y.slice(64, 128).some((v) => v > 0));
});

// ------------------------------------------------------------------------------------------- names

test("control characters in a model's names are escaped in the inspect and insert --dry-run tables", () => {
  const dir = tmpDir();
  const nasty = 'a\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202e';
  const file = save(dir, 'names.onnx', reluChain({ nodes: [node('Relu', ['x'], [nasty], 'first\u001b[31m'), node('Relu', [nasty], ['y'], 'second\r')] }));
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
  const spec = `tensor:${nasty}`;
  for (const args of [
    ['inspect', file, '--at', spec],
    ['insert', file, '--after', spec, '--module', 'SimAM', '--dry-run'],
    // SE with reduction 16 cannot be built on 4 channels: the error names the tensor.
    ['insert', file, '--after', spec, '--module', 'SE', '--dry-run'],
  ]) {
    const r = runBounded(args);
    assert.doesNotMatch(r.stdout + r.stderr, raw, `${args[0]}: raw control characters in ${JSON.stringify(r.stdout + r.stderr)}`);
    assert.ok((r.stdout + r.stderr).includes('a\\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\u202e'), r.stdout + r.stderr);
  }
  // JSON stays valid JSON and gives the names back exactly.
  const j = runBounded(['inspect', file, '--at', spec, '--json']);
  assert.equal(JSON.parse(j.stdout).sites[0].tensor, nasty);
  assert.doesNotMatch(j.stdout, raw);
});

// ------------------------------------------------------------------------------------------- pipes

test('a model from a pipe is read as a stream; one with external data, a socket or the stream limit is one line', async () => {
  const dir = tmpDir();
  const file = save(dir, 'm.onnx', reluChain());
  const bytes = fs.readFileSync(file);
  const viaFile = runBounded(['inspect', file, '--json']);
  const viaPipe = runBounded(['inspect', '/dev/stdin', '--json'], { input: bytes });
  assert.equal(viaPipe.code, 0, viaPipe.stderr);
  assert.deepEqual({ ...JSON.parse(viaPipe.stdout), path: null }, { ...JSON.parse(viaFile.stdout), path: null });
  const out = path.join(dir, 'from-pipe.onnx');
  const ins = runBounded(['insert', '/dev/stdin', '--after', 'tensor:a', '--module', 'SimAM', '-o', out], { input: bytes });
  assert.equal(ins.code, 0, ins.stderr);
  assert.ok(fs.existsSync(out));
  // External data lives beside a model's file; a pipe has no folder.
  const ext = fs.readFileSync(save(dir, 'ext.onnx', externalModel('w.bin')));
  assertRefused(runBounded(['inspect', '/dev/stdin'], { input: ext }), '/dev/stdin', /is a pipe and its model keeps 1 tensor\(s\) in external data files/);
  // A named FIFO that nobody writes to is refused after a bounded wait, instead of blocking in open() forever;
  // one whose writer comes late (but within the wait) is read.
  const lonely = path.join(dir, 'lonely.onnx');
  spawnSync('mkfifo', [lonely]);
  assertRefused(runBounded(['inspect', lonely]), lonely, /is a FIFO \(named pipe\) that no process wrote to within 5 s \(FIFO_WRITER_WAIT_MS\)/);
  const late = spawn('sh', ['-c', `sleep 1; cat ${file} > ${lonely}`], { stdio: 'ignore' });
  const fromFifo = runBounded(['inspect', lonely, '--json']);
  late.kill();
  assert.equal(fromFifo.code, 0, fromFifo.stderr);
  assert.deepEqual({ ...JSON.parse(fromFifo.stdout), path: null }, { ...JSON.parse(viaFile.stdout), path: null });
  // A socket cannot be read as a model.
  const sock = path.join(dir, 'model.sock');
  await new Promise<void>((resolve) => {
    const server = net.createServer().listen(sock, () => {
      server.unref();
      resolve();
    });
  });
  assertRefused(runBounded(['inspect', sock]), sock, /is a socket, not an \.onnx file/);
  // A character device is no model: /dev/zero never ends (it was read to 2 GiB, 2.1 GB RSS) and a terminal waits.
  assertRefused(
    runBounded(['inspect', '/dev/zero']),
    '/dev/zero',
    /is a character device \(a terminal or device\), not a model; give the model's file, or pipe it in/,
  );
  const zeroOut = path.join(dir, 'zero-nam.onnx');
  assertRefused(runBounded(['insert', '/dev/zero', '--after', '23', '--module', 'NAM', '-o', zeroOut]), '/dev/zero', /character device/, zeroOut);
  // The stream limit, named in the message (a small limit through the library option; the default is 2 GiB).
  const fifo = path.join(dir, 'big.fifo');
  spawnSync('mkfifo', [fifo]);
  // The writer blocks until the load opens the FIFO, then gets EPIPE when the load stops reading.
  const writer = spawn('sh', ['-c', `head -c 300000 /dev/zero > ${fifo}`], { stdio: 'ignore' });
  await assert.rejects(loadModel(fifo, { maxModelBytes: 100_000 }), (e: Error) => {
    assert.equal(e.name, 'ModelError');
    assert.match(e.message, /big\.fifo is a pipe that gave more than 100000 bytes \(MAX_MODEL_BYTES, protobuf's 2 GiB limit for a model\)/);
    return true;
  });
  writer.kill();
});

// ------------------------------------------------------------------------------------------- ONNX rules

test("an input that breaks ONNX's rules is refused when loaded, blaming the input, before anything is built", () => {
  const dir = tmpDir();
  const w = floatTensor('w', [1, 4, 1, 1], [1, 2, 3, 4]);
  const cases: [string, ModelProto, RegExp][] = [
    [
      'two nodes with one name',
      reluChain({ nodes: [node('Relu', ['x'], ['a'], 'n'), node('Relu', ['a'], ['y'], 'n')] }),
      /two nodes are named 'n'; the model breaks ONNX's rules/,
    ],
    [
      'two initializers with one name',
      reluChain({ nodes: [node('Mul', ['x', 'w'], ['a'], 'm'), node('Relu', ['a'], ['y'], 'r')], initializers: [w, { ...w }] }),
      /initializer 'w' is defined twice; the model breaks ONNX's rules/,
    ],
    [
      'a tensor produced twice',
      reluChain({ nodes: [node('Relu', ['x'], ['a'], 'one'), node('Sigmoid', ['x'], ['a'], 'two'), node('Relu', ['a'], ['y'], 'r')] }),
      /tensor 'a' is assigned twice \(by node 'two' and node 'one'\); the model breaks ONNX's single-assignment rule/,
    ],
    [
      'a node input that nothing produces',
      reluChain({ nodes: [node('Relu', ['x'], ['a'], 'one'), node('Add', ['a', 'ghost'], ['y'], 'r')] }),
      /node 'r' reads tensor 'ghost', which no node, input or initializer defines/,
    ],
    [
      'nodes out of topological order',
      reluChain({ nodes: [node('Relu', ['a'], ['y'], 'late'), node('Relu', ['x'], ['a'], 'early')] }),
      /node 'late' reads 'a' before node 'early' produces it; ONNX requires nodes in topological order/,
    ],
  ];
  for (const [what, m, problem] of cases) {
    const file = save(dir, `${what.replace(/\W+/g, '-')}.onnx`, m);
    const out = path.join(dir, `${what.replace(/\W+/g, '-')}-out.onnx`);
    assertRefused(runBounded(['insert', file, '--after', 'tensor:a', '--module', 'SimAM', '-o', out]), file, problem, out);
  }
  // Empty node names are legal in ONNX, however many: such a model patches fine.
  const unnamed = save(dir, 'unnamed.onnx', reluChain({ nodes: [node('Relu', ['x'], ['a'], ''), node('Relu', ['a'], ['y'], '')] }));
  const r = runBounded(['insert', unnamed, '--after', 'tensor:a', '--module', 'SimAM', '-o', path.join(dir, 'unnamed-out.onnx')]);
  assert.equal(r.code, 0, r.stderr);
});

test('an absurd declared channel count is refused before any weight is made (MAX_MODULE_PARAMETERS)', () => {
  const dir = tmpDir();
  // Relu keeps the declared [1, 100000, 4, 4]: GAM's two 7x7 convs would have 2.45e11 weights (minutes and tens of GB).
  const file = save(
    dir,
    'wide.onnx',
    model({
      nodes: [node('Relu', ['x'], ['a'], 'r1'), node('Relu', ['a'], ['y'], 'r2')],
      inputs: [tensorInfo('x', [1, 100_000, 4, 4])],
      outputs: [tensorInfo('y', [1, 100_000, 4, 4])],
    }),
  );
  const out = path.join(dir, 'o.onnx');
  for (const module of ['GAM', 'SE', 'CBAM', 'CA']) {
    assertRefused(
      runBounded(['insert', file, '--after', 'tensor:a', '--module', module, '-o', out]),
      'tensor:a (a, C=100000, 4x4)',
      new RegExp(`${module} would have \\d+ weights, more than the 268435456 \\(2\\^28, MAX_MODULE_PARAMETERS\\)`),
      out,
    );
  }
  // NAM's weights grow with C alone: 4·10^5 of them is fine, and the module is built (dry run, nothing written).
  const nam = runBounded(['insert', file, '--after', 'tensor:a', '--module', 'NAM', '--dry-run']);
  assert.equal(nam.code, 0, nam.stderr);
});
