import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { fixture } from '../../test/helpers.js';
import { LocateError } from '../errors.js';
import { analyzeModel, type AnalyzedModel } from '../analysis.js';
import { create } from '@bufbuild/protobuf';
import { loadModelSync } from '../onnx/load.js';
import { StringStringEntryProtoSchema } from '../onnx/proto.js';
import { locate } from './locate.js';
import { partSpecs } from './parts.js';

interface ManifestLayer {
  index: number;
  type: string;
  tensor: string;
  shape: number[];
  consumedBy: (number | string)[];
}
interface ManifestFile {
  file: string;
  family: string;
  dynamic: boolean;
  headLayer: number | null;
  headScope?: string;
  layers?: ManifestLayer[];
  boundaries?: { scope: string; tensor: string; shape: number[]; consumers: string[] }[];
  headInputs: { tensor: string; fromLayer: number | null; fromScope?: string; shape: number[]; consumers: string[] }[];
}

const manifest = JSON.parse(fs.readFileSync(fixture('MANIFEST.json'), 'utf8')) as { files: ManifestFile[] };
const cache = new Map<string, Promise<AnalyzedModel>>();
const analyzed = (file: string) => {
  let p = cache.get(file);
  if (!p) {
    p = analyzeModel(loadModelSync(fixture(file)));
    cache.set(file, p);
  }
  return p;
};

/** (C,H,W) of a runtime shape; a dynamic file checks only what is static. */
function assertShape(actual: unknown[] | null, chw: number[], dynamic: boolean, what: string): void {
  assert.ok(actual, `${what}: no shape`);
  assert.equal(actual.length, 4, `${what}: rank`);
  if (dynamic) assert.equal(actual[1], chw[0], `${what}: channels`);
  else {
    // A symbolic batch (official RT-DETR declares 'N') stays symbolic; everything else is measured.
    assert.ok(actual[0] === 1 || typeof actual[0] === 'string', `${what}: batch ${String(actual[0])}`);
    assert.deepEqual(actual.slice(1), chw, what);
  }
}

for (const f of manifest.files) {
  test(`${f.file}: family, every layer boundary and the head match the export`, async () => {
    const a = await analyzed(f.file);
    const s = a.structure;
    assert.equal(s.family, f.family);
    for (const layer of f.layers ?? []) {
      if (layer.index === f.headLayer) continue;
      const [site, ...rest] = locate(s, String(layer.index));
      assert.equal(rest.length, 0);
      assert.equal(site!.value.name, layer.tensor, `layer ${layer.index}`);
      assertShape(site!.shape, layer.shape, f.dynamic, `layer ${layer.index} shape`);
      const ours = s.layers.find((l) => l.index === layer.index)!;
      assert.equal(ours.type, layer.type, `layer ${layer.index} type`);
      // Every consumer outside the layer is rewired; the manifest lists consumer layers.
      const consumerLayers = [...new Set(site!.consumers.map((c) => s.layerOf(c)?.index))].sort((x, y) => x! - y!);
      assert.deepEqual(
        consumerLayers,
        layer.consumedBy.filter((x) => x !== 'OUT'),
        `layer ${layer.index} consumers`,
      );
    }
    for (const b of f.boundaries ?? []) {
      const [site] = locate(s, b.scope);
      assert.equal(site!.value.name, b.tensor, b.scope);
      assertShape(site!.shape, b.shape, f.dynamic, `${b.scope} shape`);
      assert.deepEqual(site!.consumers.map((c) => c.name).sort(), [...b.consumers].sort(), `${b.scope} consumers`);
    }
    const head = locate(s, 'head');
    assert.deepEqual(
      head.map((h) => h.value.name),
      f.headInputs.map((h) => h.tensor),
    );
    f.headInputs.forEach((h, i) => {
      const [site] = locate(s, `head:${i}`);
      assert.equal(site!.value.name, h.tensor);
      assertShape(site!.shape, h.shape, f.dynamic, `head:${i} shape`);
      for (const c of h.consumers)
        assert.ok(
          site!.consumers.some((n) => n.name === c),
          `head:${i} rewires ${c}`,
        );
    });
  });
}

