import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { Graph } from '../graph/graph.js';
import { loadModel } from '../onnx/load.js';
import { probeShapes } from './probe.js';
import { fixture } from '../../test/helpers.js';

/** The onnxruntime probe: measured shapes of inner tensors, the model left exactly as it was. */
test('probeShapes measures every layer boundary of a fixture as the manifest records it, and leaves the model unchanged', async () => {
  const manifest = JSON.parse(fs.readFileSync(fixture('MANIFEST.json'), 'utf8')) as { files: { file: string; layers?: { tensor: string; shape: number[] }[] }[] };
  for (const file of ['yolov5-op12.onnx', 'rtdetr-l-op16.onnx']) {
    const model = loadModel(fixture(file));
    const outputsBefore = model.proto.graph!.output.map((o) => o.name);
    const graph = Graph.fromModel(model);
    const layers = manifest.files.find((f) => f.file === file)!.layers!;
    const values = layers.map((l) => graph.value(l.tensor)!);
    const shapes = await probeShapes(graph, values);
    for (const [i, l] of layers.entries()) assert.deepEqual(shapes.get(values[i]!), [1, ...l.shape], `${file} ${l.tensor}`);
    assert.deepEqual(model.proto.graph!.output.map((o) => o.name), outputsBefore);
  }
});

test('probeShapes sizes dynamic inputs from --shape', async () => {
  const model = loadModel(fixture('yolov5-dynamic-op12.onnx'));
  const graph = Graph.fromModel(model);
  const v = graph.value('/model.23/cv3/act/Mul_output_0')!;
  const shapes = await probeShapes(graph, [v], { inputShapes: { images: [2, 3, 96, 160] } });
  assert.deepEqual(shapes.get(v), [2, 32, 3, 5]);
});
