import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { decodeModel, findModule, initWeights, insertIntoFile, ModuleBuilder, MODULES, resolveOptions, standaloneModel } from '../src/index.js';
import { PORTABILITY, type PortabilityRow } from '../src/modules/portability.js';
import type { ModuleContext } from '../src/modules/types.js';
import { ModelProtoSchema } from '../src/onnx/proto.js';
import { openSession } from '../src/runtime/session.js';
import { FIXTURES, ROOT, tmpDir } from './helpers.js';

/**
 * OpenCV's DNN module (Debian's python3-opencv 4.6, run by scripts/opencv_run.py in ONE Python process) as a
 * second runtime beside onnxruntime:
 *
 * - every fixture is loaded in OpenCV as exported, and after the maths-preserving clean-ups users apply to the
 *   exporter's own forms (opencv_run.py CLEANUPS); one that still does not load is no baseline, and why is recorded;
 * - into every static single-input fixture, every module variant is inserted (library API, in process) after
 *   layer 6 and at the head; wherever the unpatched fixture loads, the patched one must load and agree with
 *   onnxruntime on the same input. TOLERANCE: |OpenCV − onnxruntime|max / max(1, |onnxruntime|max) of the patched
 *   model ≤ max(BASELINE_FACTOR × that of the unpatched fixture, FLOOR);
 * - every variant alone (C=32, 8x8) at opsets 11 to 21: loads and agrees within STANDALONE_TOLERANCE (relative
 *   as above), so the bands above 17, which no fixture has, are measured too.
 *
 * The results are the README's portability table and src/modules/portability.ts (`modules --json`); both are
 * compared with what was measured, and `UPDATE_README=1 node --test dist/test/opencv.test.js` rewrites them.
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'scripts/opencv_run.py');
const README = path.join(ROOT, 'README.md');
const DATA = path.join(ROOT, 'src/modules/portability.ts');
const BASELINE_FACTOR = 10;
/** An unpatched fixture whose OpenCV output differs more than this from onnxruntime's is no baseline. */
const BASELINE_LIMIT = 1e-3;
const FLOOR = 1e-5;
const STANDALONE_TOLERANCE = 1e-5;
const BANDS = [
  { label: '11-12', opsets: [11, 12] },
  { label: '13-17', opsets: [13, 14, 17] },
  { label: '18-21', opsets: [18, 21] },
];
const POINTS = [
  { spec: '6', label: 'layer 6' },
  { spec: 'head', label: 'head' },
];
/** Small reductions where the defaults leave no hidden unit on the fixtures' 8-channel maps; forms are the same. */
const VARIANTS: { module: string; variant: string; opts: Record<string, string> }[] = [
  { module: 'NAM', variant: 'channel', opts: {} },
  { module: 'NAM', variant: 'pixel', opts: { spatial: 'pixel' } },
  { module: 'GAM', variant: 'paper', opts: {} },
  { module: 'GAM', variant: 'plain', opts: { variant: 'plain' } },
  { module: 'GAM', variant: 'grouped', opts: { variant: 'grouped', rate: '2' } },
  { module: 'SimAM', variant: 'default', opts: {} },
  { module: 'SE', variant: 'default', opts: { reduction: '4' } },
  { module: 'CBAM', variant: 'official', opts: { reduction: '4' } },
  { module: 'CBAM', variant: 'ultralytics', opts: { variant: 'ultralytics' } },
  { module: 'ECA', variant: 'default', opts: {} },
  { module: 'CA', variant: 'default', opts: {} },
];
/** Ops onnx-tensorrt's operators.md (TensorRT 10.15, opsets 9 to 24) lists as supported; Reduce* need initializer axes, as onnx-attn writes them. */
const TENSORRT_LISTED = new Set([
  'Add',
  'AveragePool',
  'BatchNormalization',
  'Cast',
  'Concat',
  'Conv',
  'Div',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'HardSigmoid',
  'HardSwish',
  'MaxPool',
  'Mul',
  'ReduceMax',
  'ReduceMean',
  'ReduceProd',
  'ReduceSum',
  'Relu',
  'Reshape',
  'Shape',
  'Sigmoid',
  'Slice',
  'Sub',
  'Transpose',
]);

