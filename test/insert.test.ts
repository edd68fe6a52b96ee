import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { analyzeModel } from '../src/analysis.js';
import { planInsertions } from '../src/insert.js';
import { loadModelSync } from '../src/onnx/load.js';
import { readFloats } from '../src/onnx/tensor.js';
import { readTensorFile } from '../src/weights/read.js';
import { fixture, listFiles, runMain, tmpDir } from './helpers.js';

/**
 * insert on every family: a layer index (or scope), the head, a residual branch; gate-zero identity; provenance;
 * weights from files; and the exit-4 errors. Each successful insert has already passed its own CPU run check
 * (same outputs, dtypes and shapes as the original), which is on by default.
 */

const dir = tmpDir();
let n = 0;
async function insert(file: string, args: string[]) {
  const out = path.join(dir, `out-${n++}.onnx`);
  const r = await runMain(['insert', fixture(file), ...args, '-o', out, '--json']);
  return { ...r, out, json: r.code === 0 ? JSON.parse(r.stdout) : null };
}

const MANIFEST = JSON.parse(fs.readFileSync(fixture('MANIFEST.json'), 'utf8')) as {
  files: { file: string; inputs: ManifestTensor[]; outputs: ManifestTensor[] }[];
};
interface ManifestTensor {
  name: string;
  runtimeShape: number[];
  dtype: string;
}
const manifestEntry = (file: string) => MANIFEST.files.find((f) => f.file === file)!;
const ORT_DTYPE: Record<string, string> = { FLOAT: 'float32', INT64: 'int64' };
const manifestOutputs = (file: string) => manifestEntry(file).outputs.map((o) => ({ name: o.name, dtype: ORT_DTYPE[o.dtype], shape: o.runtimeShape }));

/** Every output of a model run in onnxruntime-node directly, on inputs made from the manifest's shapes. */
async function runOutputs(model: string, file: string): Promise<Record<string, number[]>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of manifestEntry(file).inputs) {
    const size = i.runtimeShape.reduce((a, b) => a * b, 1);
    feeds[i.name] =
      i.dtype === 'INT64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from({ length: size }, () => 128n),
            i.runtimeShape,
          )
        : new ort.Tensor(
            'float32',
            Float32Array.from({ length: size }, (_, k) => ((k * 7919) % 1000) / 1000),
            i.runtimeShape,
          );
  }
  const session = await ort.InferenceSession.create(model);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v.data as Float32Array | BigInt64Array, Number)]));
  } finally {
    await session.release();
  }
}

// Options that fit the miniature fixtures' 8-channel levels (C // 16 would be 0).
const MODULES: [string, string[]][] = [
  ['NAM', []],
  ['GAM', ['--opt', 'rate=4']],
  ['SimAM', []],
  ['SE', ['--opt', 'reduction=4']],
  ['CBAM', ['--opt', 'reduction=4']],
  ['ECA', []],
  ['CA', []],
];
const FAMILIES: [string, string][] = [
  ['yolov5-op12.onnx', '23'],
  ['yolov8-op17.onnx', '21'],
  ['yolo11-op12.onnx', '22'],
  ['rtdetr-l-op16.onnx', '27'],
  ['rtdetr-official-op17.onnx', '/model/encoder/pan_blocks.1'],
];

for (const [file, layer] of FAMILIES) {
  test(`${file}: every module inserts at ${layer} and at head, and the patched model runs`, async () => {
    for (const [module, opts] of MODULES) {
      const atLayer = await insert(file, ['--after', layer, '--module', module, ...opts]);
      assert.equal(atLayer.code, 0, `${module} at ${layer}: ${atLayer.stderr}`);
      const [ins] = atLayer.json.insertions;
      assert.equal(ins.module, module);
      assert.ok(ins.nodes.length > 0 && ins.nodes.every((name: string) => name.startsWith(`/onnx_attn/0_${module}/`)), ins.nodes.join());
      // insert exits non-zero when its own run check finds a problem, so check the outputs it ran against the
      // shapes and dtypes torch produced when the fixture was made (MANIFEST.json), an independent record.
      assert.deepEqual(atLayer.json.check.run.outputs, manifestOutputs(file));

      const atHead = await insert(file, ['--after', 'head', '--module', module, ...opts]);
      assert.equal(atHead.code, 0, `${module} at head: ${atHead.stderr}`);
      assert.deepEqual(
        atHead.json.insertions.map((i: { k: number; point: string }) => [i.k, i.point]),
        [
          [0, 'head:0'],
          [1, 'head:1'],
          [2, 'head:2'],
        ],
      );
      // Every consumer of a head tensor is rewired, including the neck's (cli-contract "Consumers").
      const model = loadModelSync(atHead.out);
      for (const i of atHead.json.insertions) {
        const readers = model.proto.graph!.node.filter((nd) => nd.input.includes(i.tensor)).map((nd) => nd.name);
        assert.deepEqual(
          readers.filter((r) => !r.startsWith('/onnx_attn/')),
          [],
          `${module}: ${i.tensor} still read by ${readers}`,
        );
      }
    }
  });
}

