import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorChart, latencyChart } from './svg.js';

/** The chart's height and the lowest text baseline in it. */
function lowestText(svg: string): { height: number; lowest: number } {
  const height = Number(/viewBox="0 0 \d+ (\d+(?:\.\d+)?)"/.exec(svg)![1]);
  const ys = [...svg.matchAll(/<text [^>]*\by="(-?\d+(?:\.\d+)?)"/g)].map((m) => Number(m[1]));
  return { height, lowest: Math.max(...ys) };
}

test('every label of the latency and error charts lies inside the chart, descenders included', () => {
  const charts = {
    'latency, one series': latencyChart([{ label: 'cpu', samples: [1.2, 1.3, 1.4, 1.9] }]),
    'latency, two series': latencyChart([
      { label: 'original', samples: [1, 2, 3] },
      { label: 'patched', samples: [1.5, 2.5, 3.5] },
    ]),
    'error, two outputs': errorChart([
      { name: 'output0', maxAbs: 1e-4, relL2: 1e-6, atol: 1e-3 },
      { name: 'output1', maxAbs: 2e-5, relL2: 3e-7, atol: 1e-3 },
    ]),
  };
  for (const [what, svg] of Object.entries(charts)) {
    const { height, lowest } = lowestText(svg);
    // An 11 px label's descenders reach about 3 px below its baseline.
    assert.ok(lowest + 4 <= height, `${what}: a label's baseline at y=${lowest} of a ${height} px chart`);
  }
});
