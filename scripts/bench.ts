/**
 * `npm run bench`: the speed and memory figures of the README, measured on this machine. Never run by the tests.
 *
 * - First the node-rich models of issue #15 (scripts/bench-node-rich.ts: insert with and without its check run,
 *   convert, Python onnx, start-up, each target's verdict); `BENCH_ONLY=node-rich` stops after them.
 * - Generates a 377 MB model (160 Conv layers of 2.4 MB weights) and a 100 MB one in a temp folder.
 * - Times `inspect`, `convert` (load + save) and `insert` (load, locate, build, splice, save; `--no-check`, since
 *   the check runs the model in onnxruntime, which holds its own copy of the weights) as whole processes:
 *   median, min, max of several runs and the peak RSS of each run.
 * - Splits `insert` into its phases in one process (load, locate + build + splice, save inline, save with
 *   external data), median of several runs, so a change in one phase is not hidden by start-up or the others.
 * - Runs the Python onnx load + save anchor side by side when `import onnx` works, and prints the ratios.
 * - Measures CLI start-up (`--help`).
 * - Measures onnxruntime latency of each module inserted at the YOLOv5-style fixture's head, against the same
 *   module in the form torch.onnx.export produces (fixtures/torch-form) and against the unpatched model.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import { applyInsertions, planInsertions } from '../src/insert.js';
import { analyzeModel } from '../src/analysis.js';
import { loadModel, type OnnxModel } from '../src/onnx/load.js';
import {
  ModelProtoSchema,
  GraphProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  ValueInfoProtoSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  AttributeProtoSchema,
  AttributeProto_AttributeType,
} from '../src/onnx/proto.js';
import { saveModel } from '../src/onnx/save.js';
import { float32Tensor } from '../src/onnx/tensor.js';
import { measure, type Sample } from './bench-node-rich.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'dist/src/cli/bin.js');
const RSS_HOOK = path.join(ROOT, 'dist/scripts/rss-hook.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0);

function tensorType(dims: number[]) {
  return create(TypeProtoSchema, {
    value: {
      case: 'tensorType',
      value: create(TypeProto_TensorSchema, {
        elemType: 1,
        shape: create(TensorShapeProtoSchema, {
          dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } })),
        }),
      }),
    },
  });
}

/** A chain of `layers` 3x3 Convs (C→C) with ReLU, named like a TorchScript export (`/model.i/conv/Conv`). */
function chainModel(layers: number, channels: number): OnnxModel {
  const hw = 8;
  const nodes = [];
  const inits = [];
  let x = 'images';
  let seed = 1;
  for (let i = 0; i < layers; i++) {
    const n = channels * channels * 9;
    const w = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      w[j] = (seed / 2 ** 32 - 0.5) * 0.01;
    }
    inits.push(float32Tensor(`model.${i}.conv.weight`, [channels, channels, 3, 3], w));
    const conv = `/model.${i}/conv/Conv`;
    const act = `/model.${i}/act/Relu`;
    nodes.push(
      create(NodeProtoSchema, {
        name: conv,
        opType: 'Conv',
        input: [x, `model.${i}.conv.weight`],
        output: [`${conv}_output_0`],
        attribute: [create(AttributeProtoSchema, { name: 'pads', type: AttributeProto_AttributeType.INTS, ints: [1n, 1n, 1n, 1n] })],
      }),
      create(NodeProtoSchema, { name: act, opType: 'Relu', input: [`${conv}_output_0`], output: [`${act}_output_0`] }),
    );
    x = `${act}_output_0`;
  }
  const proto = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'onnx-attn-bench',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
    graph: create(GraphProtoSchema, {
      name: 'chain',
      node: nodes,
      initializer: inits,
      input: [create(ValueInfoProtoSchema, { name: 'images', type: tensorType([1, channels, hw, hw]) })],
      output: [create(ValueInfoProtoSchema, { name: x, type: tensorType([1, channels, hw, hw]) })],
    }),
  });
  return { proto, path: null, externalData: new Map(), hadExternalData: false };
}

function stats(samples: Sample[]) {
  const s = samples.map((x) => x.seconds).sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)]!,
    min: s[0]!,
    max: s[s.length - 1]!,
    rssMB: Math.max(...samples.map((x) => x.rssMB)),
  };
}

