import type { SweepResult, SweepRow } from '../sweep.js';
import { count, num, overheadInterval, overheadText, pct } from './format.js';
import { fallbackCase, junitXml, type JUnitCase } from './junit.js';
import { esc } from './svg.js';
import { sweepAccuracyHtml, sweepAccuracyMarkdown } from './accuracy.js';

/** Sweep reports: Markdown, CSV, JUnit, and HTML with a chart of overhead against output change. */

const signed = (x: number, digits = 1) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
const detText = (r: SweepRow) => (r.detections ? `${r.detections.matchedPct.toFixed(1)}%` : '-');
const epText = (r: SweepRow) => (r.onRequestedEp === null ? '?' : r.onRequestedEp ? 'yes' : 'no');

const partRelL2 = (r: SweepRow, part: string) => {
  const values = r.outputs.flatMap((o) => (o.parts ?? []).filter((p) => p.part === part).map((p) => p.relL2));
  return values.length > 0 ? num(Math.max(...values)) : '-';
};

const HEADER = [
  'rank',
  'module',
  'variant',
  'point',
  'params',
  'MACs',
  'p50 ms',
  'overhead ms',
  'overhead % (95% interval)',
  'cosine',
  'rel L2',
  'scores rel L2',
  'boxes rel L2',
  'detections matched',
  'on EP',
];
/** Columns 4..12 hold numbers (right-aligned in HTML). */
const NUMERIC = (i: number) => i >= 4 && i <= 12;
function cells(r: SweepRow): string[] {
  const o = r.latencyMs.overhead;
  // An overhead whose interval holds 0 is not ranked as a number: the % column says so.
  return [
    String(r.rank),
    r.module,
    r.variant,
    r.point,
    count(r.params),
    count(r.macs),
    r.latencyMs.p50.toFixed(3),
    signed(r.overheadMs, 3),
    `${o.withinNoise ? 'within noise' : `${signed(r.overheadPct)}%`} (${overheadInterval(o)})`,
    num(r.cosine, 6),
    num(r.relL2),
    partRelL2(r, 'scores'),
    partRelL2(r, 'boxes'),
    detText(r),
    epText(r),
  ];
}