// The residual Add of one block per family, and the branch tensor it adds (the other input is the shortcut).
const RESIDUALS: [string, string, string][] = [
  ['yolov5-op12.onnx', '/model.2/m/m.0/Add', '/model.2/m/m.0/cv2/act/Mul_output_0'],
  ['yolov8-op17.onnx', '/model.2/m.0/Add', '/model.2/m.0/cv2/act/Mul_output_0'],
  ['yolo11-op12.onnx', '/model.4/m.0/Add', '/model.4/m.0/cv2/act/Mul_output_0'],
  ['rtdetr-l-op16.onnx', '/model.6/Add', '/model.6/ec/act/Relu_output_0'],
  ['rtdetr-official-op17.onnx', '/model/backbone/res_layers.1/blocks.0/Add', '/model/backbone/res_layers.1/blocks.0/branch2b/conv/Conv_output_0'],
];

test('a residual branch: with --consumers every module feeds only the Add, on every family', async () => {
  for (const [file, add, branch] of RESIDUALS) {
    for (const [module, opts] of MODULES) {
      const r = await insert(file, ['--after', `tensor:${branch}`, '--module', module, ...opts, '--consumers', add]);
      assert.equal(r.code, 0, `${file} ${module}: ${r.stderr}`);
      assert.deepEqual(r.json.insertions[0].rewired, [add]);
      const nodes = loadModelSync(r.out).proto.graph!.node;
      const addNode = nodes.find((nd) => nd.name === add)!;
      const out = r.json.insertions[0].nodes.at(-1) + '_output_0';
      assert.ok(addNode.input.includes(out) && !addNode.input.includes(branch), `${file} ${module}: ${addNode.input}`);
      // Every other reader of the branch tensor still reads it directly.
      const others = nodes.filter((nd) => nd.input.includes(branch) && !nd.name.startsWith('/onnx_attn/'));
      assert.ok(others.every((nd) => nd.name !== add));
    }
  }
  // The scope form works too: the Bottleneck's cv2 as the point, the Add as the only consumer.
  const v5 = await insert('yolov5-op12.onnx', ['--after', 'model.2/m/m.0/cv2', '--module', 'NAM', '--consumers', '/model.2/m/m.0/Add']);
  assert.equal(v5.code, 0, v5.stderr);
  const add = loadModelSync(v5.out).proto.graph!.node.find((nd) => nd.name === '/model.2/m/m.0/Add')!;
  assert.deepEqual(add.input, ['/model.2/cv1/act/Mul_output_0', '/onnx_attn/0_NAM/Mul_output_0']);

  const wrong = await runMain([
    'insert',
    fixture('yolov5-op12.onnx'),
    '--after',
    'model.2/m/m.0/cv2',
    '--module',
    'NAM',
    '--consumers',
    '/model.9/cv1/conv/Conv',
    '--dry-run',
  ]);
  assert.equal(wrong.code, 4);
  assert.match(
    wrong.stderr,
    /--consumers: node '\/model\.9\/cv1\/conv\/Conv' does not read \/model\.2\/m\/m\.0\/cv2\/act\/Mul_output_0; its consumers are '\/model\.2\/m\/m\.0\/Add'/,
  );
});

