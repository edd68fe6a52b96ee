import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { toBinary } from '@bufbuild/protobuf';
import sharp from 'sharp';
import { convert } from 'xmlbuilder2';
import { ModelProtoSchema } from '../src/onnx/proto.js';
import { ModuleBuilder } from '../src/modules/builder.js';
import { standaloneModel } from '../src/modules/standalone.js';
import { CUDA_LOADS } from './cuda-here.js';
import { fixture, listFiles, runBin, runMain, tmpDir } from './helpers.js';

/** validate and compare on the CPU, as CI runs them: pass and fail paths, exit codes, and the reports' contents. */

const v5 = fixture('yolov5-op12.onnx');
const dir = tmpDir();
const patched = (name: string, args: string[]) => {
  const out = path.join(dir, name);
  if (!fs.existsSync(out)) {
    const r = runBin(['insert', v5, ...args, '-o', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
  }
  return out;
};

test('compare: a gate-zero patch is exact, and every report says so', async () => {
  const gate = patched('gate.onnx', ['--after', 'head', '--module', 'SimAM', '--gate', 'zero']);
  const reports = ['r.json', 'r.md', 'r.html', 'r.xml'].map((f) => path.join(dir, `gate-${f}`));
  const r = await runMain(['compare', v5, gate, '--tolerance', 'exact', '--iters', '5', ...reports.flatMap((f) => ['--report', f])]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^PASS/);

  const json = JSON.parse(fs.readFileSync(reports[0]!, 'utf8'));
  assert.equal(json.schema, 'onnx-attn/compare@1');
  assert.equal(json.pass, true);
  assert.deepEqual(
    json.outputs.map((o: { name: string; maxAbs: number; withinPct: number; tolerance: { name: string } }) => [
      o.name,
      o.maxAbs,
      o.withinPct,
      o.tolerance.name,
    ]),
    [['output0', 0, 100, 'exact']],
  );
  assert.equal(json.insertions.length, 3);
  // SimAM: 4 MACs per element (Sub, square, Div, gating Mul) plus the zero gate's Mul, at the three head levels
  // (8x16x16, 16x8x8, 32x4x4 on this fixture).
  const perSite = [8 * 16 * 16, 16 * 8 * 8, 32 * 4 * 4].map((elements) => 5 * elements);
  assert.deepEqual(
    json.insertions.map((p: { macs: number }) => p.macs),
    perSite,
  );
  assert.deepEqual(json.added, { params: 3, macs: perSite[0]! + perSite[1]! + perSite[2]!, nodes: 39, source: 'provenance' });
  assert.equal(json.latencyMs.b.n, 5);
  assert.deepEqual(Object.keys(json.latencyMs.a).slice(0, 4), ['p50', 'p90', 'p99', 'mean']);
  assert.deepEqual(json.b.ep, { requested: ['cpu'], used: ['cpu'], fallbackReason: null });

  const md = fs.readFileSync(reports[1]!, 'utf8');
  assert.match(md, /^## onnx-attn compare: ✅ \*\*pass\*\*/);
  assert.match(md, /^\| output0 \| \[1, 1008, 85\] \| 0 \| 0 \| 0 \| 1 \| exact \(atol 0, rtol 0\) \| 100\.00% \| ✅ \|$/m);
  assert.match(md, /^\| 2 \| SimAM \| default \| head:2 \| \/model\.23\/cv3\/act\/Mul_output_0 \| 1 \|/m);

  const html = fs.readFileSync(reports[2]!, 'utf8');
  assert.match(html, /data-verdict="pass"/);
  assert.equal(html.match(/data-chart="site"/g)?.length, 3);
  assert.equal(html.match(/data-chart="latency"/g)?.length, 1);
  assert.equal(html.match(/data-chart="error"/g)?.length, 1);
  assert.doesNotMatch(html, /<script|<link|src="http/, 'self-contained: no script, stylesheet link or remote image');

  const xml = convert(fs.readFileSync(reports[3]!, 'utf8'), { format: 'object' }) as {
    testsuites: { '@tests': string; '@failures': string; testsuite: { testcase: { '@name': string }[] } };
  };
  assert.equal(xml.testsuites['@failures'], '0');
  assert.deepEqual(
    xml.testsuites.testsuite.testcase.map((c) => c['@name']),
    ['output output0 within exact', 'detections agree', 'latency overhead: within noise'],
  );
});

test('compare: a NAM patch fails fp32 (exit 1) and reports how far the outputs and detections moved', async () => {
  const nam = patched('nam.onnx', ['--after', '23', '--module', 'NAM']);
  const report = path.join(dir, 'nam.xml');
  const r = await runMain(['compare', v5, nam, '--json', '--conf', '0.00005', '--iters', '3', '--report', report]);
  assert.equal(r.code, 1);
  const json = JSON.parse(r.stdout);
  assert.equal(json.pass, false);
  const [o] = json.outputs;
  assert.ok(o.maxAbs > 1e-3 && o.maxAbs < 1e3, `max abs ${o.maxAbs}`);
  assert.ok(o.withinPct > 50 && o.withinPct < 100, `within ${o.withinPct}`);
  assert.ok(o.cosine > 0.9 && o.cosine < 1, `cosine ${o.cosine}`);
  assert.match(json.problems.join('\n'), /output 'output0' outside fp32 tolerance/);
  assert.equal(json.detections.format, 'yolov5');
  assert.ok(json.detections.refCount > 0, 'boxes decoded at conf 5e-5');
  assert.equal(json.detections.matchedPct, (100 * (json.detections.refCount - json.detections.missing)) / json.detections.refCount);
  assert.deepEqual(json.added, { params: 64, macs: 2 * 32 * 16, nodes: 3, source: 'provenance' });
  const xml = fs.readFileSync(report, 'utf8');
  assert.match(xml, /<testsuites name="onnx-attn" tests="3" failures="1">/);
  assert.match(xml, /<failure message="max abs /);
});

test('compare: RT-DETR detections are matched query by query (no NMS)', async () => {
  const file = fixture('rtdetr-official-op16.onnx');
  const out = path.join(dir, 'official-simam.onnx');
  assert.equal((await runMain(['insert', file, '--after', 'head', '--module', 'SimAM', '-o', out, '--quiet'])).code, 0);
  const r = await runMain(['compare', file, out, '--json', '--conf', '0.001', '--iters', '2', '--warmup', '0']);
  const json = JSON.parse(r.stdout);
  assert.equal(json.detections.format, 'rtdetr-official');
  assert.equal(json.detections.refCount, 30);
  assert.ok(json.detections.matchedPct < 100 && json.detections.matchedPct > 0, `matched ${json.detections.matchedPct}`);
  assert.deepEqual(
    json.outputs.map((o: { name: string }) => o.name),
    ['labels', 'boxes', 'scores'],
  );
});

// The CUDA tests assert the branch this machine takes: no CUDA provider (every CI machine) or a working one.
test('validate --ep cuda without the CUDA provider is exit 3 with the fix', () => {
  const r = runBin(['validate', v5, '--ep', 'cuda']);
  if (CUDA_LOADS) {
    assert.equal(r.code, 0, r.stderr);
    return;
  }
  assert.equal(r.code, 3);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^onnx-attn: execution provider 'cuda' is unavailable \(.+\)\. Fix: .*npm install onnxruntime-node --onnxruntime-node-install=cuda12.*npm install-scripts approve onnxruntime-node.*CUDA 12 and cuDNN 9.*--fallback cpu/,
  );
  assert.equal(r.stdout, '');
});

test('validate --fallback cpu runs on the CPU and records why in the result and the reports', async () => {
  const report = path.join(dir, 'fallback.json');
  const r = await runMain(['validate', v5, '--ep', 'cuda', '--fallback', 'cpu', '--json', '--iters', '3', '--inputs', 'zeros', '--report', report]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.ep.requested, ['cuda']);
  if (CUDA_LOADS) {
    assert.deepEqual([json.ep.used[0], json.ep.fallbackReason], ['cuda', null]);
    return;
  }
  assert.deepEqual(json.ep.used, ['cpu']);
  assert.match(json.ep.fallbackReason, /^cuda unavailable: /);
  // min and max against the same model run in onnxruntime-node directly on zeros.
  const session = await ort.InferenceSession.create(v5);
  const ref = (await session.run({ images: new ort.Tensor('float32', new Float32Array(3 * 128 * 128), [1, 3, 128, 128]) })).output0!.data as Float32Array;
  await session.release();
  const [min, max] = ref.reduce(([lo, hi], x) => [Math.min(lo, x), Math.max(hi, x)], [Infinity, -Infinity]);
  assert.ok(min < max, `${min} < ${max}`);
  assert.deepEqual(json.outputs, [{ name: 'output0', dtype: 'float32', shape: [1, 1008, 85], finite: true, nonFinite: 0, min, max }]);
  assert.equal(JSON.parse(fs.readFileSync(report, 'utf8')).ep.fallbackReason, json.ep.fallbackReason);
});

test('validate --profile reports where the inserted nodes ran; --require-ep fails with exit 5', async () => {
  const nam = patched('nam.onnx', ['--after', '23', '--module', 'NAM']);
  const ok = await runMain(['validate', nam, '--profile', '--require-ep', 'cpu', '--json', '--iters', '2']);
  assert.equal(ok.code, 0, ok.stderr);
  const json = JSON.parse(ok.stdout);
  // The profile names the kernels of the optimised graph: onnxruntime may fuse or rename (`..._bn_nchwc`), keeping the scope.
  const inserted: { node: string; ep: string }[] = json.placement.inserted;
  assert.ok(inserted.length >= 1 && inserted.length <= 3, JSON.stringify(inserted));
  for (const n of inserted) assert.match(n.node, /^\/onnx_attn\/0_NAM\//);
  assert.ok(inserted.some((n) => n.node === '/onnx_attn/0_NAM/Mul'));
  assert.equal(json.placement.providers[0].ep, 'cpu');
  assert.equal(json.placement.providers[0].nodesPct, 100);
  assert.deepEqual(json.placementCheck, { required: 'cpu', checked: inserted.length, offProvider: [], pass: true });
  const off = await runMain(['validate', nam, '--ep', 'cuda', '--fallback', 'cpu', '--require-ep', 'cuda', '--iters', '2']);
  if (CUDA_LOADS) {
    // On a working CUDA provider the check passes or names the nodes onnxruntime left on the CPU.
    assert.ok(off.code === 0 || (off.code === 5 && /ran off cuda: \/onnx_attn\/0_NAM\//.test(off.stdout)), `${off.code}: ${off.stdout}`);
    return;
  }
  assert.equal(off.code, 5);
  assert.match(off.stdout, /\d node\(s\) ran off cuda: \/onnx_attn\/0_NAM\//);
});

test('compare --ep-pair cuda,cpu: exit 3 without CUDA, identical with --fallback cpu', async () => {
  if (CUDA_LOADS) {
    // Two providers on the same model agree within the default fp32 tolerance.
    const both = await runMain(['compare', v5, '--ep-pair', 'cuda,cpu', '--json', '--iters', '2']);
    assert.equal(both.code, 0, both.stderr);
    // --ep-pair names the candidate first: b runs on cuda, a (the reference) on the CPU.
    assert.deepEqual([JSON.parse(both.stdout).a.ep.used[0], JSON.parse(both.stdout).b.ep.used[0]], ['cpu', 'cuda']);
    return;
  }
  assert.equal((await runMain(['compare', v5, '--ep-pair', 'cuda,cpu'])).code, 3);
  const r = await runMain(['compare', v5, '--ep-pair', 'cuda,cpu', '--fallback', 'cpu', '--tolerance', 'exact', '--json', '--iters', '2']);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.mode, 'ep-pair');
  assert.match(json.b.ep.fallbackReason, /^cuda unavailable/);
  assert.equal(json.outputs[0].maxAbs, 0);
});

test('inputs: zeros, a JSON file and a folder of images', async () => {
  const zeros = JSON.parse((await runMain(['validate', v5, '--inputs', 'zeros', '--json', '--iters', '1'])).stdout);
  assert.equal(zeros.inputs.source, 'zeros');
  const imgs = path.join(dir, 'images');
  fs.mkdirSync(imgs, { recursive: true });
  // A 200x100 red image: letterboxed to 128x128 it keeps its aspect, grey (114) bands above and below.
  await sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .png()
    .toFile(path.join(imgs, 'a.png'));
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 0, g: 0, b: 255 } } })
    .jpeg()
    .toFile(path.join(imgs, 'b.jpg'));
  fs.writeFileSync(path.join(imgs, 'notes.txt'), 'not an image');
  const fromImages = JSON.parse((await runMain(['validate', v5, '--inputs', imgs, '--json', '--iters', '1'])).stdout);
  assert.equal(fromImages.inputs.sets, 2);
  const { inputSets } = await import('../src/runtime/sources.js');
  const [set] = await inputSets(imgs, [{ name: 'images', elemType: 1, dims: [1, 3, 128, 128] }]);
  const px = (c: number, y: number, x: number) => (set![0]!.data as Float32Array)[c * 128 * 128 + y * 128 + x]!;
  assert.deepEqual([px(0, 64, 64), px(1, 64, 64), px(2, 64, 64)], [1, 0, 0]);
  assert.deepEqual(
    [px(0, 5, 64), px(1, 5, 64), px(2, 5, 64)].map((v) => Math.round(v * 255)),
    [114, 114, 114],
  );

  const json = path.join(dir, 'inputs.json');
  fs.writeFileSync(json, JSON.stringify({ images: { dims: [1, 3, 128, 128], data: new Array(3 * 128 * 128).fill(0.5) } }));
  assert.equal((await runMain(['validate', v5, '--inputs', json, '--iters', '1', '--quiet'])).code, 0);
  fs.writeFileSync(json, JSON.stringify({ images: [[1, 2, 3]] }));
  const bad = await runMain(['validate', v5, '--inputs', json]);
  assert.equal(bad.code, 4, 'the inputs file is at fault');
  assert.match(bad.stderr, /'images' has shape \[1,3\] \(3 values\), the model expects \[1,3,128,128\]/);
});

/** A folder of noisy images (letterboxed to the model's 128×128), one input set each. */
async function noisyImages(name: string, files: string[]): Promise<string> {
  const imgs = path.join(dir, name);
  fs.mkdirSync(imgs, { recursive: true });
  for (const [i, f] of files.entries()) {
    await sharp({
      create: {
        width: 160,
        height: 120,
        channels: 3,
        background: { r: 40 * i, g: 90, b: 200 - 40 * i },
        noise: { type: 'gaussian', mean: 120 + 20 * i, sigma: 40 },
      },
    })
      .png()
      .toFile(path.join(imgs, f));
  }
  return imgs;
}

test('validate: detection counts per input set are in every report, and compare counts the same boxes on the same inputs', async () => {
  const imgs = await noisyImages('noisy', ['a.png', 'b.png']);
  const reports = ['r.json', 'r.md', 'r.html', 'r.xml'].map((f) => path.join(dir, `det-${f}`));
  const r = await runMain([
    'validate',
    v5,
    '--inputs',
    imgs,
    '--conf',
    '0.00005',
    '--iters',
    '1',
    '--warmup',
    '0',
    '--quiet',
    ...reports.flatMap((f) => ['--report', f]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(fs.readFileSync(reports[0]!, 'utf8'));
  const d = json.detections;
  assert.deepEqual({ ...d, perInput: d.perInput.length }, { format: 'yolov5', conf: 0.00005, iou: 0.45, images: 2, perInput: 2 });
  const [n1, n2] = d.perInput as [number, number];
  assert.ok(n1 > 0 && n2 > 0, `boxes at conf 5e-5: ${n1}, ${n2}`);
  const total = n1 + n2;

  // compare decodes with the same function: its reference count is validate's, over both sets and for one alone.
  const both = JSON.parse((await runMain(['compare', v5, v5, '--inputs', imgs, '--conf', '0.00005', '--iters', '1', '--warmup', '0', '--json'])).stdout);
  assert.deepEqual([both.detections.refCount, both.detections.otherCount, both.detections.images], [total, total, 2]);
  const first = path.join(dir, 'noisy-a');
  fs.mkdirSync(first, { recursive: true });
  fs.copyFileSync(path.join(imgs, 'a.png'), path.join(first, 'a.png'));
  const one = JSON.parse((await runMain(['compare', v5, v5, '--inputs', first, '--conf', '0.00005', '--iters', '1', '--warmup', '0', '--json'])).stdout);
  assert.deepEqual([one.detections.refCount, one.detections.images], [n1, 1]);

  const line = `detections (yolov5, conf 0.00005, iou 0.45): ${total} boxes in 2 images over 2 input sets`;
  const md = fs.readFileSync(reports[1]!, 'utf8');
  assert.ok(md.includes(`### Detections\n\n${line}\n\n| input set | boxes |\n| --- | --- |\n| 1 | ${n1} |\n| 2 | ${n2} |\n`), md);

  const html = fs.readFileSync(reports[2]!, 'utf8');
  assert.ok(html.includes(`<h2>Detections</h2>\n<p class="meta" data-detections="${total}">${line}</p>`), html);
  assert.ok(html.includes(`<tr><td class="num">1</td><td class="num">${n1}</td></tr><tr><td class="num">2</td><td class="num">${n2}</td></tr>`));

  const xml = convert(fs.readFileSync(reports[3]!, 'utf8'), { format: 'object' }) as {
    testsuites: { '@failures': string; testsuite: { testcase: { '@name': string; failure?: unknown; 'system-out'?: string }[] } };
  };
  assert.equal(xml.testsuites['@failures'], '0');
  const c = xml.testsuites.testsuite.testcase.find((t) => t['@name'] === 'detections decoded');
  assert.ok(c, JSON.stringify(xml.testsuites.testsuite.testcase.map((t) => t['@name'])));
  assert.equal(c.failure, undefined, 'a count is a record, not a failure');
  assert.equal(c['system-out'], `${line}; per input set: ${n1}, ${n2}`);
});

test('validate: one input set reports its count without a per-set table; --detections off reports none', async () => {
  const on = ['r.json', 'r.md', 'r.xml'].map((f) => path.join(dir, `det1-${f}`));
  assert.equal(
    (await runMain(['validate', v5, '--conf', '0.00005', '--iters', '1', '--warmup', '0', '--quiet', ...on.flatMap((f) => ['--report', f])])).code,
    0,
  );
  const [n] = JSON.parse(fs.readFileSync(on[0]!, 'utf8')).detections.perInput as [number];
  const compared = JSON.parse((await runMain(['compare', v5, v5, '--conf', '0.00005', '--iters', '1', '--warmup', '0', '--json'])).stdout);
  assert.ok(n > 0);
  assert.equal(compared.detections.refCount, n);
  const md = fs.readFileSync(on[1]!, 'utf8');
  assert.ok(md.includes(`### Detections\n\ndetections (yolov5, conf 0.00005, iou 0.45): ${n} boxes in 1 image\n`), md);
  assert.doesNotMatch(md, /input set \| boxes/);
  assert.match(
    fs.readFileSync(on[2]!, 'utf8'),
    new RegExp(
      `<testcase name="detections decoded" [^>]*>\\s*<system-out>detections \\(yolov5, conf 0\\.00005, iou 0\\.45\\): ${n} boxes in 1 image</system-out>`,
    ),
  );

  const off = ['r.md', 'r.html', 'r.xml'].map((f) => path.join(dir, `det0-${f}`));
  assert.equal(
    (await runMain(['validate', v5, '--detections', 'off', '--iters', '1', '--warmup', '0', '--quiet', ...off.flatMap((f) => ['--report', f])])).code,
    0,
  );
  for (const f of off) assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /[Dd]etections/, f);
});

test('--optimization disabled runs the graph as written: every inserted node shows in the profile by its own name', async () => {
  const nam = patched('nam.onnx', ['--after', '23', '--module', 'NAM']);
  const r = await runMain(['validate', nam, '--optimization', 'disabled', '--profile', '--json', '--iters', '1', '--warmup', '0']);
  assert.equal(r.code, 0, r.stderr);
  const nodes = JSON.parse(r.stdout)
    .placement.inserted.map((n: { node: string }) => n.node)
    .sort();
  assert.deepEqual(nodes, ['/onnx_attn/0_NAM/BatchNormalization', '/onnx_attn/0_NAM/Mul', '/onnx_attn/0_NAM/Sigmoid']);
});

test('validate fails (exit 1) when an output is not finite', async () => {
  const tape = new ModuleBuilder(17);
  const y = tape.op('Log', [tape.input]);
  const file = path.join(dir, 'log.onnx');
  fs.writeFileSync(file, toBinary(ModelProtoSchema, standaloneModel(tape, y, { inputDims: [1, 3, 4, 4], name: 'log' })));
  const r = await runMain(['validate', file, '--inputs', 'zeros', '--iters', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^FAIL/);
  assert.match(r.stdout, /problem: output 'y' has 48 non-finite value\(s\)/);
});

test('bad runtime flags are exit 2 before anything runs or is written', async () => {
  const out = tmpDir();
  const cases: [string[], RegExp][] = [
    [['compare', v5, v5, '--report', path.join(out, 'r.txt')], /--report .*r\.txt: unknown format '\.txt'; use \.json, \.md, \.html or \.xml/],
    [['compare', v5, v5, '--tolerance', 'loose'], /bad tolerance 'loose'/],
    [['validate', v5, '--ep', 'tpu'], /--ep 'tpu': expected one of cpu, cuda, tensorrt, webgpu/],
    [['validate', v5, '--iters', '0'], /--iters '0': expected a whole number ≥ 1/],
    [['validate', v5, '--optimization', 'fast'], /Invalid values: Argument: optimization, Given: "fast", Choices: "disabled", "basic", "extended", "all"/],
    [['compare', v5], /compare needs two models/],
    [['validate', v5, '--inputs', path.join(out, 'nope')], /no such file or folder/],
    [['validate', v5, '--shape', 'nope=1x3x128x128'], /--shape nope=\.\.\.: the model has no input 'nope'; its inputs are images/],
    [
      ['validate', v5, '--shape', 'images=1x3x64x64'],
      /--shape images=1x3x64x64: dim 2 of input 'images' is fixed at 128 in the model \[1,3,128,128\]; only its dynamic dims can be set/,
    ],
    [['validate', fixture('yolov5-dynamic-op12.onnx'), '--shape', 'images=1x3x64'], /input 'images' has 4 dims .*, not 3/],
    [['compare', v5, v5, '--tolerance', 'nope:atol=1'], /--tolerance nope:\.\.\.: .* has no output 'nope'; its outputs are output0/],
  ];
  for (const [args, re] of cases) {
    const r = await runMain(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
  assert.deepEqual(listFiles(out), []);
});