/** `20 pairs`, or `12..340 pairs` when a precision target or a budget made them differ; with the target. */
function timingLine(r: SweepResult): string {
  const pairs = r.rows.filter((x) => x.sameAs === null).map((x) => x.latencyMs.overhead.pairs);
  const lo = pairs.length > 0 ? Math.min(...pairs) : 0,
    hi = pairs.length > 0 ? Math.max(...pairs) : 0;
  const timed = r.rows.filter((x) => x.sameAs === null);
  const target = [
    r.timing.precisionPct !== null
      ? `precision ±${r.timing.precisionPct}% reached by ${timed.filter((x) => x.latencyMs.overhead.precisionReached).length} of ${timed.length}`
      : '',
    r.timing.budgetS !== null ? `budget ${r.timing.budgetS} s` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `overhead = median of ${lo === hi ? lo : `${lo}..${hi}`} paired differences with its 95% interval (order statistics), "within noise" when the interval holds 0${target ? `; ${target}` : ''}`;
}

export function sweepMarkdown(r: SweepResult): string {
  const row = (c: string[]) => `| ${c.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`;
  const lines = [
    `## onnx-attn sweep: ${r.rows.length} candidate(s) on \`${r.model}\``,
    '',
    `- family ${r.family}; provider ${r.ep.used.join(', ')}${r.ep.fallbackReason ? ` (fallback: ${r.ep.fallbackReason})` : ''}; ranked by ${r.rankBy}, best first`,
    `- latency: each candidate timed alternately with the original; the original's p50 drifted ${r.baseline.driftPct}% over the sweep`,
    `- ${timingLine(r)}`,
    '',
    row(HEADER),
    row(HEADER.map(() => '---')),
    ...r.rows.map((x) => row(cells(x))),
  ];
  lines.push(...sweepAccuracyMarkdown(r));
  if (r.skipped.length > 0) lines.push('', '### Skipped', '', ...r.skipped.map((s) => `- ${s.module} at ${s.point}: ${s.reason}`));
  return lines.join('\n') + '\n';
}

/** RFC 4180: quote a field holding a comma, quote or line break, doubling inner quotes. */
function csvField(v: string | number | boolean | null): string {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function sweepCsv(r: SweepResult): string {
  const header = [
    'rank',
    'module',
    'variant',
    'point',
    'tensors',
    'params',
    'macs',
    'p50_ms',
    'baseline_ms',
    'overhead_ms',
    'overhead_pct',
    'cosine',
    'rel_l2',
    'matched_pct',
    'class_agreement',
    'mean_iou',
    'on_requested_ep',
    'same_as',
  ];
  // Later columns: the overhead's interval, and each part's change (empty for a model without parts).
  header.push('overhead_lo_ms', 'overhead_hi_ms', 'overhead_lo_pct', 'overhead_hi_pct', 'overhead_within_noise', 'pairs', 'score_change');
  const partNames = ['boxes', 'objectness', 'scores', 'labels'].filter((p) =>
    r.rows.some((x) => x.outputs.some((o) => (o.parts ?? []).some((q) => q.part === p))),
  );
  for (const p of partNames) header.push(`${p}_max_abs`, `${p}_rel_l2`, `${p}_cosine`);
  const part = (x: SweepRow, p: string) => x.outputs.flatMap((o) => o.parts ?? []).find((q) => q.part === p);
  const rows: (string | number | boolean | null)[][] = r.rows.map((x) => {
    const o = x.latencyMs.overhead;
    return [
      ...[
        x.rank,
        x.module,
        x.variant,
        x.point,
        x.tensors.join(' '),
        x.params,
        x.macs,
        x.latencyMs.p50,
        x.baselineMs,
        x.overheadMs,
        x.overheadPct,
        x.cosine,
        x.relL2,
        x.detections?.matchedPct ?? null,
        x.detections?.classAgreement ?? null,
        x.detections?.meanIoU ?? null,
        x.onRequestedEp,
        x.sameAs,
      ],
      ...[o.lo, o.hi, o.loPct, o.hiPct, o.withinNoise, o.pairs, x.scoreChange],
      ...partNames.flatMap((p) => {
        const m = part(x, p);
        return m ? [m.maxAbs, m.relL2, m.cosine] : [null, null, null];
      }),
    ];
  });
  // Accuracy on a dataset: each candidate's mAP and its drop against the original (the columns appear only then).
  if (r.accuracy) {
    header.push('map50', 'map5095', 'map_drop');
    r.rows.forEach((x, i) => rows[i]!.push(x.accuracy?.map50 ?? null, x.accuracy?.map5095 ?? null, x.mapDrop ?? null));
  }
  // A CPU fallback is recorded on every row (the columns appear only then: a CSV has no header lines).
  if (r.ep.fallbackReason) {
    header.push('requested_ep', 'used_ep', 'fallback_reason');
    for (const row of rows) row.push(r.ep.requested.join(' '), r.ep.used.join(' '), r.ep.fallbackReason);
  }
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/**
 * JUnit of a sweep. A sweep ranks; it does not gate (its exit status is 0 whenever it ran), so no testcase fails:
 * where the inserted nodes ran, and a CPU fallback, are in the output; candidates that cannot be built are skipped.
 */
export function sweepJunit(r: SweepResult): string {
  const cls = `onnx-attn.sweep.${r.model}`;
  const cases: JUnitCase[] = [];
  const fallback = fallbackCase(r.ep, cls);
  if (fallback) cases.push(fallback);
  for (const x of r.rows) {
    const placement =
      x.offEp.length > 0
        ? `; inserted nodes ran off ${r.ep.used[0]}: ${x.offEp.join(', ')}`
        : r.ep.fallbackReason
          ? `; ran on ${r.ep.used.join(',')} (fell back from ${r.ep.requested.join(',')})`
          : '';
    cases.push({
      name: `${x.module} at ${x.point}`,
      classname: cls,
      timeSec: (x.latencyMs.mean * r.iters) / 1000,
      failure: null,
      output: `params ${x.params}, MACs ${x.macs ?? 'dynamic'}, overhead ${overheadText(x.latencyMs.overhead)}, cosine ${x.cosine}, rel L2 ${x.relL2}${x.outputs.flatMap((o) => (o.parts ?? []).map((p) => `, ${p.part} rel L2 ${p.relL2}`)).join('')}${placement}`,
    });
  }
  for (const s of r.skipped) cases.push({ name: `${s.module} at ${s.point}`, classname: cls, skipped: `not built: ${s.reason}` });
  return junitXml([{ name: `sweep ${r.model}`, cases }]);
}

const COLORS: Record<string, string> = { NAM: '#3b6ea8', GAM: '#d0743c', SimAM: '#4f9a5c', SE: '#9b5fb4', CBAM: '#b8465a', ECA: '#6b8e23', CA: '#8c6d31' };

/**
 * Overhead (%, with its 95% interval as a bar; a hollow dot when within noise) against output change (the scores
 * part's rel L2 when the model has one, else the whole outputs'; log scale), one dot per candidate, by module.
 */
export function tradeoffChart(all: SweepRow[]): string {
  const change = (r: SweepRow) => r.scoreChange ?? r.relL2;
  const byScores = all.some((r) => r.scoreChange !== null);
  // A candidate whose change is not a number (non-finite outputs) has no place on the chart; the table shows it.
  const rows = all.filter((r) => Number.isFinite(change(r)) && Number.isFinite(r.overheadPct));
  const width = 720;
  const height = 380;
  const [left, right, top, bottom] = [70, 130, 20, 50];
  const xs = rows.length > 0 ? rows.map((r) => Math.max(change(r), 1e-9)) : [1e-9];
  const ys = rows.map((r) => r.overheadPct);
  const lx = Math.floor(Math.log10(Math.min(...xs)));
  const hx = Math.ceil(Math.log10(Math.max(...xs))) + (Math.min(...xs) === Math.max(...xs) ? 1 : 0);
  // The range fits the medians (an interval on a noisy machine can span thousands of %); bars are clipped to it.
  const pad = 0.15 * (Math.max(1, ...ys) - Math.min(0, ...ys));
  const ly = Math.min(0, ...ys) - pad;
  const hy = Math.max(1, ...ys) + pad;
  const clip = (v: number) => Math.min(hy, Math.max(ly, v));
  const x = (v: number) => left + ((Math.log10(Math.max(v, 1e-9)) - lx) / (hx - lx || 1)) * (width - left - right);
  const y = (v: number) => top + (1 - (v - ly) / (hy - ly || 1)) * (height - top - bottom);
  const parts: string[] = [];
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${y(0)}" y2="${y(0)}" stroke="#bbb" stroke-dasharray="4 3"/>`);
  parts.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="#888"/><line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="#888"/>`,
  );
  for (let e = lx; e <= hx; e++) parts.push(`<text x="${x(10 ** e)}" y="${height - bottom + 16}" text-anchor="middle" class="tick">1e${e}</text>`);
  for (const t of [ly, (ly + hy) / 2, hy]) parts.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" class="tick">${t.toFixed(0)}%</text>`);
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 10}" text-anchor="middle" class="tick">${byScores ? 'scores change' : 'output change'} (relative L2, log scale)</text>`,
  );
  parts.push(
    `<text x="14" y="${(top + height - bottom) / 2}" transform="rotate(-90 14 ${(top + height - bottom) / 2})" text-anchor="middle" class="tick">latency overhead</text>`,
  );
  rows.forEach((r) => {
    const c = COLORS[r.module] ?? '#555';
    const o = r.latencyMs.overhead;
    const cx = x(change(r)).toFixed(1);
    parts.push(
      `<line x1="${cx}" x2="${cx}" y1="${y(clip(o.loPct)).toFixed(1)}" y2="${y(clip(o.hiPct)).toFixed(1)}" stroke="${c}" stroke-width="1.5" stroke-opacity="0.7" data-interval="${o.loPct}..${o.hiPct}"/>`,
    );
    const fill = o.withinNoise ? `fill="#fff" stroke="${c}" stroke-width="2"` : `fill="${c}" fill-opacity="0.8"`;
    parts.push(
      `<circle cx="${cx}" cy="${y(r.overheadPct).toFixed(1)}" r="5" ${fill}><title>${esc(`${r.module} at ${r.point}: overhead ${overheadText(o)}, ${byScores ? 'scores' : 'output'} rel L2 ${change(r).toExponential(2)}`)}</title></circle>`,
    );
  });
  const modules = [...new Set(rows.map((r) => r.module))];
  modules.forEach((m, i) => {
    parts.push(
      `<circle cx="${width - right + 20}" cy="${top + 10 + i * 18}" r="5" fill="${COLORS[m] ?? '#555'}"/><text x="${width - right + 30}" y="${top + 14 + i * 18}" class="label">${esc(m)}</text>`,
    );
  });
  const keyY = top + 24 + modules.length * 18;
  parts.push(
    `<text x="${width - right + 14}" y="${keyY}" class="tick">bar: 95% interval</text><text x="${width - right + 14}" y="${keyY + 14}" class="tick">hollow: within noise</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="overhead against output change" data-chart="tradeoff" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

export function sweepHtml(r: SweepResult): string {
  const head = `<tr>${HEADER.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = r.rows
    .map(
      (x) =>
        `<tr${x.latencyMs.overhead.withinNoise ? ' data-noise="within"' : ''}>${cells(x)
          .map((c, i) => `<td${NUMERIC(i) ? ' class="num"' : ''}>${esc(c)}</td>`)
          .join('')}</tr>`,
    )
    .join('');
  const skipped =
    r.skipped.length > 0
      ? `<h2>Skipped</h2><ul class="problems">${r.skipped.map((s) => `<li>${esc(`${s.module} at ${s.point}: ${s.reason}`)}</li>`).join('')}</ul>`
      : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>onnx-attn sweep</title><style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0;font-size:13px} th,td{border:1px solid #ddd;padding:4px 7px;text-align:left}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} .meta{color:#555;margin:2px 0}
.scroll{overflow-x:auto} tr[data-noise] td:nth-child(9){color:#777}
svg{max-width:100%;height:auto} svg .label{font-size:13px;fill:#222} svg .tick{font-size:11px;fill:#555} ul.problems li{color:#a33}
</style></head>
<body><h1>onnx-attn sweep</h1>
<p class="meta">${esc(r.model)} (${esc(r.family)}) · provider ${esc(r.ep.used.join(', '))}${r.ep.fallbackReason ? ` (fallback: ${esc(r.ep.fallbackReason)})` : ''} · ranked by ${esc(r.rankBy)} · ${esc(r.tool)}</p>
<p class="meta">each candidate timed alternately with the original (whose p50 drifted ${pct(r.baseline.driftPct)} over the sweep); ${esc(timingLine(r))}</p>
<h2>Ranking</h2>
<div class="scroll"><table data-table="ranking">${head}${body}</table></div>
${sweepAccuracyHtml(r)}
<h2>Overhead against output change</h2>
${tradeoffChart(r.rows)}
${skipped}
</body></html>
`;
}
