/**
 * Latency of the minimal forms onnx-attn builds against the same modules as torch.onnx.export writes them
 * (fixtures/torch-form, C=64, 20×20, opset 17, from scripts/make_goldens.py): op count and median CPU latency.
 * Called by scripts/bench.ts; run alone with `node dist/scripts/bench-latency.js`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { ModuleBuilder } from '../src/modules/builder.js';
import { findModule, resolveOptions } from '../src/modules/index.js';
import { standaloneModel } from '../src/modules/standalone.js';
import { initWeights } from '../src/weights/init.js';
import { loadModel } from '../src/onnx/load.js';
import { encodeModel } from '../src/onnx/save.js';
import { ModelProtoSchema } from '../src/onnx/proto.js';
import { timeAlternately } from '../src/runtime/run.js';
import { analyzeModel } from '../src/analysis.js';
import { locate } from '../src/locate/locate.js';
import { spliceModule } from '../src/graph/splice.js';
import { tapeFromModel } from '../src/modules/imported.js';
import { openSession } from '../src/runtime/session.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FORMS: [string, string, Record<string, string>][] = [
  ['nam-channel', 'NAM', {}],
  ['nam-pixel', 'NAM', { spatial: 'pixel' }],
  ['gam-paper', 'GAM', { variant: 'paper' }],
  ['gam-grouped', 'GAM', { variant: 'grouped' }],
  ['simam-default', 'SimAM', {}],
  ['se-default', 'SE', {}],
  ['cbam-official', 'CBAM', {}],
  ['cbam-ultralytics', 'CBAM', { variant: 'ultralytics' }],
  ['eca-default', 'ECA', {}],
  ['ca-default', 'CA', {}],
];

/** Medians of two models timed alternately (one thread each, 10 warm-ups), so VM drift falls on both. */
async function pairedMedians(a: Uint8Array, b: Uint8Array, runs: number, dims: number[]): Promise<[number, number]> {
  const sa = await openSession(a, { intraOpNumThreads: 1 });
  const sb = await openSession(b, { intraOpNumThreads: 1 });
  const size = dims.reduce((x, y) => x * y, 1);
  const x = { name: sa.inputNames[0]!, type: 'float32' as const, dims, data: new Float32Array(size).map((_, i) => (Math.sin(i) + 1) / 2) };
  try {
    const times = await timeAlternately(sa, sb, [x], 10, runs);
    const median = (t: number[]) => [...t].sort((p, q) => p - q)[Math.floor(t.length / 2)]!;
    return [median(times.a), median(times.b)];
  } finally {
    await sa.release();
    await sb.release();
  }
}

/**
 * The fixture with the exporter's form of a module (fixtures/torch-form/head, one file per level) spliced at each
 * head input, exactly where `insert --after head` puts onnx-attn's form; null when those files are missing.
 */
async function withTorchForms(fixture: string, stem: string): Promise<{ bytes: Uint8Array; ops: number } | null> {
  const analyzed = await analyzeModel(await loadModel(fixture));
  const sites = locate(analyzed.structure, 'head');
  let ops = 0;
  for (const [k, site] of sites.entries()) {
    const [, c, h, w] = site.shape as number[];
    const file = path.join(ROOT, 'fixtures/torch-form/head', `${stem}-c${c}-${h}x${w}.onnx`);
    if (!fs.existsSync(file)) return null;
    const { tape, output } = tapeFromModel((await loadModel(file)).proto, analyzed.graph.opset(''));
    ops += tape.nodes.filter((n) => n.opType !== 'Constant').length;
    spliceModule(analyzed.graph, { value: site.value, consumers: site.consumers }, tape, output, { k, module: `torch_${stem}` });
  }
  analyzed.graph.commit();
  return { bytes: encodeModel(analyzed.model), ops };
}

/**
 * Each module at the YOLOv5-style fixture's head (P3, P4, P5): onnx-attn's form and the exporter's form, each
 * timed alternately with the unpatched model.
 */
async function headBench(iters: number): Promise<void> {
  const { insertIntoFile } = await import('../src/insert.js');
  const fixture = path.join(ROOT, 'fixtures/yolov5-op12.onnx');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-bench-'));
  const original = encodeModel(await loadModel(fixture));
  const overhead = (base: number, ms: number) => `${ms - base >= 0 ? '+' : ''}${(ms - base).toFixed(3)} ms (${((100 * (ms - base)) / base).toFixed(1)}%)`;
  try {
    console.log(
      `\nYOLOv5-style fixture (128x128), each module at head (3 points), CPU 1 thread, median of ${iters} runs; every patched model timed alternately with the original`,
    );
    console.log('| module | onnx-attn ops | onnx-attn overhead | torch export ops | torch export overhead |\n|---|---|---|---|---|');
    for (const [stem, name, opts] of FORMS) {
      if (stem === 'nam-pixel') continue;
      const out = path.join(dir, `${stem}.onnx`);
      // The fixture's P3 has 8 channels: reductions that fit it, and GAM grouped with r=2 (C % r² = 0).
      const options = name === 'SE' || name === 'CBAM' ? { ...opts, reduction: '4' } : stem === 'gam-grouped' ? { ...opts, rate: '2' } : opts;
      const r = await insertIntoFile(fixture, { after: ['head'], module: name, opts: options, output: out, check: false });
      const ops = r.insertions.reduce((n, i) => n + Object.values(i.ops).reduce((a, b) => a + b, 0), 0);
      const [base, ms] = await pairedMedians(original, encodeModel(await loadModel(out)), iters, [1, 3, 128, 128]);
      const torch = await withTorchForms(fixture, stem);
      let torchCells = 'n/a | n/a';
      if (torch) {
        const [tbase, tms] = await pairedMedians(original, torch.bytes, iters, [1, 3, 128, 128]);
        torchCells = `${torch.ops} | ${overhead(tbase, tms)}`;
      }
      console.log(`| ${stem} | ${ops} | ${overhead(base, ms)} | ${torchCells} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function latencyBench(runs = 5): Promise<void> {
  const iters = Math.max(100, runs * 40);
  console.log(`\nmodule latency, C=64, 20x20, opset 17, CPU 1 thread, median of ${iters} runs, the two forms timed alternately`);
  console.log('| module | torch export ops | onnx-attn ops | torch export | onnx-attn | onnx-attn / torch |\n|---|---|---|---|---|---|');
  for (const [stem, name, opts] of FORMS) {
    const file = path.join(ROOT, 'fixtures/torch-form', `${stem}.onnx`);
    if (!fs.existsSync(file)) continue;
    const torch = await loadModel(file);
    const torchOps = torch.proto.graph!.node.filter((n) => n.opType !== 'Constant').length;
    const m = findModule(name);
    const ctx = { channels: 64, height: 20, width: 20, opset: 17, bnEps: 1e-3, options: resolveOptions(m, opts) };
    const tape = new ModuleBuilder(17);
    const y = m.build(tape, tape.input, initWeights(m.params(ctx), 'torch', 0), ctx);
    const ours = toBinary(ModelProtoSchema, standaloneModel(tape, y, { inputDims: [1, 64, 20, 20], name }));
    const [a, b] = await pairedMedians(encodeModel(torch), ours, iters, [1, 64, 20, 20]);
    console.log(`| ${stem} | ${torchOps} | ${tape.nodes.length} | ${(a * 1000).toFixed(1)} µs | ${(b * 1000).toFixed(1)} µs | ${(b / a).toFixed(2)}× |`);
  }
  await headBench(iters);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await latencyBench();