test('scope paths resolve as the exporter wrote them, with or without a leading slash', async () => {
  const v5 = (await analyzed('yolov5-op12.onnx')).structure;
  for (const spec of ['model.23/cv3', '/model.23/cv3', 'model.23.cv3']) {
    const [site] = locate(v5, spec);
    assert.equal(site!.value.name, '/model.23/cv3/act/Mul_output_0', spec);
  }
  // C3's bottleneck chain: the Sequential `m` and its child `m.0` are one path.
  assert.equal(locate(v5, 'model.2/m')[0]!.value.name, locate(v5, 'model.2/m/m.0')[0]!.value.name);
  const official = (await analyzed('rtdetr-official-op16.onnx')).structure;
  assert.equal(locate(official, '/model/encoder/pan_blocks.1')[0]!.value.name, '/model/encoder/pan_blocks.1/conv3/act/Mul_output_0');
});

test('node:, node:#k and tensor: points; graph outputs are reported as such', async () => {
  const v5 = (await analyzed('yolov5-op12.onnx')).structure;
  const [n] = locate(v5, 'node:/model.23/cv3/act/Mul');
  assert.equal(n!.value.name, '/model.23/cv3/act/Mul_output_0');
  assert.deepEqual(
    n!.consumers.map((c) => c.name),
    ['/model.24/m.2/Conv'],
  );
  const [t] = locate(v5, 'tensor:/model.9/cv1/act/Mul_output_0');
  assert.equal(t!.value.producer!.name, '/model.9/cv1/act/Mul');
  const [out] = locate(v5, 'tensor:output0');
  assert.equal(out!.isGraphOutput, true);
  const split = v5.graph.nodes.find((x) => x.opType === 'Split' && x.outputs.length > 1)!;
  const [k] = locate(v5, `node:${split.name}#1`);
  assert.equal(k!.value, split.outputs[1]);
});