interface Job {
  id: string;
  file: string;
  input: { file: string; dims: number[] };
  outputs: string[];
  outDir: string;
}
interface CvResult {
  id: string;
  rawError: string | null;
  cleanups: string[];
  error: string | null;
  outputs: { name: string; file: string; dims: number[] }[];
}

/** mulberry32: a seeded input, the same on every machine. */
function seeded(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * scale + offset;
  }
  return out;
}

/** max|a − b| / max(1, max|b|); Infinity when shapes differ or a value is not finite. */
function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!Number.isFinite(d)) return Infinity;
    diff = Math.max(diff, d);
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const work = tmpDir('onnx-attn-opencv-');
const reference = new Map<string, Float32Array[]>();
const results = new Map<string, CvResult>();
let opencvVersion = '';
let cleanupText: Record<string, string> = {};

interface FixtureInfo {
  file: string;
  opset: number;
  patchable: boolean;
  why: string;
}
const fixtures: FixtureInfo[] = [];
interface Patched {
  id: string;
  fixture: string;
  opset: number;
  variant: (typeof VARIANTS)[number];
  point: string;
}
const patched: Patched[] = [];
const standalone: { id: string; variant: (typeof VARIANTS)[number]; dynamic: boolean; opset: number; ops: string[] }[] = [];
/** How a form with a dynamic H, W is named in the table and in `modules --json`. */
const DYNAMIC = ' (dynamic H, W)';

async function runOrt(file: string, inputName: string, input: Float32Array, dims: number[]): Promise<Float32Array[]> {
  const session = await openSession(fs.readFileSync(file), {}, file);
  const out = await session.run([{ name: inputName, type: 'float32', dims, data: input }]);
  await session.release();
  return out.map((o) => Float32Array.from(o.data as ArrayLike<number>));
}

