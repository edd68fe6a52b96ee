import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { analyzeModel } from '../src/analysis.js';
import { insertIntoFile, type InsertOptions } from '../src/insert.js';
import { loadModel } from '../src/onnx/load.js';
import { ValueInfoProtoSchema } from '../src/onnx/proto.js';
import { encodeModel } from '../src/onnx/save.js';
import { graphInputSpecs, makeInputs } from '../src/runtime/inputs.js';
import { openSession } from '../src/runtime/session.js';
import { torchCode } from '../src/torch-code.js';
import { readTorchCheckpoint } from '../src/weights/torch-checkpoint.js';
import { decodeTensor } from '../src/weights/torch-tensor.js';
import { fixture, ROOT, runBin, tmpDir } from './helpers.js';

/**
 * The loop with PyTorch, checked against PyTorch itself (Debian's /usr/bin/python3 with torch 1.13; .ci/run installs
 * python3-torch): every fixture checkpoint reads to the values torch.load gives; each layout patches its fixture
 * with weights that make the inserted module equal the same module in PyTorch; and each module printed by
 * `onnx-attn torch`, trained-model style and saved whole, comes back through `--weights` to the same outputs.
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'test', 'torch_loop.py');
const CKPT = (name: string) => fixture(`checkpoints/${name}`);

function python(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `python ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

/** The golden tolerance of the module tests: max abs error ≤ 1e-5·max(1, max|y|). */
const within = (maxAbs: number, scale: number) => maxAbs <= 1e-5 * Math.max(1, scale);

interface LoopVariant {
  tag: string;
  module: string;
  opts: Record<string, string>;
  args: (number | string)[];
}

/** Every module and variant, at layer 23 of the YOLOv5-style fixture (C=32, 4x4). */
const VARIANTS: LoopVariant[] = [
  { tag: 'nam-channel', module: 'NAM', opts: {}, args: [32] },
  { tag: 'nam-pixel', module: 'NAM', opts: { spatial: 'pixel' }, args: [32, 'pixel', 4, 4] },
  { tag: 'gam-paper', module: 'GAM', opts: {}, args: [32] },
  { tag: 'gam-plain', module: 'GAM', opts: { variant: 'plain' }, args: [32] },
  { tag: 'gam-grouped', module: 'GAM', opts: { variant: 'grouped' }, args: [32] },
  { tag: 'simam', module: 'SimAM', opts: { lambda: '0.1' }, args: [32] },
  { tag: 'se', module: 'SE', opts: {}, args: [32] },
  { tag: 'cbam-official', module: 'CBAM', opts: {}, args: [32] },
  { tag: 'cbam-ultralytics', module: 'CBAM', opts: { variant: 'ultralytics', kernel: '3' }, args: [32] },
  { tag: 'eca', module: 'ECA', opts: {}, args: [32] },
  { tag: 'ca', module: 'CA', opts: { reduction: '8' }, args: [32] },
];

interface Case {
  name: string;
  model: string;
  insert: Omit<InsertOptions, 'weights'>;
  checkpoint: string;
  module: string;
  opts: Record<string, string>;
  /** Constructor arguments of the printed class, per point. */
  args: (number | string)[][];
  prefixes: string[];
  bnEps: number;
}

/** The patched model's module input and output at each point, from one run of its seeded inputs. */
async function moduleTensors(output: string, pairs: { input: string; output: string }[]) {
  const model = await loadModel(output);
  const analyzed = await analyzeModel(model);
  const names = pairs.flatMap((p) => [p.input, p.output]);
  model.proto.graph!.output.push(...names.map((name) => create(ValueInfoProtoSchema, { name })));
  const session = await openSession(encodeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    const outputs = await session.run(makeInputs(graphInputSpecs(analyzed.graph), { seed: 7 }));
    const byName = new Map(outputs.map((o) => [o.name, { shape: o.dims, data: Array.from(o.data as ArrayLike<number>) }]));
    return pairs.map((p) => ({ x: byName.get(p.input)!, y: byName.get(p.output)! }));
  } finally {
    await session.release();
  }
}