function repeat(label: string, cmd: () => string[], cwd: string, before?: () => void) {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    before?.();
    samples.push(measure(cmd(), cwd));
  }
  const st = stats(samples);
  console.log(`  ${label.padEnd(34)} median ${st.median.toFixed(3)} s  min ${st.min.toFixed(3)}  max ${st.max.toFixed(3)}  peak RSS ${st.rssMB.toFixed(0)} MB`);
  return st;
}

const PHASES = ['load', 'locate + build + splice', 'save'] as const;

/**
 * `BENCH_PHASES=model.onnx`: one insert, phase by phase, in this process; prints the seconds of each as JSON.
 * One save per process, as the CLI does: a second save in the same process runs faster (the page cache's memory is
 * warm by then), which would flatter it.
 */
async function phases(file: string, after: string, externalData: 'never' | 'always'): Promise<void> {
  const out = path.join(path.dirname(file), 'phases.onnx');
  const times: number[] = [];
  const lap = async (f: () => unknown) => {
    const t0 = performance.now();
    await f();
    times.push((performance.now() - t0) / 1000);
  };
  let model: OnnxModel | null = null;
  await lap(async () => (model = await loadModel(file)));
  await lap(async () => {
    const analyzed = await analyzeModel(model!);
    applyInsertions(analyzed, planInsertions(analyzed, { after, module: 'NAM' }));
  });
  await lap(() => saveModel(model!, out, { externalData, force: true }));
  fs.rmSync(out, { force: true });
  fs.rmSync(`${out}.data`, { force: true });
  console.log(JSON.stringify(times));
}

/** Medians of each phase over RUNS child processes. */
function phaseMedians(file: string, after: string, externalData: 'never' | 'always'): number[] {
  const runs: number[][] = [];
  for (let i = 0; i < RUNS; i++) {
    const env = { ...process.env, BENCH_PHASES: file, BENCH_AFTER: after, BENCH_EXTERNAL: externalData };
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`phase run failed: ${r.stderr}`);
    runs.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as number[]);
  }
  return PHASES.map((_, k) => runs.map((x) => x[k]!).sort((a, b) => a - b)[Math.floor(RUNS / 2)]!);
}