test('points that name nothing, constants, or several tensors fail with the candidates', async () => {
  const v5 = (await analyzed('yolov5-op12.onnx')).structure;
  assert.throws(
    () => locate(v5, '25'),
    (e: unknown) => e instanceof LocateError && /layers 0\.\.24/.test(e.message),
  );
  assert.throws(() => locate(v5, 'model.23/cv4'), /matches no layer, scope, node or tensor; did you mean 'model.23'/);
  assert.throws(() => locate(v5, 'node:/model.23/cv3/act/Mull'), /did you mean '\/model.23\/cv3\/act\/Mul'/);
  assert.throws(() => locate(v5, 'tensor:/model.23/cv3/act/Mul_output'), /tensor '\/model.23\/cv3\/act\/Mul_output' not found; did you mean/);
  assert.throws(() => locate(v5, 'head:3'), /the head has 3 inputs/);
  // '#k' on head is a mistake, not a silent 'every level'; a bad output index names the node's real ones.
  assert.throws(() => locate(v5, 'head#1'), /^LocateError: 'head#1': '#k' picks one of a scope's boundary tensors; the head's inputs are head:0\.\.head:2$/);
  assert.throws(() => locate(v5, 'head:1#5'), /'head:1#5': '#k' picks one of/);
  assert.throws(() => locate(v5, 'node:/model.23/cv3/act/Mul#-1'), /'#-1' is not an output index of node '\/model\.23\/cv3\/act\/Mul'; use #0\.\.#0$/);
  assert.throws(() => locate(v5, 'node:/model.23/cv3/act/Mul#abc'), /'#abc' is not an output index/);
  const constant = v5.graph.nodes.find((x) => x.opType === 'Constant')!;
  assert.throws(() => locate(v5, `node:${constant.name}`), /is a constant .* not data/);
  const identity = v5.graph.nodes.find((x) => x.opType === 'Identity')!;
  assert.throws(() => locate(v5, `tensor:${identity.outputs[0]!.name}`), /is a constant/);

  const official = (await analyzed('rtdetr-official-op16.onnx')).structure;
  let candidates: readonly string[] = [];
  assert.throws(
    () => locate(official, 'model/encoder'),
    (e: unknown) => {
      candidates = (e as LocateError).candidates;
      return e instanceof LocateError && /is ambiguous: scope model\/encoder has \d+ boundary tensors/.test(e.message);
    },
  );
  assert.ok(candidates.length >= 3 && candidates[0] === 'model/encoder#0');
  const picked = locate(official, 'model/encoder#1');
  assert.equal(picked.length, 1);
  assert.throws(() => locate(official, `model/encoder#${candidates.length}`), /pick one of/);
});

test('Identity de-duplication and shared Constants do not create boundaries', async () => {
  for (const file of ['yolov5-op12.onnx', 'yolov8-op17.onnx', 'yolo11-op17.onnx', 'rtdetr-l-op16.onnx']) {
    const s = (await analyzed(file)).structure;
    for (const l of s.layers) {
      if (l.isHead) continue;
      assert.equal(l.boundary.length, 1, `${file} layer ${l.scope}: ${l.boundary.map((v) => v.name).join(', ')}`);
    }
  }
});

/** The same model as the dynamo exporter names it: `node_<Op>_<n>` plus `pkg.torch.onnx.name_scopes` metadata. */
function asDynamoExport(file: string, keepScopes: boolean) {
  const model = loadModelSync(fixture(file));
  model.proto.graph!.node.forEach((n, i) => {
    if (keepScopes && n.name.startsWith('/')) {
      const segments = n.name.split('/').slice(1, -1);
      // Cumulative module paths, as PyTorch's named_modules spells them: a called nn.Sequential `m` and its child
      // `m.0` are `model.2.m`, `model.2.m.0`; official RT-DETR's HybridEncoder `encoder` and its ModuleList child
      // `encoder.0` are `model.encoder`, `model.encoder.encoder.0` (the fixtures' only module holding a list of
      // its own name).
      const dotted = (segs: string[]) =>
        segs
          .reduce<string[]>((acc, seg) => {
            const last = acc[acc.length - 1];
            const holdsList = acc.join('.') === 'model.encoder' && seg === 'encoder.0';
            if (last !== undefined && seg.startsWith(`${last}.`) && !holdsList) acc[acc.length - 1] = seg;
            else acc.push(seg);
            return acc;
          }, [])
          .join('.');
      const paths = [...new Set(segments.map((_, k) => dotted(segments.slice(0, k + 1))))];
      const value = `[${['', ...paths, `${n.opType.toLowerCase()}_${i}`].map((p) => `'${p}'`).join(', ')}]`;
      n.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'pkg.torch.onnx.name_scopes', value }));
    }
    n.name = `node_${n.opType}_${i}`;
  });
  return analyzeModel(model);
}

