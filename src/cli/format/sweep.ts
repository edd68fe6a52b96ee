import { sweepAccuracyText } from '../../report/accuracy-text.js';
import { overheadInterval } from '../../report/format.js';
import type { SweepResult } from '../../sweep.js';
import { countText, statText, table } from './text.js';

/** `20 pairs each`, or `12..340 pairs` when a precision target or budget made them differ. */
function pairsText(r: SweepResult): string {
  const pairs = r.rows.filter((x) => x.sameAs === null).map((x) => x.latencyMs.overhead.pairs);
  const lo = pairs.length > 0 ? Math.min(...pairs) : 0,
    hi = pairs.length > 0 ? Math.max(...pairs) : 0;
  const timed = r.rows.filter((x) => x.sameAs === null);
  const target =
    r.timing.precisionPct !== null
      ? `, precision ±${r.timing.precisionPct}% reached by ${timed.filter((x) => x.latencyMs.overhead.precisionReached).length} of ${timed.length}`
      : '';
  const budget = r.timing.budgetS !== null ? `, budget ${r.timing.budgetS} s` : '';
  return `${lo === hi ? `${lo} pairs each` : `${lo}..${hi} pairs`}${target}${budget}`;
}

/** `sweep`: a row per candidate in rank order, how latency was measured, accuracy, and what was skipped. */
export function formatSweep(r: SweepResult): string {
  const signed = (x: number, d: number) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
  const lines = [
    `sweep ${r.model} (${r.family}) on ${r.ep.used.join(', ')}${r.ep.fallbackReason ? ` (fallback: ${r.ep.fallbackReason})` : ''}: ${r.rows.length} candidate(s), ranked by ${r.rankBy}`,
    '',
    table(
      ['#', 'module', 'point', 'params', 'MACs', 'p50 ms', 'overhead (95% interval)', 'cosine', 'rel L2', 'scores rel L2', 'boxes kept', 'on EP'],
      r.rows.map((x) => [
        String(x.rank),
        `${x.module}(${x.variant})`,
        x.point,
        countText(x.params),
        countText(x.macs),
        x.latencyMs.p50.toFixed(3),
        // An overhead whose interval holds 0 is not a number to rank by: it says so instead.
        x.latencyMs.overhead.withinNoise
          ? `within noise (${overheadInterval(x.latencyMs.overhead)})`
          : `${signed(x.overheadMs, 3)} ms (${signed(x.overheadPct, 1)}%, ${overheadInterval(x.latencyMs.overhead)})`,
        x.cosine.toFixed(6),
        statText(x.relL2),
        statText(x.scoreChange),
        x.detections ? `${x.detections.matchedPct.toFixed(1)}%` : '-',
        x.onRequestedEp === null ? '?' : x.onRequestedEp ? 'yes' : 'NO',
      ]),
    ),
    '',
    `latency: each candidate timed alternately with the original (its p50 drifted ${r.baseline.driftPct}% over the sweep); overhead = median of the paired differences (${pairsText(r)}) with its 95% interval, "within noise" when that holds 0`,
  ];
  lines.push(...sweepAccuracyText(r));
  for (const s of r.skipped) lines.push(`skipped: ${s.module} at ${s.point}: ${s.reason}`);
  return lines.join('\n');
}