async function main(): Promise<void> {
  if (!fs.existsSync(RSS_HOOK)) throw new Error('build first: npm run build');
  // Node-rich models first (issue #15's targets); BENCH_ONLY=node-rich stops after them.
  const { nodeRichBench, NODE_RICH_HEADER } = await import('./bench-node-rich.js');
  console.log(
    `onnx-attn bench (node-rich) — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}; ${RUNS} paired rounds${PYTHON ? '' : '; Python onnx anchor skipped: Debian python3-onnx not found'}`,
  );
  const richRows = await nodeRichBench(RUNS, PYTHON);
  console.log(`\nREADME table (node-rich):\n${NODE_RICH_HEADER}`);
  for (const r of richRows) console.log(r);
  if (process.env.BENCH_ONLY === 'node-rich') return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-bench-'));
  console.log(
    `onnx-attn bench — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ${RUNS} runs each`,
  );
  const rows: string[] = [];
  const extRows: string[] = [];
  try {
    for (const [name, layers] of [
      ['large', 160],
      ['medium', 42],
    ] as const) {
      const file = path.join(dir, `${name}.onnx`);
      // Generated in a child process: Linux carries a parent's peak RSS into the children it spawns, so the bench
      // process itself must stay small for the children's peak RSS to be theirs.
      const made = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
        env: { ...process.env, BENCH_MAKE: file, BENCH_LAYERS: String(layers) },
        stdio: 'inherit',
      });
      if (made.status !== 0) throw new Error(`generating ${file} failed`);
      const mb = fs.statSync(file).size / 1e6;
      console.log(`\n${name}: ${layers} Conv layers, ${mb.toFixed(0)} MB`);
      const out = path.join(dir, 'out.onnx');
      const clean = () => {
        fs.rmSync(out, { force: true });
        fs.rmSync(`${out}.data`, { force: true });
      };
      const node = process.execPath;
      const inspect = repeat('inspect', () => [node, BIN, 'inspect', file, '--json'], dir);
      const convert = repeat('convert (load + save)', () => [node, BIN, 'convert', file, out], dir, clean);
      for (const externalData of ['never', 'always'] as const) {
        const phase = phaseMedians(file, String(layers / 2), externalData);
        const label = `insert phases, --external-data ${externalData}`.padEnd(34);
        console.log(`  ${label} ${PHASES.map((p, k) => `${p} ${phase[k]!.toFixed(3)} s`).join(', ')} (medians, in-process)`);
      }
      const insert = repeat(
        'insert NAM --no-check',
        () => [node, BIN, 'insert', file, '--after', String(layers / 2), '--module', 'NAM', '--no-check', '-o', out],
        dir,
        clean,
      );
      let py: ReturnType<typeof stats> | null = null;
      if (PYTHON) {
        py = repeat('python onnx load + save', () => [PYTHON, '-c', 'import onnx,sys; onnx.save(onnx.load(sys.argv[1]), sys.argv[2])', file, out], dir, clean);
      }
      // The same with the output's weights in an external data file.
      const insertExt = repeat(
        'insert NAM --external-data always',
        () => [node, BIN, 'insert', file, '--after', String(layers / 2), '--module', 'NAM', '--no-check', '--external-data', 'always', '-o', out],
        dir,
        clean,
      );
      let pyExt: ReturnType<typeof stats> | null = null;
      if (PYTHON) {
        const save =
          "import onnx,sys; onnx.save(onnx.load(sys.argv[1]), sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location='out.onnx.data')";
        pyExt = repeat('python onnx load + save (external)', () => [PYTHON, '-c', save, file, out], dir, clean);
      }
      const ratio = (x: number, y: number | undefined) => (y ? `${(x / y).toFixed(2)}×` : 'n/a');
      console.log(`  insert / python load+save: time ${ratio(insert.median, py?.median)}, peak RSS / file size ${(insert.rssMB / mb).toFixed(2)}×`);
      console.log(
        `  external data: insert / python: time ${ratio(insertExt.median, pyExt?.median)}, peak RSS / file size ${(insertExt.rssMB / mb).toFixed(2)}×`,
      );
      extRows.push(
        `| ${name} (${mb.toFixed(0)} MB) | ${insertExt.median.toFixed(2)} s, ${insertExt.rssMB.toFixed(0)} MB (${(insertExt.rssMB / mb).toFixed(2)}× file) | ${pyExt ? `${pyExt.median.toFixed(2)} s, ${pyExt.rssMB.toFixed(0)} MB` : 'n/a'} | ${ratio(insertExt.median, pyExt?.median)} |`,
      );
      rows.push(
        `| ${name} (${mb.toFixed(0)} MB) | ${inspect.median.toFixed(2)} s | ${convert.median.toFixed(2)} s, ${convert.rssMB.toFixed(0)} MB | ${insert.median.toFixed(2)} s, ${insert.rssMB.toFixed(0)} MB (${(insert.rssMB / mb).toFixed(2)}× file) | ${py ? `${py.median.toFixed(2)} s, ${py.rssMB.toFixed(0)} MB` : 'n/a'} | ${ratio(insert.median, py?.median)} |`,
      );
    }
    console.log('\nstart-up');
    const help = repeat('onnx-attn --help', () => [process.execPath, BIN, '--help'], dir);
    console.log(
      '\nREADME table:\n| model | inspect | convert (time, peak RSS) | insert (time, peak RSS) | python onnx load+save | insert / python |\n|---|---|---|---|---|---|',
    );
    for (const r of rows) console.log(r);
    console.log(
      '\nwith external data:\n| model | insert --external-data always (time, peak RSS) | python onnx save_as_external_data | insert / python |\n|---|---|---|---|',
    );
    for (const r of extRows) console.log(r);
    console.log(`\nCLI start-up (--help): ${(help.median * 1000).toFixed(0)} ms median`);
    const { latencyBench } = await import('./bench-latency.js');
    await latencyBench(RUNS);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.BENCH_PHASES) {
  await phases(process.env.BENCH_PHASES, process.env.BENCH_AFTER ?? '0', process.env.BENCH_EXTERNAL === 'always' ? 'always' : 'never');
} else if (process.env.BENCH_MAKE) {
  // `BENCH_MAKE=big.onnx node dist/scripts/bench.js`: only write the large model, for profiling by hand.
  saveModel(chainModel(Number(process.env.BENCH_LAYERS ?? 160), 258), process.env.BENCH_MAKE);
} else await main();
