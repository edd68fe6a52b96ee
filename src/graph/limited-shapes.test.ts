import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture, fixtureFiles } from '../../test/helpers.js';
import { analyzeModel } from '../analysis.js';
import { loadModelSync } from '../onnx/load.js';
import { Graph } from './graph.js';
import { inferShapes } from './shapes.js';

/**
 * Limited inference (`only`, `given`) is what the insert check uses: it must give the values asked for exactly what
 * inference over the whole graph gives, on every fixture and at every boundary and head input.
 */
for (const file of fixtureFiles()) {
  test(`${file}: inference limited to the boundaries gives the whole graph's boundary shapes`, async () => {
    const model = loadModelSync(fixture(file));
    const { structure } = await analyzeModel(model, { probe: false });
    const points = [...new Set([...structure.layers.flatMap((l) => l.boundary), ...structure.head.map((h) => h.value)])];
    assert.ok(points.length > 0, 'the fixture has boundaries');
    const graph = Graph.fromModel(model);
    const full = inferShapes(graph);
    const values = points.map((p) => graph.value(p.name)!);
    const limited = inferShapes(graph, { only: values });
    for (const v of values) assert.deepEqual(limited.get(v), full.get(v), v.name);
    // Seeded at each boundary with the whole graph's answer, the nodes right after it come out the same too.
    for (const v of values.slice(0, 8)) {
      const t = full.get(v);
      if (!t) continue;
      const next = v.consumers().flatMap((c) => c.outputs);
      const seeded = inferShapes(graph, { only: next, given: new Map([[v.name, t]]) });
      // Other inputs of those consumers are inferred from their own cones, so the result is the whole graph's.
      for (const o of next) {
        assert.deepEqual(seeded.get(o), full.get(o), `${o.name} after ${v.name}`);
      }
    }
  });
}
