import { accuracyText } from '../../report/accuracy-text.js';
import type { ValidateResult } from '../../validate.js';
import { epLine, statText, table } from './text.js';

/** `validate`: the verdict and provider, a row per output, latency, then detections, accuracy and placement. */
export function formatValidate(r: ValidateResult): string {
  const lines = [`${r.pass ? 'PASS' : 'FAIL'}  ${r.model} (${r.family}) on ${epLine(r.ep)}`, ''];
  lines.push(
    table(
      ['output', 'dtype', 'shape', 'finite', 'min', 'max'],
      r.outputs.map((o) => [o.name, o.dtype, `[${o.shape}]`, o.finite ? 'yes' : `NO (${o.nonFinite})`, statText(o.min), statText(o.max)]),
    ),
  );
  const l = r.latencyMs;
  lines.push('', `latency: p50 ${l.p50.toFixed(3)} ms, p90 ${l.p90.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, mean ${l.mean.toFixed(3)} ms over ${l.n} runs`);
  if (r.detections) {
    const d = r.detections;
    const counts = d.perInput.length === 1 ? `${d.perInput[0]} box(es)` : `${d.perInput.join(', ')} box(es) in ${d.perInput.length} input sets`;
    lines.push(`detections (${d.format}, conf ${d.conf}, iou ${d.iou}, ${d.images} image(s)): ${counts}`);
  }
  if (r.accuracy) lines.push(...accuracyText(r.accuracy, r.mapGate));
  if (r.placement) lines.push(`placement: ${r.placement.providers.map((p) => `${p.ep} ${p.nodes} nodes (${p.nodesPct}%), ${p.timePct}% of time`).join('; ')}`);
  if (r.placementCheck)
    lines.push(
      r.placementCheck.pass
        ? `every checked node ran on ${r.placementCheck.required}`
        : `${r.placementCheck.offProvider.length} node(s) ran off ${r.placementCheck.required}: ${r.placementCheck.offProvider.map((n) => `${n.node} (${n.ep})`).join(', ')}`,
    );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}
