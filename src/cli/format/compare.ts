import type { CompareResult } from '../../compare.js';
import { compareAccuracyText } from '../../report/accuracy-text.js';
import { overheadText, timingText } from '../../report/format.js';
import { countText, epLine, statText, table } from './text.js';

/** `compare`: the verdict, a row per output (and per part of a known detector's output), detections, accuracy, latency. */
export function formatCompare(r: CompareResult): string {
  const lines = [`${r.pass ? 'PASS' : 'FAIL'}  a=${r.a.path} on ${epLine(r.a.ep)}  b=${r.b.path} on ${epLine(r.b.ep)}`, ''];
  lines.push(
    table(
      ['output', 'shape', 'max abs', 'mean abs', 'rel L2', 'cosine', 'tolerance', 'within', ''],
      // Each part of a known detector's output on its own line under the output (boxes, objectness, scores).
      r.outputs.flatMap((o) => [
        [
          o.name,
          `[${o.shape}]`,
          statText(o.maxAbs),
          statText(o.meanAbs),
          statText(o.relL2),
          o.cosine.toFixed(6),
          o.tolerance.name,
          `${o.withinPct}%`,
          o.pass ? 'ok' : 'FAIL',
        ],
        ...(o.parts ?? []).map((p) => [`  ${p.part}`, '', statText(p.maxAbs), '', statText(p.relL2), p.cosine.toFixed(6), '', '', '']),
      ]),
    ),
  );
  if (r.detections) {
    const d = r.detections;
    lines.push(
      '',
      `detections (${d.format}, ${d.images} image(s)): ${d.matchedPct}% of ${d.refCount} matched, class agreement ${d.classAgreement === null ? '-' : `${(100 * d.classAgreement).toFixed(1)}%`}, mean IoU ${statText(d.meanIoU)}, missing ${d.missing}, extra ${d.extra}`,
    );
  }
  if (r.a.accuracy && r.b.accuracy) lines.push(...compareAccuracyText(r.a.accuracy, r.b.accuracy, r.mapDrop, r.mapGate));
  lines.push(
    `latency p50: a ${r.latencyMs.a.p50.toFixed(3)} ms, b ${r.latencyMs.b.p50.toFixed(3)} ms; overhead ${overheadText(r.latencyMs.overhead)}, ${timingText(r.latencyMs.overhead)}`,
    `added: ${countText(r.added.params)} parameters, ${countText(r.added.macs)} MACs, ${r.added.nodes} nodes`,
  );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}
