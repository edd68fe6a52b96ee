import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { Graph } from '../graph/graph.js';
import { loadModelSync } from '../onnx/load.js';
import { probeShapes } from './probe.js';
import { fixture } from '../../test/helpers.js';

/** The onnxruntime probe: measured shapes of inner tensors, the model left exactly as it was. */
test('probeShapes measures every layer boundary of a fixture as the manifest records it, and leaves the model unchanged', async () => {
  const manifest = JSON.parse(fs.readFileSync(fixture('MANIFEST.json'), 'utf8')) as {
    files: { file: string; layers?: { tensor: string; shape: number[] }[] }[];
  };
  for (const file of ['yolov5-op12.onnx', 'rtdetr-l-op16.onnx']) {
    const model = loadModelSync(fixture(file));
    const outputsBefore = model.proto.graph!.output.map((o) => o.name);
    const graph = Graph.fromModel(model);
    const layers = manifest.files.find((f) => f.file === file)!.layers!;
    const values = layers.map((l) => graph.value(l.tensor)!);
    const shapes = await probeShapes(graph, values);
    for (const [i, l] of layers.entries()) assert.deepEqual(shapes.get(values[i]!), [1, ...l.shape], `${file} ${l.tensor}`);
    assert.deepEqual(
      model.proto.graph!.output.map((o) => o.name),
      outputsBefore,
    );
  }
});

test('probeShapes sizes dynamic inputs from --shape', async () => {
  const model = loadModelSync(fixture('yolov5-dynamic-op12.onnx'));
  const graph = Graph.fromModel(model);
  const v = graph.value('/model.23/cv3/act/Mul_output_0')!;
  const shapes = await probeShapes(graph, [v], { inputShapes: { images: [2, 3, 96, 160] } });
  assert.deepEqual(shapes.get(v), [2, 32, 3, 5]);
});

test('analyzeModel probes the boundaries static inference cannot reach, and only those', async () => {
  const { analyzeModel } = await import('../analysis.js');
  const model = () => {
    const m = loadModelSync(fixture('yolov5-op12.onnx'));
    // An op the static rules do not know (Shrink) hides layer 23's shape from inference; onnxruntime runs it.
    m.proto.graph!.node.find((n) => n.name === '/model.23/cv3/act/Sigmoid')!.opType = 'Shrink';
    return m;
  };
  const tensor = '/model.23/cv3/act/Mul_output_0';
  const blind = await analyzeModel(model(), { probe: false });
  assert.equal(blind.shapeSource, 'static');
  // Static inference stops at the Shrink, so nothing is known of the Mul after it.
  assert.equal(blind.structure.shapeOf(blind.graph.value(tensor)!), null);
  const probed = await analyzeModel(model());
  assert.equal(probed.shapeSource, 'probe');
  assert.deepEqual(probed.structure.shapeOf(probed.graph.value(tensor)!), [1, 32, 4, 4]);
  assert.deepEqual(
    probed.structure.head.map((h) => probed.structure.shapeOf(h.value)),
    [
      [1, 8, 16, 16],
      [1, 16, 8, 8],
      [1, 32, 4, 4],
    ],
  );
});