test(
  'checkpoints: every tensor equals torch.load; each layout patches its fixture as PyTorch computes; printed modules round-trip',
  { timeout: 300_000 },
  async () => {
    const dir = tmpDir();
    const codeDir = path.join(dir, 'code');
    fs.mkdirSync(codeDir);
    const codeFile = (tag: string) => path.join(codeDir, `${tag}.py`);
    for (const v of VARIANTS) {
      const printed = torchCode(v.module, { opts: v.opts });
      fs.writeFileSync(codeFile(v.tag), printed.code);
      fs.writeFileSync(path.join(codeDir, `${v.tag}.json`), JSON.stringify({ className: printed.className, args: v.args }));
    }
    for (const [tag, module, opts] of [
      ['fixture-nam', 'NAM', {}],
      ['fixture-cbam-u', 'CBAM', { variant: 'ultralytics' }],
      ['fixture-eca', 'ECA', {}],
      ['fixture-gam', 'GAM', {}],
    ] as const) {
      fs.writeFileSync(path.join(dir, `${tag}.py`), torchCode(module, { opts }).code);
    }
    python(['prepare', dir, codeDir]);

    // 1. Every tensor of every fixture, exactly as torch.load reads it (fp16 widened exactly, views gathered).
    const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, [string, number[], string, number[]][]>;
    assert.equal(Object.keys(expected).length, 10);
    for (const [file, tensors] of Object.entries(expected)) {
      const ckpt = readTorchCheckpoint(CKPT(file));
      assert.deepEqual(
        [...ckpt.tensors.keys()],
        tensors.map((t) => t[0]),
        file,
      );
      for (const [key, shape, , values] of tensors) {
        const t = decodeTensor(ckpt.tensors.get(key)!);
        assert.deepEqual(t.shape, shape, `${file} ${key}`);
        assert.deepEqual(Array.from(t.data, Number), values, `${file} ${key}`);
      }
    }

    // 2. Each layout on its fixture, and 3. each printed module saved whole by PyTorch, through --weights.
    const fixtureCases: Case[] = [
      {
        name: 'yolov5 model pickled whole, fp16',
        model: 'yolov5-op12.onnx',
        insert: { after: '23', module: 'NAM' },
        checkpoint: CKPT('yolov5-nam.pt'),
        module: 'NAM',
        opts: {},
        args: [[32]],
        prefixes: ['model.24.'],
        bnEps: 1e-3,
      },
      {
        name: 'yolov5 ema, fp32, --after head',
        model: 'yolov5-op12.onnx',
        insert: { after: 'head', module: 'NAM' },
        checkpoint: CKPT('yolov5-head-nam-fp32.pt'),
        module: 'NAM',
        opts: {},
        args: [[8], [16], [32]],
        prefixes: ['model.18.', 'model.22.', 'model.26.'],
        bnEps: 1e-3,
      },
      {
        name: 'ultralytics model pickled whole, fp16',
        model: 'yolov8-op12.onnx',
        insert: { after: '21', module: 'CBAM', opts: { variant: 'ultralytics' } },
        checkpoint: CKPT('ultralytics-cbam.pt'),
        module: 'CBAM',
        opts: { variant: 'ultralytics' },
        args: [[32]],
        prefixes: ['model.22.'],
        bnEps: 1e-3,
      },
      {
        name: "official RT-DETR {'model': state_dict}",
        model: 'rtdetr-official-op16.onnx',
        insert: { after: 'model/backbone/res_layers.2', module: 'NAM' },
        checkpoint: CKPT('rtdetr-nam.pth'),
        module: 'NAM',
        opts: {},
        args: [[16]],
        prefixes: ['backbone.res_layers.2.blocks.1.nam.'],
        bnEps: 1e-5,
      },
      {
        name: "official RT-DETR {'ema': {'module'}}, point order",
        model: 'rtdetr-official-op16.onnx',
        insert: { after: 'head', module: 'ECA' },
        checkpoint: CKPT('rtdetr-ema-eca.pth'),
        module: 'ECA',
        opts: {},
        args: [[16], [16], [16]],
        prefixes: ['encoder.fpn_blocks.1.attn.', 'encoder.pan_blocks.0.attn.', 'encoder.pan_blocks.1.attn.'],
        bnEps: 1e-5,
      },
      {
        name: 'bare state_dict',
        model: 'yolov5-op12.onnx',
        insert: { after: '23', module: 'NAM' },
        checkpoint: CKPT('nam-bare.pth'),
        module: 'NAM',
        opts: {},
        args: [[32]],
        prefixes: [''],
        bnEps: 1e-3,
      },
      {
        name: 'views of one storage',
        model: 'yolov5-op12.onnx',
        insert: { after: '20', module: 'GAM' },
        checkpoint: CKPT('gam-views.pt'),
        module: 'GAM',
        opts: {},
        args: [[16]],
        prefixes: [''],
        bnEps: 1e-3,
      },
      {
        name: 'yolov5, pickle protocol 5',
        model: 'yolov5-op12.onnx',
        insert: { after: '23', module: 'NAM' },
        checkpoint: CKPT('yolov5-nam-p5.pt'),
        module: 'NAM',
        opts: {},
        args: [[32]],
        prefixes: ['model.24.'],
        bnEps: 1e-3,
      },
      {
        name: 'ultralytics model pickled whole, legacy format',
        model: 'yolov8-op12.onnx',
        insert: { after: '21', module: 'CBAM', opts: { variant: 'ultralytics' } },
        checkpoint: CKPT('ultralytics-cbam-legacy.pt'),
        module: 'CBAM',
        opts: { variant: 'ultralytics' },
        args: [[32]],
        prefixes: ['model.22.'],
        bnEps: 1e-3,
      },
      {
        name: 'legacy non-zip format, fp16',
        model: 'yolov5-op12.onnx',
        insert: { after: '23', module: 'NAM' },
        checkpoint: CKPT('nam-legacy.pt'),
        module: 'NAM',
        opts: {},
        args: [[32]],
        prefixes: ['model.24.'],
        bnEps: 1e-3,
      },
    ];
    const codeOf = (module: string, opts: Record<string, string>) => {
      const tag = module === 'CBAM' ? 'fixture-cbam-u' : module === 'ECA' ? 'fixture-eca' : module === 'GAM' ? 'fixture-gam' : 'fixture-nam';
      assert.deepEqual(opts, module === 'CBAM' ? { variant: 'ultralytics' } : {});
      return path.join(dir, `${tag}.py`);
    };
    const loopCases: Case[] = VARIANTS.map((v) => ({
      name: `printed ${v.tag}`,
      model: 'yolov5-op12.onnx',
      insert: { after: '23', module: v.module, opts: v.opts },
      checkpoint: path.join(dir, `loop-${v.tag}.pt`),
      module: v.module,
      opts: v.opts,
      args: [v.args],
      prefixes: ['model.24.'],
      bnEps: 1e-3,
    }));
    const pyCases: object[] = [];
    for (const c of [...fixtureCases, ...loopCases]) {
      const out = path.join(dir, `${c.name.replace(/[^\w]+/g, '-')}.onnx`);
      const result = await insertIntoFile(fixture(c.model), { ...c.insert, weights: c.checkpoint, output: out });
      assert.equal(result.insertions.length, c.prefixes.length, c.name);
      const hasWeights = c.module !== 'SimAM';
      assert.deepEqual(
        result.insertions.map((i) => i.weightsPrefix),
        hasWeights ? c.prefixes : c.prefixes.map(() => undefined),
        c.name,
      );
      const tensors = await moduleTensors(
        out,
        result.insertions.map((i) => ({ input: i.moduleInput!, output: i.moduleOutput! })),
      );
      tensors.forEach((t, j) =>
        pyCases.push({
          name: `${c.name} #${j}`,
          code: c.name.startsWith('printed') ? codeFile(c.name.slice('printed '.length)) : codeOf(c.module, c.opts),
          className: c.module,
          args: c.args[j],
          checkpoint: c.checkpoint,
          prefix: c.prefixes[j],
          bnEps: c.bnEps,
          ...t,
        }),
      );
    }
    const casesFile = path.join(dir, 'cases.json');
    fs.writeFileSync(casesFile, JSON.stringify(pyCases));
    const results = JSON.parse(python(['check', casesFile])) as { name: string; maxAbs: number; scale: number; shape: number[] }[];
    assert.equal(results.length, 3 + 3 + 8 + VARIANTS.length);
    for (const r of results) {
      assert.ok(r.scale > 0.01, `${r.name}: the module's output is all but zero (max |y| ${r.scale}); the check would be empty`);
      assert.ok(within(r.maxAbs, r.scale), `${r.name}: max |y_onnx − y_torch| = ${r.maxAbs} at max |y| ${r.scale}`);
    }
  },
);