/** scripts/opencv_run.py as one process for the whole test: a batch of models per line, their results per line. */
function startOpenCv() {
  const child = spawn(PYTHON, [SCRIPT], { env: { ...process.env, OPENCV_LOG_LEVEL: 'SILENT' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.on('error', (e) => (stderr += e.message));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const line = await lines.next();
    if (line.done) {
      await exited;
      throw new Error(
        `${PYTHON} ${SCRIPT} ended early (OpenCV DNN is this test's second runtime: apt-get install python3-opencv python3-numpy python3-onnx, as .ci/run does): ${stderr.slice(-2000)}`,
      );
    }
    return JSON.parse(line.value) as unknown;
  };
  return {
    header: next as () => Promise<{ opencv: string; cleanups: Record<string, string> }>,
    async run(batch: Job[]): Promise<void> {
      child.stdin.write(`${JSON.stringify(batch)}\n`);
      for (const r of (await next()) as CvResult[]) results.set(r.id, r);
    },
    async close(): Promise<void> {
      child.stdin.end();
      assert.equal(await exited, 0, stderr.slice(-2000));
    },
  };
}

before(async () => {
  const outDir = path.join(work, 'out');
  fs.mkdirSync(outDir);
  const image = seeded(3 * 128 * 128, 7);
  const imageFile = path.join(work, 'image.bin');
  fs.writeFileSync(imageFile, image);
  const opencv = startOpenCv();
  const header = await opencv.header();
  opencvVersion = header.opencv;
  cleanupText = header.cleanups;

  // First every fixture as the baseline; then modules go into those that load.
  const inputNames = new Map<string, string>();
  const outputNames = new Map<string, string[]>();
  const baseline: Job[] = [];
  for (const name of fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.onnx'))
    .sort()) {
    const file = path.join(FIXTURES, name);
    const model = decodeModel(fs.readFileSync(file), name);
    const inits = new Set(model.graph!.initializer.map((t) => t.name));
    const inputs = model.graph!.input.filter((i) => !inits.has(i.name));
    const type = inputs[0]!.type!.value;
    const dims = type.case === 'tensorType' ? type.value.shape!.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : null)) : [];
    const opset = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')!.version);
    const staticSingle = inputs.length === 1 && dims.every((d) => d !== null);
    fixtures.push({
      file: name,
      opset,
      patchable: staticSingle,
      why: staticSingle ? '' : inputs.length > 1 ? `${inputs.length} inputs` : 'dynamic input dims',
    });
    inputNames.set(name, inputs[0]!.name);
    outputNames.set(
      name,
      model.graph!.output.map((o) => o.name),
    );
    baseline.push({ id: `fixture:${name}`, file, input: { file: imageFile, dims: [1, 3, 128, 128] }, outputs: outputNames.get(name)!, outDir });
  }
  await opencv.run(baseline);

  const second: Job[] = [];
  for (const f of fixtures.filter((x) => loadsInOpenCv(x) && x.patchable)) {
    reference.set(`fixture:${f.file}`, await runOrt(path.join(FIXTURES, f.file), inputNames.get(f.file)!, image, [1, 3, 128, 128]));
  }
  for (const f of fixtures.filter(isBaseline)) {
    const file = path.join(FIXTURES, f.file);
    const input = inputNames.get(f.file)!;
    for (const variant of VARIANTS) {
      for (const point of POINTS) {
        const id = `patched:${f.file}:${variant.module}-${variant.variant}:${point.label}`;
        const out = path.join(work, `${patched.length}.onnx`);
        // check: false: onnxruntime runs it just below, on the image OpenCV gets.
        await insertIntoFile(file, { after: point.spec, module: variant.module, opts: variant.opts, output: out, check: false });
        patched.push({ id, fixture: f.file, opset: f.opset, variant, point: point.label });
        second.push({ id, file: out, input: { file: imageFile, dims: [1, 3, 128, 128] }, outputs: outputNames.get(f.file)!, outDir });
        reference.set(id, await runOrt(out, input, image, [1, 3, 128, 128]));
      }
    }
  }

  const dims = [1, 32, 8, 8];
  const x = seeded(32 * 64, 11, 4, -2);
  const xFile = path.join(work, 'x.bin');
  fs.writeFileSync(xFile, x);
  for (const variant of VARIANTS) {
    const m = findModule(variant.module);
    // With a dynamic H, W too (declared N, H, W; run at 1x32x8x8): the forms differ (Shape, ReduceMean).
    for (const dynamic of [false, true]) {
      if (dynamic && variant.module === 'NAM' && variant.variant === 'pixel') continue; // static H, W only
      for (const opset of BANDS.flatMap((b) => b.opsets)) {
        const ctx: ModuleContext = {
          channels: 32,
          height: dynamic ? null : 8,
          width: dynamic ? null : 8,
          opset,
          bnEps: 1e-3,
          options: resolveOptions(m, variant.opts),
        };
        m.validate(ctx);
        const tape = new ModuleBuilder(opset);
        const y = m.build(tape, tape.input, initWeights(m.params(ctx), 'random', 3), ctx);
        const file = path.join(work, `${variant.module}-${variant.variant}-op${opset}${dynamic ? '-dynamic' : ''}.onnx`);
        fs.writeFileSync(file, toBinary(ModelProtoSchema, standaloneModel(tape, y, { inputDims: dynamic ? ['N', 32, 'H', 'W'] : dims, name: m.name })));
        const id = `module:${variant.module}-${variant.variant}${dynamic ? '-dynamic' : ''}:op${opset}`;
        standalone.push({ id, variant, dynamic, opset, ops: Object.keys(tape.opCounts()) });
        second.push({ id, file, input: { file: xFile, dims }, outputs: ['y'], outDir });
        reference.set(id, await runOrt(file, 'x', x, dims));
      }
    }
  }
  await opencv.run(second);
  await opencv.close();
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

function cvOutputs(id: string): Float32Array[] {
  return results.get(id)!.outputs.map((o) => new Float32Array(fs.readFileSync(o.file).buffer.slice(0)));
}

/** Worst relative error over the outputs; Infinity when OpenCV did not run the model. */
function errorOf(id: string): number {
  const r = results.get(id)!;
  if (r.error !== null) return Infinity;
  const cv = cvOutputs(id);
  const ort = reference.get(id)!;
  if (cv.length !== ort.length) return Infinity;
  return Math.max(...ort.map((o, i) => relError(cv[i]!, o)));
}

const baselineError = (fixture: string) => errorOf(`fixture:${fixture}`);
const tolerance = (fixture: string) => Math.max(BASELINE_FACTOR * baselineError(fixture), FLOOR);
const loadsInOpenCv = (f: FixtureInfo) => results.get(`fixture:${f.file}`)!.error === null;
/** Loads in OpenCV and computes what onnxruntime does: where patched models must too. */
const isBaseline = (f: FixtureInfo) => loadsInOpenCv(f) && f.patchable && baselineError(f.file) <= BASELINE_LIMIT;

/** The facts both the README table and `modules --json` carry, from this run's measurements. */
function measuredRows(): PortabilityRow[] {
  const rows: PortabilityRow[] = [];
  for (const variant of VARIANTS) {
    for (const dynamic of [false, true]) {
      if (!standalone.some((s) => s.variant === variant && s.dynamic === dynamic)) continue;
      for (const band of BANDS) {
        const alone = standalone.filter((s) => s.variant === variant && s.dynamic === dynamic && band.opsets.includes(s.opset));
        const inFixtures = dynamic ? [] : patched.filter((p) => p.variant === variant && band.opsets.includes(p.opset));
        const base = { module: variant.module, variant: variant.variant + (dynamic ? DYNAMIC : ''), opsets: band.label };
        rows.push({
          ...base,
          runtime: 'onnxruntime-cpu',
          loads: alone.every((s) => reference.has(s.id)),
          agrees: true,
          note: 'the reference: within 1e-5 of PyTorch at every opset (src/modules/goldens.test.ts)',
        });

        const refused = [...alone, ...inFixtures].find((s) => results.get(s.id)!.error !== null);
        const wrongAlone = alone.find((s) => errorOf(s.id) > STANDALONE_TOLERANCE);
        const wrongPatched = inFixtures.find((p) => errorOf(p.id) > tolerance(p.fixture));
        const where = `alone at opsets ${alone.map((s) => s.opset).join(', ')}${inFixtures.length ? `; in ${new Set(inFixtures.map((p) => p.fixture)).size} fixtures at ${POINTS.map((p) => p.label).join(' and ')}` : ''}`;
        let note: string;
        if (refused) note = `refused at opset ${refused.opset}: ${results.get(refused.id)!.error}`;
        else if (wrongAlone || wrongPatched) note = `loads but computes a different result (${(wrongAlone ?? wrongPatched)!.id})`;
        else note = `loads and agrees with onnxruntime: ${where}`;
        rows.push({ ...base, runtime: 'opencv-4.6', loads: !refused, agrees: refused ? null : !(wrongAlone || wrongPatched), note });

        const unlisted = [...new Set(alone.flatMap((s) => s.ops))].filter((op) => !TENSORRT_LISTED.has(op));
        rows.push({
          ...base,
          runtime: 'tensorrt',
          loads: unlisted.length === 0,
          agrees: null,
          note:
            unlisted.length === 0
              ? "every op of the form is listed in onnx-tensorrt's operators.md (TensorRT 10.15, opsets 9-24); not run here"
              : `not listed in onnx-tensorrt's operators.md: ${unlisted.join(', ')}`,
        });
      }
    }
  }
  return rows;
}

function fixtureRows(): string[] {
  return fixtures.map((f) => {
    const r = results.get(`fixture:${f.file}`)!;
    const asExported = r.rawError === null ? 'yes' : `no: ${r.rawError}`;
    let cleaned = r.rawError === null ? '(not needed)' : r.error === null ? `yes (${r.cleanups.join(', ')})` : `no: ${r.error}`;
    if (r.error === null && !isBaseline(f))
      cleaned += f.patchable ? `, but its output differs from onnxruntime's (relative error > ${BASELINE_LIMIT}): no baseline` : `, but has ${f.why}`;
    return `| ${f.file} | ${asExported.replace(/\|/g, '\\|')} | ${cleaned.replace(/\|/g, '\\|')} |`;
  });
}

function renderReadme(rows: PortabilityRow[]): string {
  const cell = (r: PortabilityRow) => {
    if (r.runtime === 'tensorrt') return r.loads ? 'listed' : `not listed (${r.note.replace(/^.*: /, '')})`;
    if (!r.loads) return `refused: ${r.note.replace(/^refused at /, '')}`;
    if (r.agrees === false) return 'loads, **wrong result**';
    return 'loads, agrees';
  };
  const lines = [
    '<!-- portability:begin (generated by test/opencv.test.ts; UPDATE_README=1 node --test dist/test/opencv.test.js) -->',
    `onnxruntime CPU: ${rows.find((r) => r.runtime === 'onnxruntime-cpu')!.note}. OpenCV ${opencvVersion} DNN: measured`,
    `against onnxruntime, each variant alone (C=32, 8x8; static, and declared with a dynamic N, H, W) at opsets`,
    `${BANDS.flatMap((b) => b.opsets).join(', ')}, and (static) inserted after layer 6 and at the head of every fixture OpenCV loads and`,
    `computes as onnxruntime does (opsets 12 and 17). TensorRT: from onnx-tensorrt's operators.md, not run.`,
    '',
    '| module | variant | opsets | onnxruntime CPU | OpenCV 4.6 DNN | TensorRT (docs) |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows.filter((x) => x.runtime === 'onnxruntime-cpu')) {
    const of = (runtime: PortabilityRow['runtime']) =>
      rows.find((x) => x.module === r.module && x.variant === r.variant && x.opsets === r.opsets && x.runtime === runtime)!;
    lines.push(`| ${r.module} | ${r.variant} | ${r.opsets} | ${cell(r)} | ${cell(of('opencv-4.6'))} | ${cell(of('tensorrt'))} |`);
  }
  lines.push('', "The fixtures in OpenCV 4.6 (clean-ups touch only the exporter's nodes, never the inserted ones):", '');
  lines.push('| fixture | loads as exported | after clean-ups |', '|---|---|---|', ...fixtureRows(), '');
  for (const [k, v] of Object.entries(cleanupText)) lines.push(`- \`${k}\`: ${v}`);
  lines.push('<!-- portability:end -->');
  return lines.join('\n');
}

function renderData(rows: PortabilityRow[]): string {
  const text = fs.readFileSync(DATA, 'utf8');
  const start = text.indexOf('export const PORTABILITY');
  const body = rows.map((r) => `  ${JSON.stringify(r)},`).join('\n');
  return `${text.slice(0, start)}export const PORTABILITY: readonly PortabilityRow[] = [\n${body}\n];\n`;
}

describe(`OpenCV DNN as a second runtime (tolerance: max(${BASELINE_FACTOR} × the unpatched fixture's OpenCV-vs-onnxruntime error, ${FLOOR}), relative to max(1, max|y|))`, () => {
  it('OpenCV is 4.6, and YOLOv5 and YOLOv8 fixtures at opsets 12 and 17 are baselines (load after clean-ups, agree unpatched)', () => {
    console.log(
      `# OpenCV ${opencvVersion} on the fixtures:\n${fixtureRows()
        .map((l) => `# ${l}`)
        .join('\n')}`,
    );
    for (const f of fixtures.filter(loadsInOpenCv)) {
      console.log(
        `# ${f.file}: unpatched relative error ${baselineError(f.file).toExponential(2)}${isBaseline(f) ? `, tolerance for patched ${tolerance(f.file).toExponential(2)}` : ': no baseline'}`,
      );
    }
    assert.match(opencvVersion, /^4\.6\./);
    const baselines = fixtures.filter(isBaseline).map((f) => f.file);
    for (const f of ['yolov5-op12.onnx', 'yolov5-op17.onnx', 'yolov8-op12.onnx', 'yolov8-op17.onnx'])
      assert.ok(baselines.includes(f), `${f} is no baseline:\n${fixtureRows().join('\n')}`);
  });

  it('every fixture that loads in OpenCV has static inputs, so it was patched or measured as no baseline', () => {
    for (const f of fixtures.filter(loadsInOpenCv)) assert.ok(f.patchable, `${f.file} loads in OpenCV but has ${f.why}: extend this test to patch it`);
  });

  it('wherever the original loads, every module variant at a layer and at the head loads in OpenCV and agrees with onnxruntime', () => {
    const failures: string[] = [];
    let checked = 0;
    for (const p of patched) {
      checked++;
      const r = results.get(p.id)!;
      const e = errorOf(p.id);
      if (r.error !== null) failures.push(`${p.id}: refused: ${r.error}`);
      else if (!(e <= tolerance(p.fixture))) failures.push(`${p.id}: relative error ${e} > ${tolerance(p.fixture)}`);
    }
    assert.equal(checked, fixtures.filter(isBaseline).length * VARIANTS.length * POINTS.length);
    assert.deepEqual(failures, []);
  });

  it('each inserted module changes the outputs by more than the tolerance, so agreeing is not running the unpatched graph', () => {
    const unchanged = patched.filter((p) => {
      const change = Math.max(...reference.get(`fixture:${p.fixture}`)!.map((o, i) => relError(reference.get(p.id)![i]!, o)));
      return !(change > tolerance(p.fixture));
    });
    assert.deepEqual(
      unchanged.map((p) => p.id),
      [],
    );
  });

  it(`with a static H, W every variant alone loads and agrees in OpenCV at opsets 11 to 21 (relative error ≤ ${STANDALONE_TOLERANCE})`, () => {
    const failures = standalone
      .filter((s) => !s.dynamic && !(errorOf(s.id) <= STANDALONE_TOLERANCE))
      .map((s) => `${s.id}: ${results.get(s.id)!.error ?? errorOf(s.id)}`);
    assert.deepEqual(failures, []);
  });

  it('the README table and src/modules/portability.ts (modules --json) are what was measured', () => {
    const rows = measuredRows();
    assert.equal(rows.length, new Set(standalone.map((s) => `${s.variant.module} ${s.variant.variant} ${s.dynamic}`)).size * BANDS.length * 3);
    assert.deepEqual(new Set(rows.map((r) => r.module)), new Set(MODULES.map((m) => m.name)));
    const block = renderReadme(rows);
    const readme = fs.readFileSync(README, 'utf8');
    const begin = readme.indexOf('<!-- portability:begin');
    const end = readme.indexOf('<!-- portability:end -->');
    if (process.env['UPDATE_README'] === '1') {
      assert.ok(begin >= 0 && end > begin, 'README.md needs the <!-- portability:begin --> and <!-- portability:end --> markers');
      fs.writeFileSync(README, readme.slice(0, begin) + block + readme.slice(end + '<!-- portability:end -->'.length));
      fs.writeFileSync(DATA, renderData(rows));
      return;
    }
    const how = 'regenerate with: npx tsc -p . && UPDATE_README=1 node --test dist/test/opencv.test.js';
    assert.ok(begin >= 0 && end > begin, `README.md lacks the portability block; ${how}`);
    assert.equal(readme.slice(begin, end + '<!-- portability:end -->'.length), block, `README.md's portability table differs from what was measured; ${how}`);
    assert.deepEqual(PORTABILITY, rows, `src/modules/portability.ts differs from what was measured; ${how}`);
  });
});
