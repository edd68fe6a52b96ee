/**
 * Latency of the minimal forms onnx-attn builds against the same modules as torch.onnx.export writes them
 * (fixtures/torch-form, C=64, 20×20, opset 17, from scripts/make_goldens.py): op count and median CPU latency.
 * Called by scripts/bench.ts; run alone with `node dist/scripts/bench-latency.js`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { ModuleBuilder } from '../src/modules/builder.js';
import { findModule, resolveOptions } from '../src/modules/index.js';
import { standaloneModel } from '../src/modules/standalone.js';
import { initWeights } from '../src/modules/weights.js';
import { loadModel } from '../src/onnx/load.js';
import { encodeModel } from '../src/onnx/save.js';
import { ModelProtoSchema } from '../src/onnx/proto.js';
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

async function medianMs(bytes: Uint8Array, runs: number): Promise<number> {
  const session = await openSession(bytes, { intraOpNumThreads: 1 });
  const x = { name: session.inputNames[0]!, type: 'float32' as const, dims: [1, 64, 20, 20], data: new Float32Array(64 * 400).map((_, i) => Math.sin(i)) };
  for (let i = 0; i < 10; i++) await session.run([x]);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await session.run([x]);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function latencyBench(runs = 5): Promise<void> {
  const iters = Math.max(100, runs * 40);
  console.log(`\nmodule latency, C=64, 20x20, opset 17, CPU 1 thread, median of ${iters} runs`);
  console.log('| module | torch export ops | onnx-attn ops | torch export | onnx-attn | onnx-attn / torch |\n|---|---|---|---|---|---|');
  for (const [stem, name, opts] of FORMS) {
    const file = path.join(ROOT, 'fixtures/torch-form', `${stem}.onnx`);
    if (!fs.existsSync(file)) continue;
    const torch = loadModel(file);
    const torchOps = torch.proto.graph!.node.filter((n) => n.opType !== 'Constant').length;
    const m = findModule(name);
    const ctx = { channels: 64, height: 20, width: 20, opset: 17, bnEps: 1e-3, options: resolveOptions(m, opts) };
    const tape = new ModuleBuilder(17);
    const y = m.build(tape, tape.input, initWeights(m.params(ctx), 'torch', 0), ctx);
    const ours = toBinary(ModelProtoSchema, standaloneModel(tape, y, { inputDims: [1, 64, 20, 20], name }));
    const a = await medianMs(encodeModel(torch), iters);
    const b = await medianMs(ours, iters);
    console.log(`| ${stem} | ${torchOps} | ${tape.nodes.length} | ${(a * 1000).toFixed(1)} µs | ${(b * 1000).toFixed(1)} µs | ${(b / a).toFixed(2)}× |`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await latencyBench();