test('torch MODULE prints Python that compiles, with the YAML line and the shifted indexes', () => {
  const r = runBin(['torch', 'NAM', '--layer', '23', '--family', 'yolov5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^class NAM\(nn\.Module\):$/m);
  assert.match(r.stdout, /#        \[-1, 1, NAM, \[\]\]  # 24$/m);
  assert.match(r.stdout, /#        layer 24 -> 25 Detect: from \[17, 20, 23\] -> \[17, 20, 24\]$/m);
  const head = runBin(['torch', 'GAM', '--opt', 'variant=grouped', '--layer', '17', '--family', 'ultralytics', '--json']);
  assert.equal(head.code, 0, head.stderr);
  const json = JSON.parse(head.stdout) as {
    options: Record<string, unknown>;
    yaml: { line: string; shifts: { from: number; to: number; newInputs: unknown[] }[] };
  };
  assert.equal(json.options['variant'], 'grouped');
  assert.equal(json.yaml.line, '[-1, 1, GAM, []]  # 18');
  // yolov8.yaml: 20 Concat [-1, 9] keeps 9; 22 Detect [15, 18, 21] becomes [15, 19, 22] at 23.
  assert.deepEqual(
    json.yaml.shifts.find((s) => s.from === 22),
    { from: 22, to: 23, type: 'Detect', inputs: [[15, 18, 21]], newInputs: [[15, 19, 22]] },
  );
  assert.deepEqual(json.yaml.shifts.find((s) => s.from === 20)?.newInputs, [[-1, 9]]);
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'm.py'), r.stdout);
  const compiled = spawnSync(PYTHON, ['-m', 'py_compile', path.join(dir, 'm.py')], { encoding: 'utf8' });
  assert.equal(compiled.status, 0, compiled.stderr);
  for (const [args, message] of [
    [['torch', 'NAM', '--layer', '24', '--family', 'yolov5'], /--layer 24: models\/yolov5s\.yaml has layers 0 to 23 before Detect \(24\)/],
    [['torch', 'NAM', '--layer', '3'], /--layer needs --family/],
    [['torch', 'NAM', '--family', 'yolov5'], /--family needs --layer/],
    [['torch', 'XYZ'], /unknown module 'XYZ'/],
    [['torch', 'ECA', '--opt', 'k=4'], /ECA option k=4|k must be odd/],
  ] as const) {
    const bad = runBin([...args]);
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  }
});

test('--weights best.pt at the CLI: found prefixes, --weights-prefix, and the candidates when it is ambiguous', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.onnx');
  const ok = runBin(['insert', fixture('yolov5-op12.onnx'), '--after', '23', '--module', 'NAM', '--weights', CKPT('yolov5-nam.pt'), '-o', out, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { insertions: { weightsPrefix: string }[] }).insertions[0]!.weightsPrefix, 'model.24.');
  const given = runBin([
    'insert',
    fixture('rtdetr-official-op16.onnx'),
    '--after',
    'head:1',
    '--module',
    'ECA',
    '--weights',
    CKPT('rtdetr-ema-eca.pth'),
    '--weights-prefix',
    'encoder.pan_blocks.1.attn',
    '-o',
    out,
    '--force',
    '--json',
  ]);
  assert.equal(given.code, 0, given.stderr);
  assert.equal((JSON.parse(given.stdout) as { insertions: { weightsPrefix: string }[] }).insertions[0]!.weightsPrefix, 'encoder.pan_blocks.1.attn.');
  const cases: [string[], number, RegExp][] = [
    // head:1 alone: three ECAs fit and only one point asks.
    [
      ['--after', 'head:1', '--module', 'ECA', '--weights', CKPT('rtdetr-ema-eca.pth')],
      2,
      /3 modules fit ECA at head:1 \(C=16\): encoder\.fpn_blocks\.1\.attn\. \(conv\.weight \[1, 1, 3\]\), encoder\.pan_blocks\.0\.attn\. .*pass --weights-prefix/,
    ],
    [
      ['--after', '17', '--module', 'NAM', '--weights', CKPT('yolov5-nam.pt')],
      2,
      /no NAM in it fits model\.17 \(C=8\), which needs Channel_Att\.bn2\.weight \[8\]; found model\.10\. \(Channel_Att\.bn2\.weight \[16\]\), model\.24\. \(Channel_Att\.bn2\.weight \[32\]\)/,
    ],
    [
      ['--after', '23', '--module', 'SE', '--weights', CKPT('yolov5-nam.pt')],
      2,
      /no module in it has SE's state_dict keys \(fc\.0\.weight, fc\.2\.weight, \.\.\.\)/,
    ],
    [
      ['--after', '23', '--module', 'NAM', '--weights', CKPT('yolov5-nam.pt'), '--weights-prefix', 'model.99.'],
      2,
      /has no tensor under --weights-prefix 'model\.99\.'; modules with NAM's keys: model\.10\. /,
    ],
    [
      ['--after', '23', '--module', 'NAM', '--weights', CKPT('yolov5-nam.pt'), '--weights-prefix', 'model.10.'],
      4,
      /yolov5-nam\.pt at model\.10\.: Channel_Att\.bn2\.weight has shape \[16\], expected \[32\] \(C=32\)/,
    ],
    [
      ['--after', 'head', '--module', 'NAM', '--weights', CKPT('yolov5-nam.pt'), '--weights-prefix', 'model.10.,model.24.'],
      2,
      /names 2 prefixes for 3 insertion points/,
    ],
    [['--after', '23', '--module', 'NAM', '--weights-prefix', 'model.24.'], 2, /--weights-prefix names a module inside a --weights file; give --weights too/],
    [['--after', '23', '--module', 'NAM', '--weights', path.join(dir, 'missing.pt')], 2, /missing\.pt: no such file/],
  ];
  for (const [args, code, message] of cases) {
    const r = runBin(['insert', fixture(args.includes('ECA') ? 'rtdetr-official-op16.onnx' : 'yolov5-op12.onnx'), ...args, '-o', path.join(dir, 'x.onnx')]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!fs.existsSync(path.join(dir, 'x.onnx')));
  }
});

test('plans take weights-prefix beside a .pt weights file', () => {
  const dir = tmpDir();
  const plan = (item: string) =>
    `version: 1\nmodels:\n  - name: v5\n    input: ${fixture('yolov5-op12.onnx')}\n    output: out.onnx\n    insert:\n      - ${item}\n    validate: false\n    compare: false\n`;
  fs.writeFileSync(path.join(dir, 'plan.yaml'), plan(`{after: "23", module: NAM, weights: ${CKPT('yolov5-nam.pt')}, weights-prefix: model.24.}`));
  const ok = runBin(['apply', path.join(dir, 'plan.yaml'), '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const result = JSON.parse(ok.stdout) as { entries: { insertions: { weightsPrefix?: string; weights: string }[] }[] };
  assert.equal(result.entries[0]!.insertions[0]!.weightsPrefix, 'model.24.');
  assert.equal(result.entries[0]!.insertions[0]!.weights, 'yolov5-nam.pt');
  fs.writeFileSync(path.join(dir, 'bad.yaml'), plan('{after: "23", module: NAM, weights-prefix: model.24.}'));
  const bad = runBin(['apply', path.join(dir, 'bad.yaml')]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /bad\.yaml:7: models\[0\]\.insert\[0\]\.weights-prefix: names a module inside a weights file; give weights too/);
  fs.writeFileSync(path.join(dir, 'wrong.yaml'), plan(`{after: "23", module: NAM, weights: ${CKPT('yolov5-nam.pt')}, weights-prefix: model.99.}`));
  const wrong = runBin(['apply', path.join(dir, 'wrong.yaml')]);
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.match(wrong.stderr, /weights-prefix.*has no tensor under weights-prefix 'model\.99\.'/);
});