test("--after head with --consumers: each level takes the named nodes that read it, or `head` for the head's own", async () => {
  const headOnly = (r: { json: { insertions: { rewired: string[] }[] } }) => r.json.insertions.map((i) => i.rewired);
  const expected = [0, 1, 2].map((l) => [`/model.22/cv2.${l}/cv2.${l}.0/conv/Conv`, `/model.22/cv3.${l}/cv3.${l}.0/conv/Conv`]);
  const byKeyword = await insert('yolov8-op12.onnx', ['--after', 'head', '--module', 'NAM', '--consumers', 'head']);
  assert.equal(byKeyword.code, 0, byKeyword.stderr);
  assert.deepEqual(headOnly(byKeyword), expected);
  // The neck's downsampling convs (model.16, model.19) still read the unpatched tensors.
  const g = loadModelSync(byKeyword.out).proto.graph!;
  assert.deepEqual(g.node.find((nd) => nd.name === '/model.16/conv/Conv')!.input[0], '/model.15/cv2/act/Mul_output_0');
  const byName = await insert('yolov8-op12.onnx', ['--after', 'head', '--module', 'NAM', '--consumers', expected.flat().join(',')]);
  assert.equal(byName.code, 0, byName.stderr);
  assert.deepEqual(headOnly(byName), expected);

  const cases: [string[], number, RegExp][] = [
    [
      ['--consumers', expected[0]!.join(',')],
      4,
      /--consumers: none of .* reads \/model\.18\/cv2\/act\/Mul_output_0 \(point head:1\), so its module would feed nothing; its consumers are '\/model\.19\/conv\/Conv', /,
    ],
    [
      ['--consumers', `${expected.flat().join(',')},/model.9/cv1/conv/Conv`],
      4,
      /node '\/model\.9\/cv1\/conv\/Conv' does not read .* or .* or .*; their consumers are/,
    ],
    [['--consumers'], 2, /--consumers needs node names \(comma-separated\), or head for the detection head's own nodes/],
  ];
  for (const [args, code, re] of cases) {
    const r = await runMain(['insert', fixture('yolov8-op12.onnx'), '--after', 'head', '--module', 'NAM', ...args, '--dry-run']);
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
});

test('--gate zero is bit-identical to the original on every family', async () => {
  for (const [file] of FAMILIES) {
    const r = await insert(file, ['--after', 'head', '--module', 'CBAM', '--opt', 'reduction=4', '--gate', 'zero']);
    assert.equal(r.code, 0, `${file}: ${r.stderr}`);
    // insert already refuses (exit 1) a gate-zero patch its own check finds different, so run both models here,
    // outside the tool, on the same seeded input and compare every output byte.
    assert.deepEqual(await runOutputs(r.out, file), await runOutputs(fixture(file), file), file);
    const gates = loadModelSync(r.out).proto.graph!.initializer.filter((t) => /^onnx_attn\.\d\.gate$/.test(t.name));
    assert.deepEqual(
      gates.map((t) => readFloats(t)),
      [[0], [0], [0]],
    );
  }
});

test('provenance: existing metadata kept, one object per insertion, unique names when inserting again', async () => {
  const first = await insert('yolov8-op17.onnx', ['--after', '15', '--module', 'ECA']);
  assert.equal(first.code, 0, first.stderr);
  const before = loadModelSync(fixture('yolov8-op17.onnx')).proto.metadataProps.map((p) => [p.key, p.value]);
  const second = path.join(dir, 'twice.onnx');
  const r = await runMain(['insert', first.out, '--after', '15', '--module', 'ECA', '-o', second, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const model = loadModelSync(second);
  const props = model.proto.metadataProps.map((p) => [p.key, p.value]);
  assert.deepEqual(
    props.filter(([k]) => k !== 'onnx_attn'),
    before,
    'ultralytics names, stride, imgsz ... unchanged',
  );
  const prov = JSON.parse(props.find(([k]) => k === 'onnx_attn')![1]!);
  assert.deepEqual(
    prov.map((p: { k: number; module: string; point: string; tool: string }) => [p.k, p.module, p.point, p.tool]),
    [
      [0, 'ECA', 'model.15', 'onnx-attn'],
      [1, 'ECA', 'model.15', 'onnx-attn'],
    ],
  );
  assert.deepEqual(Object.keys(prov[1]).slice(0, 12), [
    'tool',
    'version',
    'k',
    'module',
    'variant',
    'options',
    'point',
    'spec',
    'tensor',
    'shape',
    'init',
    'seed',
  ]);
  assert.equal(prov[1].gate, 'none');
  const names = model.proto.graph!.node.map((nd) => nd.name);
  assert.equal(new Set(names).size, names.length);
  assert.ok(names.includes('/onnx_attn/1_ECA/Conv'));
  // The second module reads the first one's output: the tensor the point resolves to now.
  assert.equal(JSON.parse(r.stdout).insertions[0].tensor, '/onnx_attn/0_ECA/Mul_output_0');
});

test('--dry-run writes nothing and prints the plan; the default output is <stem>-<module>.onnx beside the input', async () => {
  const d = tmpDir();
  const input = path.join(d, 'yolov5s.onnx');
  fs.copyFileSync(fixture('yolov5-op12.onnx'), input);
  const dry = await runMain(['insert', input, '--after', '17,20', '--module', 'GAM', '--opt', 'variant=plain,rate=2', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^0\s+model\.17\s+\/model\.17\/cv3\/act\/Mul_output_0\s+\[1,8,16,16\]\s+GAM\(plain\)\s+/m);
  assert.match(dry.stdout, /dry run: nothing written \(would write .*yolov5s-gam\.onnx\)/);
  assert.deepEqual(listFiles(d), ['yolov5s.onnx']);
  // --dry-run --json names the nodes and initializers the real run then writes.
  const dryJson = JSON.parse((await runMain(['insert', input, '--after', '17', '--module', 'SimAM', '--dry-run', '--json'])).stdout);
  const r = await runMain(['insert', input, '--after', '17', '--module', 'SimAM', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listFiles(d), ['yolov5s-simam.onnx', 'yolov5s.onnx']);
  const written = loadModelSync(path.join(d, 'yolov5s-simam.onnx')).proto.graph!;
  const names = dryJson.insertions[0].nodes as string[];
  assert.equal(names.length, 10);
  assert.deepEqual(
    written.node.filter((nd) => nd.name.startsWith('/onnx_attn/')).map((nd) => nd.name),
    names,
  );
  assert.deepEqual(
    written.initializer.filter((t) => t.name.startsWith('onnx_attn.')).map((t) => t.name),
    dryJson.insertions[0].initializers,
  );
  const again = await runMain(['insert', input, '--after', '17', '--module', 'SimAM']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /yolov5s-simam\.onnx already exists; pass --force/);
  const inPlace = await runMain(['insert', input, '--after', '17', '--module', 'SimAM', '-o', input]);
  assert.equal(inPlace.code, 2);
  assert.match(inPlace.stderr, /refusing to overwrite the input/);
});

test('--weights: a reference state_dict (.json) lands in the model as given, folded where the doc says', async () => {
  const golden = readTensorFile(fixture('goldens/nam-channel-c16-8x8.safetensors'));
  const state = Object.fromEntries(
    [...golden.tensors]
      .filter(([k]) => k.startsWith('Channel_Att.'))
      .map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.data as Float32Array, Number) }]),
  );
  const w = path.join(dir, 'nam16.json');
  fs.writeFileSync(w, JSON.stringify(state));
  const r = await insert('yolov5-op12.onnx', ['--after', '20', '--module', 'NAM', '--weights', w]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.insertions[0].init, 'weights');
  const inits = new Map(loadModelSync(r.out).proto.graph!.initializer.map((t) => [t.name, readFloats(t)!]));
  const mean = golden.tensors.get('Channel_Att.bn2.running_mean')!.data as Float32Array;
  assert.deepEqual(inits.get('onnx_attn.0.Channel_Att.bn2.running_mean'), Array.from(mean));
  const gamma = golden.tensors.get('Channel_Att.bn2.weight')!.data as Float32Array;
  const sum = gamma.reduce((a, g) => a + Math.abs(g), 0);
  const folded = inits.get('onnx_attn.0.Channel_Att.bn2.folded_scale')!;
  gamma.forEach((g, i) => assert.ok(Math.abs(folded[i]! - (g * Math.abs(g)) / sum) < 1e-7));

  const wrongShape = await insert('yolov5-op12.onnx', ['--after', '23', '--module', 'NAM', '--weights', w]);
  assert.equal(wrongShape.code, 4);
  assert.match(wrongShape.stderr, /nam16\.json: Channel_Att\.bn2\.weight has shape \[16\], expected \[32\]/);
});

test('an unknown module or option, or an option value wrong anywhere, is a usage error (exit 2)', async () => {
  const cases: [string[], RegExp][] = [
    [['--module', 'Swin'], /unknown module 'Swin'; choose one of NAM, GAM, SimAM, SE, CBAM, ECA, CA/],
    [['--module', 'SE', '--opt', 'ratio=4'], /SE has no option 'ratio'; its options are reduction/],
    [['--module', 'SE', '--opt', 'reduction=abc'], /SE option reduction=abc: expected a positive integer/],
    [['--module', 'ECA', '--opt', 'k=4'], /ECA k must be odd/],
    [['--module', 'SimAM', '--opt', 'lambda=-1'], /SimAM lambda must be ≥ 0/],
  ];
  for (const [args, re] of cases) {
    const r = await runMain(['insert', fixture('yolov5-op12.onnx'), '--after', '23', ...args, '--dry-run']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
});

test('module errors are exit 4 with one line', async () => {
  const cases: [string, string[], RegExp][] = [
    [
      'yolov5-op12.onnx',
      ['--after', '17', '--module', 'GAM', '--opt', 'variant=grouped'],
      /model\.17 .*C=8\): GAM variant=grouped needs C divisible by r² = 16/,
    ],
    ['yolov5-dynamic-op12.onnx', ['--after', '23', '--module', 'NAM', '--opt', 'spatial=pixel'], /NAM spatial=pixel needs a static H and W/],
    ['yolov5-op12.onnx', ['--after', 'tensor:/model.24/Constant_output_0', '--module', 'NAM'], /is a constant .* not data; pick a data tensor/],
  ];
  for (const [file, args, re] of cases) {
    const r = await runMain(['insert', fixture(file), ...args, '--dry-run']);
    assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
});

test('a dynamic model gets the dynamic SimAM form, and --shape only sizes the check run', async () => {
  const r = await insert('yolov5-dynamic-op12.onnx', ['--after', '23', '--module', 'SimAM', '--shape', 'images=2x3x96x160']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.insertions[0].variant, 'dynamic');
  assert.deepEqual(r.json.insertions[0].shape, ['batch', 32, null, null]);
  assert.deepEqual(r.json.check.run.outputs[0].shape.slice(0, 1), [2]);
});

test('output paths are checked before the model is read: a folder in the way, a file where a folder should be', async () => {
  const d = tmpDir();
  const input = path.join(d, 'yolov5s.onnx');
  fs.copyFileSync(fixture('yolov5-op12.onnx'), input);
  fs.mkdirSync(path.join(d, 'yolov5s-nam.onnx'));
  const folder = await runMain(['insert', input, '--after', '23', '--module', 'NAM', '--force']);
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /^onnx-attn: cannot write .*yolov5s-nam\.onnx: it is a directory; give a file name for the output\n$/);
  const underFile = await runMain(['insert', input, '--after', '23', '--module', 'NAM', '-o', path.join(input, 'x.onnx')]);
  assert.equal(underFile.code, 2);
  assert.match(underFile.stderr, /^onnx-attn: cannot write .*x\.onnx: .*yolov5s\.onnx is a file, not a folder; choose another output path\n$/);
  assert.deepEqual(listFiles(d), ['yolov5s-nam.onnx', 'yolov5s.onnx']);
});

test('the library refuses --weights with --init or --seed too: they would be ignored', async () => {
  const analyzed = await analyzeModel(loadModelSync(fixture('yolov5-op12.onnx')));
  const weights = fixture('goldens/nam-channel-c16-8x8.safetensors');
  assert.throws(
    () => planInsertions(analyzed, { after: '20', module: 'NAM', weights, seed: 3 }),
    /--weights gives the module's weights, so --seed would be ignored; pass one or the other/,
  );
  assert.throws(() => planInsertions(analyzed, { after: '20', module: 'NAM', weights, init: 'random' }), /so --init would be ignored/);
});
