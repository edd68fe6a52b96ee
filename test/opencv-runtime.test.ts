import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
} from '../src/onnx/proto.js';
import { tensorInfo } from '../src/onnx/tensor.js';
import { opencvMessage } from '../src/runtime/opencv.js';
import { fixture, runBin, runMain, tmpDir } from './helpers.js';

/**
 * `validate --runtime opencv` and `compare --runtime-pair onnxruntime,opencv`: OpenCV.js 4.12.0
 * (`@techstark/opencv-js`) in a worker thread, beside onnxruntime.
 *
 * TOLERANCE: |OpenCV − onnxruntime|max / max(1, |onnxruntime|max) ≤ 1e-6. Measured on the fixtures as exported:
 * at most 4e-7 (YOLOv5, YOLOv8, YOLO11), and 3e-7 with a module inserted; 1e-6 leaves room for other CPUs' float
 * rounding in the WebAssembly build and still fails a wrong graph by orders of magnitude.
 */
const TOLERANCE = 1e-6;
const FAST = ['--warmup', '0', '--iters', '2'];
const OPENCV_VERSION = '4.12.0';

interface Ep {
  requested: string[];
  used: string[];
  runtime?: string;
  opencv?: string | null;
}

function json<T>(r: { code: number; stdout: string; stderr: string }, code = 0): T {
  assert.equal(r.code, code, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** One line on stderr starting `onnx-attn: ` and holding `part`, the exit code, nothing on stdout. */
function assertOneLine(r: { code: number; stdout: string; stderr: string }, code: number, part: string | RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^onnx-attn: [^\n]+\n$/, r.stderr.slice(0, 2000));
  if (typeof part === 'string') assert.ok(r.stderr.includes(part), r.stderr);
  else assert.match(r.stderr, part);
}

/** The largest |value| of each output in onnxruntime (validate's min and max), the scale of the tolerance. */
function onnxruntimeScale(model: string): Map<string, number> {
  const v = json<{ outputs: { name: string; min: number; max: number }[] }>(runBin(['validate', model, ...FAST, '--json']));
  return new Map(v.outputs.map((o) => [o.name, Math.max(1, Math.abs(o.min), Math.abs(o.max))]));
}

interface CompareJson {
  pass: boolean;
  mode: string;
  a: { path: string; ep: Ep };
  b: { path: string; ep: Ep };
  outputs: { name: string; maxAbs: number; pass: boolean }[];
  latencyMs: { a: { n: number }; b: { n: number } };
}

/** compare --runtime-pair onnxruntime,opencv, its JSON checked for the runtimes and the tolerance. */
function compareRuntimes(models: string[]): CompareJson {
  const c = json<CompareJson>(runBin(['compare', ...models, '--runtime-pair', 'onnxruntime,opencv', ...FAST, '--json']));
  assert.equal(c.a.ep.runtime, 'onnxruntime');
  assert.equal(c.a.ep.opencv, undefined);
  assert.equal(c.b.ep.runtime, 'opencv');
  assert.equal(c.b.ep.opencv, OPENCV_VERSION);
  assert.equal(c.latencyMs.b.n, 2, 'OpenCV is timed as onnxruntime is: --iters runs');
  const scale = onnxruntimeScale(models[models.length - 1]!);
  for (const o of c.outputs) {
    const relative = o.maxAbs / scale.get(o.name)!;
    assert.ok(relative <= TOLERANCE, `${models.join(' vs ')}: output '${o.name}' differs by ${relative} of its scale in OpenCV`);
    assert.ok(o.maxAbs > 0 || relative === 0);
  }
  assert.equal(c.pass, true);
  return c;
}

describe('OpenCV.js as a runtime', () => {
  const dir = tmpDir();
  const nam = path.join(dir, 'yolov5-nam.onnx');
  const cbam = path.join(dir, 'yolov8-cbam.onnx');
  const gated = path.join(dir, 'yolov8-nam-gate0.onnx');

  before(() => {
    for (const [input, args, out] of [
      ['yolov5-op12.onnx', ['--after', '6', '--module', 'NAM'], nam],
      ['yolov8-op17.onnx', ['--after', 'head', '--module', 'CBAM', '--opt', 'reduction=4'], cbam],
      ['yolov8-op17.onnx', ['--after', 'head', '--module', 'NAM', '--gate', 'zero'], gated],
    ] as const) {
      const r = runBin(['insert', fixture(input), ...args, '-o', out, '--quiet']);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  it('validate --runtime opencv runs YOLOv5, YOLOv8 and patched models (NAM, CBAM): outputs finite, runtime and version in JSON', () => {
    for (const [model, shape] of [
      [fixture('yolov5-op12.onnx'), [1, 1008, 85]],
      [fixture('yolov8-op17.onnx'), [1, 84, 336]],
      [nam, [1, 1008, 85]],
      [cbam, [1, 84, 336]],
    ] as const) {
      const v = json<{ pass: boolean; ep: Ep; outputs: { shape: number[]; finite: boolean }[]; latencyMs: { n: number } }>(
        runBin(['validate', model, '--runtime', 'opencv', ...FAST, '--json']),
      );
      assert.equal(v.pass, true, model);
      assert.deepEqual(v.ep, { requested: ['cpu'], used: ['cpu'], fallbackReason: null, runtime: 'opencv', opencv: OPENCV_VERSION });
      assert.deepEqual(
        v.outputs.map((o) => [o.shape, o.finite]),
        [[shape, true]],
      );
      assert.equal(v.latencyMs.n, 2);
    }
  });

  it('the text and Markdown reports name the runtime', () => {
    const md = path.join(dir, 'v.md');
    const r = runBin(['validate', fixture('yolov8-op12.onnx'), '--runtime', 'opencv', ...FAST, '--report', md]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split('\n')[0]!, /^PASS {2}\S+yolov8-op12\.onnx \(yolov8\) on OpenCV\.js 4\.12\.0 cpu$/);
  });

  it('compare --runtime-pair onnxruntime,opencv: one model on both runtimes agrees within the tolerance (YOLOv5, YOLOv8, YOLO11, CBAM)', () => {
    for (const model of [fixture('yolov5-op12.onnx'), fixture('yolov8-op17.onnx'), fixture('yolo11-op17.onnx'), cbam]) {
      const c = compareRuntimes([model]);
      assert.equal(c.mode, 'runtime-pair');
      assert.equal(c.a.path, c.b.path);
    }
  });

  it('compare a b --runtime-pair: the original in onnxruntime against NAM with a zero gate in OpenCV agrees', () => {
    const c = compareRuntimes([fixture('yolov8-op17.onnx'), gated]);
    assert.equal(c.mode, 'models');
    assert.equal(c.b.path, gated);
  });

  it('plans: runtime under validate, runtime-pair under compare', () => {
    const plan = path.join(dir, 'plan.yaml');
    const report = path.join(dir, 'plan.json');
    fs.copyFileSync(gated, path.join(dir, 'in.onnx'));
    fs.writeFileSync(
      plan,
      [
        'version: 1',
        'models:',
        '  - input: in.onnx',
        '    output: out/nam.onnx',
        '    insert: [{after: "6", module: NAM, gate: zero}]',
        '    validate: {runtime: opencv, warmup: 0, iters: 1}',
        '    compare: {runtime-pair: "onnxruntime,opencv", warmup: 0, iters: 1}',
        `reports: [${JSON.stringify(report)}]`,
      ].join('\n'),
    );
    const r = runBin(['apply', plan, '--quiet']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const entry = (JSON.parse(fs.readFileSync(report, 'utf8')) as { entries: { validate: { ep: Ep }; compare: CompareJson }[] }).entries[0]!;
    assert.equal(entry.validate.ep.runtime, 'opencv');
    assert.equal(entry.compare.a.ep.runtime, 'onnxruntime');
    assert.deepEqual([entry.compare.b.ep.runtime, entry.compare.b.ep.opencv, entry.compare.pass], ['opencv', OPENCV_VERSION, true]);
  });

  it('a model OpenCV.js refuses is exit 4 in one line saying what: RT-DETR official (an int64 input), RT-DETR (its Slice), a dynamic YOLOv5', () => {
    assertOneLine(
      runBin(['validate', fixture('rtdetr-official-op17.onnx'), '--runtime', 'opencv', ...FAST]),
      4,
      `OpenCV.js cannot run the model ${fixture('rtdetr-official-op17.onnx')}: input 'orig_target_sizes' is int64 [1,2]; OpenCV.js takes NCHW float32 image blobs only`,
    );
    assertOneLine(
      runBin(['compare', fixture('rtdetr-l-op17.onnx'), '--runtime-pair', 'onnxruntime,opencv', ...FAST]),
      4,
      /OpenCV\.js cannot load the model \S*rtdetr-l-op17\.onnx: its Slice layer: \(-215:Assertion failed\) end < 0 \|\| end > start in function 'SliceLayerImpl' \(dnn\/src\/layers\/slice_layer\.cpp:\d+\)/,
    );
    assertOneLine(
      runBin(['validate', fixture('yolov5-dynamic-op12.onnx'), '--runtime', 'opencv', ...FAST]),
      4,
      /OpenCV\.js cannot load the model \S*yolov5-dynamic-op12\.onnx: its Concat layer: /,
    );
  });

  it('a model whose blobs outgrow OpenCV.js memory is exit 4 in one line, not a crash (a 1x1 Conv to 1536 maps of 512x512)', () => {
    const c = 1536;
    const weights = new Float32Array(c * 3).fill(0.5);
    const big = create(ModelProtoSchema, {
      irVersion: 7n,
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 12n })],
      graph: create(GraphProtoSchema, {
        name: 'wide',
        node: [
          create(NodeProtoSchema, {
            opType: 'Conv',
            name: '/wide/Conv',
            input: ['images', 'w'],
            output: ['y'],
            attribute: [create(AttributeProtoSchema, { name: 'kernel_shape', type: AT.INTS, ints: [1n, 1n] })],
          }),
        ],
        input: [tensorInfo('images', [1, 3, 512, 512])],
        output: [tensorInfo('y', [1, c, 512, 512])],
        initializer: [create(TensorProtoSchema, { name: 'w', dims: [BigInt(c), 3n, 1n, 1n], dataType: 1, rawData: new Uint8Array(weights.buffer) })],
      }),
    });
    const file = path.join(dir, 'wide.onnx');
    fs.writeFileSync(file, toBinary(ModelProtoSchema, big));
    assertOneLine(
      runBin(['validate', file, '--runtime', 'opencv', ...FAST, '--detections', 'off']),
      4,
      /OpenCV\.js 4\.12\.0 failed on the model \S*wide\.onnx: .*\(OpenCV\.js has under 2 GB of WebAssembly memory: its blobs for this model do not fit; run it in onnxruntime\)$/m,
    );
  });

  it('onnxruntime-only flags with opencv, and malformed pairs, are usage errors (exit 2) naming the flag', () => {
    const v8 = fixture('yolov8-op12.onnx');
    const cases: [string[], string][] = [
      [['validate', v8, '--runtime', 'opencv', '--ep', 'cpu'], '--ep does not apply to --runtime opencv'],
      [['validate', v8, '--runtime', 'opencv', '--profile'], '--profile does not apply to --runtime opencv'],
      [['validate', v8, '--runtime', 'opencv', '--require-ep', 'cpu'], '--require-ep does not apply to --runtime opencv'],
      [['validate', v8, '--runtime', 'opencv', '--fallback', 'cpu'], '--fallback does not apply to --runtime opencv'],
      [['validate', v8, '--runtime', 'opencv', '--threads', '2'], '--threads does not apply to --runtime opencv'],
      [['validate', v8, '--runtime', 'opencv', '--dataset', 'fixtures/trained'], '--dataset does not apply to --runtime opencv'],
      [['compare', v8, '--runtime-pair', 'onnxruntime,opencv', '--ep', 'cuda'], '--ep does not apply to --runtime-pair onnxruntime,opencv'],
      [['compare', v8, '--runtime-pair', 'onnxruntime,opencv', '--require-ep', 'cpu'], '--require-ep does not apply to --runtime-pair onnxruntime,opencv'],
      [['compare', v8, '--runtime-pair', 'onnxruntime,opencv', '--ep-pair', 'cuda,cpu'], '--runtime-pair and --ep-pair each make a pair; give one of them'],
      [
        ['compare', v8, '--runtime-pair', 'onnxruntime,tensorrt'],
        "--runtime-pair 'onnxruntime,tensorrt': expected two of onnxruntime, opencv, e.g. onnxruntime,opencv (the first is the reference)",
      ],
      [['compare', v8, '--runtime-pair', 'opencv'], "--runtime-pair 'opencv': expected two of onnxruntime, opencv"],
      [['validate', v8, '--runtime', 'tflite'], 'Argument: runtime, Given: "tflite", Choices: "onnxruntime", "opencv"'],
    ];
    for (const [args, message] of cases) {
      const r = runBin([...args, ...FAST]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(message), `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  it("OpenCV.js's crash handlers never reach the CLI's process: it runs in a worker, loaded only with --runtime opencv", async () => {
    const handlers = () => [process.listeners('uncaughtException').length, process.listeners('unhandledRejection').length];
    const before = handlers();
    const r = await runMain(['validate', fixture('yolov8-op12.onnx'), '--runtime', 'opencv', ...FAST, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(handlers(), before);
    const refused = await runMain(['validate', fixture('rtdetr-l-op17.onnx'), '--runtime', 'opencv', ...FAST]);
    assert.equal(refused.code, 4);
    assert.deepEqual(handlers(), before);
  });

  it("OpenCV's messages lose their build path and name the layer kind from its source file", () => {
    assert.equal(
      opencvMessage(
        "OpenCV(4.12.0) /home/ci/opencv/modules/dnn/src/layers/nary_eltwise_layers.cpp:318: error: (-215:Assertion failed) shape[i] == 1 || outShape[i] == 1 in function 'findCommonShape'\n",
      ),
      "its element-wise (Add, Sub, Mul, Div, ...) layer: (-215:Assertion failed) shape[i] == 1 || outShape[i] == 1 in function 'findCommonShape' (dnn/src/layers/nary_eltwise_layers.cpp:318)",
    );
    assert.equal(
      opencvMessage("OpenCV(4.12.0) /x/opencv/modules/dnn/src/onnx/onnx_importer.cpp:278: error: (-5:Bad argument) in function 'ONNXImporter'"),
      "(-5:Bad argument) in function 'ONNXImporter' (dnn/src/onnx/onnx_importer.cpp:278)",
    );
    assert.equal(opencvMessage('something else\nsecond line'), 'something else second line');
  });
});