test('dynamo exports: scopes come from the node metadata pkg.torch.onnx.name_scopes', async () => {
  const ref = (await analyzed('yolov5-op12.onnx')).structure;
  const dyn = (await asDynamoExport('yolov5-op12.onnx', true)).structure;
  assert.equal(dyn.family, 'yolov5');
  for (const spec of ['0', '9', '17', '23', 'model.23/cv3', 'model.2/m/m.0/cv1', 'head:2']) {
    assert.deepEqual(
      locate(dyn, spec).map((x) => x.value.name),
      locate(ref, spec).map((x) => x.value.name),
      spec,
    );
  }
  assert.deepEqual(
    dyn.layers.map((l) => [l.index, l.type]),
    ref.layers.map((l) => [l.index, l.type]),
  );
  // Official RT-DETR: the HybridEncoder `encoder` holds a ModuleList `encoder` (`/model/encoder/encoder.0`), whose
  // module path is model.encoder.encoder.0 in both exports; the neck has the same blocks in both.
  const official = (await analyzed('rtdetr-official-op16.onnx')).structure;
  const officialDyn = (await asDynamoExport('rtdetr-official-op16.onnx', true)).structure;
  assert.deepEqual(
    officialDyn.layers.map((l) => [l.path, l.scope]),
    official.layers.map((l) => [l.path, l.scope]),
  );
  assert.ok(official.layers.some((l) => l.path === 'model.encoder.encoder.0' && l.scope === 'model/encoder/encoder.0'));
  assert.deepEqual(partSpecs(officialDyn, 'neck'), partSpecs(official, 'neck'));
  assert.equal(partSpecs(official, 'neck').length, 12);
  for (const spec of ['model.encoder.encoder.0', 'model/encoder/encoder.0', '/model/encoder/pan_blocks.1']) {
    assert.deepEqual(
      locate(officialDyn, spec).map((x) => x.value.name),
      locate(official, spec).map((x) => x.value.name),
      spec,
    );
  }
  assert.throws(() => locate(official, 'model.encoder.0'), /'model\.encoder\.0' matches no layer, scope, node or tensor/);
});

test("a module called more than once is one scope: SPPF's MaxPool m, m_1, m_2 (a name like conv1_1 stays a name)", async () => {
  const v5 = (await analyzed('yolov5-op12.onnx')).structure;
  assert.throws(
    () => locate(v5, 'model.9/m'),
    /'model\.9\/m' is ambiguous: scope model\.9\/m has 3 boundary tensors; pick one with model\.9\/m#0: \/model\.9\/m\/MaxPool_output_0 .*model\.9\/m#2: \/model\.9\/m_2\/MaxPool_output_0/,
  );
  assert.equal(locate(v5, 'model.9/m#1')[0]!.value.name, '/model.9/m_1/MaxPool_output_0');
  const official = (await analyzed('rtdetr-official-op16.onnx')).structure;
  assert.equal(locate(official, 'model/backbone/conv1/conv1_1')[0]!.value.name, '/model/backbone/conv1/conv1_1/act/Relu_output_0');
});

test('models with no scope information still support node:, tensor: and head', async () => {
  for (const file of ['yolov5-op12.onnx', 'yolov8-op17.onnx', 'yolo11-op12.onnx']) {
    const ref = (await analyzed(file)).structure;
    const bare = (await asDynamoExport(file, false)).structure;
    assert.equal(bare.family, 'unknown');
    assert.equal(bare.layers.length, 0);
    assert.deepEqual(
      locate(bare, 'head').map((x) => x.value.name),
      locate(ref, 'head').map((x) => x.value.name),
      file,
    );
    const t = ref.head[1]!.value.name;
    assert.equal(locate(bare, `tensor:${t}`)[0]!.value.name, t);
    assert.throws(() => locate(bare, '23'), /this model has no numbered layers/);
  }
  // Where the head cannot be told from the rest by structure alone (RT-DETR feeds its decoder from one stride more
  // than once; a dynamic YOLO's levels have no known sizes), there is no head rather than a wrong one.
  for (const file of ['rtdetr-l-op16.onnx', 'rtdetr-official-op16.onnx', 'yolov5-dynamic-op12.onnx']) {
    const bare = (await asDynamoExport(file, false)).structure;
    assert.deepEqual(
      bare.head.map((h) => h.value.name),
      [],
      file,
    );
    assert.throws(() => locate(bare, 'head'), /no detection head found in this unknown model/, file);
  }
});

test('a model that is not a detector has no head: the single-module exports of fixtures/torch-form', async () => {
  const dir = fixture('torch-form');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx'));
  assert.ok(files.length >= 9);
  for (const f of files) {
    const s = (await analyzed(`torch-form/${f}`)).structure;
    assert.deepEqual(s.head, [], `${f}: ${s.head.map((h) => h.value.name).join(', ')}`);
    assert.throws(() => locate(s, 'head'), /no detection head found in this unknown model/);
  }
});
