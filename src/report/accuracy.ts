/**
 * Accuracy on labelled images in every report: the mAP table (before/after for compare), per-class APs and their
 * deltas, the precision-recall curves (HTML, inline SVG), and one JUnit testcase per gate. Scales, ticks and the
 * curve's path come from d3-scale and d3-shape, rendered to static SVG strings when the report is written.
 */
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import type { AccuracyReport } from '../accuracy/evaluate.js';
import type { JUnitCase } from './format.js';
import { esc } from './svg.js';
import {
  className,
  deltaText,
  mapText,
  summary,
  SWEEP_HEADER,
  sweepAccuracyRows,
  type CompareGate,
  type SweepLike,
  type ValidateGate,
} from './accuracy-text.js';

export { accuracyText, compareAccuracyText, mapText, sweepAccuracyText, type CompareGate, type ValidateGate } from './accuracy-text.js';

// ---------------------------------------------------------------------------------------------------------------
// Markdown

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const mdRow = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
const mdTable = (header: string[], rows: string[][]) => [mdRow(header), mdRow(header.map(() => '---')), ...rows.map(mdRow)].join('\n');

export function accuracyMarkdown(r: AccuracyReport, gate: ValidateGate | null): string[] {
  return [
    '',
    '### Accuracy',
    '',
    `${r.dataset}: ${summary(r)}`,
    '',
    mdTable(
      ['mAP@0.5', 'mAP@0.5:0.95', 'precision', 'recall', 'AR@100'],
      [[mapText(r.map50), mapText(r.map5095), r.precision.toFixed(4), r.recall.toFixed(4), mapText(r.ar100)]],
    ),
    '',
    mdTable(
      ['class', 'boxes', 'AP@0.5', 'AP@0.5:0.95'],
      r.perClass.map((c) => [className(c), String(c.instances), mapText(c.ap50), mapText(c.ap5095)]),
    ),
    ...(gate ? ['', `${gate.pass ? '✅' : '❌'} --min-map ${gate.minMap}: mAP@0.5:0.95 ${mapText(gate.map5095)}`] : []),
  ];
}

export function compareAccuracyMarkdown(a: AccuracyReport, b: AccuracyReport, mapDrop: number | null, gate: CompareGate | null): string[] {
  return [
    '',
    '### Accuracy',
    '',
    `${a.dataset}: ${summary(a)}`,
    '',
    mdTable(
      ['', 'mAP@0.5', 'mAP@0.5:0.95', 'precision', 'recall'],
      [
        ['a (before)', mapText(a.map50), mapText(a.map5095), a.precision.toFixed(4), a.recall.toFixed(4)],
        ['b (after)', mapText(b.map50), mapText(b.map5095), b.precision.toFixed(4), b.recall.toFixed(4)],
        ['b − a', deltaText(a.map50, b.map50), deltaText(a.map5095, b.map5095), deltaText(a.precision, b.precision), deltaText(a.recall, b.recall)],
      ],
    ),
    '',
    mdTable(['class', 'boxes', 'AP@0.5 a', 'AP@0.5 b', 'Δ', 'AP@0.5:0.95 a', 'AP@0.5:0.95 b', 'Δ'], perClassRows(a, b)),
    ...(gate
      ? ['', `${gate.pass ? '✅' : '❌'} --max-map-drop ${gate.maxMapDrop}: mAP@0.5:0.95 dropped by ${mapDrop === null ? '-' : mapDrop.toFixed(4)}`]
      : []),
  ];
}

function perClassRows(a: AccuracyReport, b: AccuracyReport): string[][] {
  return a.perClass.map((ca) => {
    const cb = b.perClass.find((c) => c.class === ca.class);
    return [
      className(ca),
      String(ca.instances),
      mapText(ca.ap50),
      mapText(cb?.ap50),
      deltaText(ca.ap50, cb?.ap50 ?? null),
      mapText(ca.ap5095),
      mapText(cb?.ap5095),
      deltaText(ca.ap5095, cb?.ap5095 ?? null),
    ];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// HTML

const COLORS = ['#3b6ea8', '#d0743c', '#4f9a5c', '#9b5fb4'];

/**
 * Precision against recall at IoU 0.5 (COCO's 101-point interpolated curve, the mean over classes), one line per
 * model, on [0, 1] × [0, 1].
 */
export function prChart(series: { label: string; pr50: readonly number[]; map50: number | null }[]): string {
  const width = 460;
  const height = 330;
  const margin = { top: 16, right: 20, bottom: 44, left: 56 };
  const x = scaleLinear()
    .domain([0, 1])
    .range([margin.left, width - margin.right]);
  const y = scaleLinear()
    .domain([0, 1])
    .range([height - margin.bottom, margin.top]);
  const fmt = x.tickFormat(5);
  const parts: string[] = [];
  for (const t of x.ticks(5)) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x(t)}" y="${height - margin.bottom + 16}" text-anchor="middle" class="tick">${fmt(t)}</text>`);
  }
  for (const t of y.ticks(5)) {
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${y(t) + 4}" text-anchor="end" class="tick">${fmt(t)}</text>`);
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${width - margin.left - margin.right}" height="${height - margin.top - margin.bottom}" fill="none" stroke="#888"/>`,
  );
  parts.push(`<text x="${(margin.left + width - margin.right) / 2}" y="${height - 8}" text-anchor="middle" class="label">recall</text>`);
  parts.push(
    `<text x="14" y="${(margin.top + height - margin.bottom) / 2}" text-anchor="middle" class="label" transform="rotate(-90 14 ${(margin.top + height - margin.bottom) / 2})">precision (IoU 0.5)</text>`,
  );
  const path = line<number>()
    .x((_, i) => x(i / 100))
    .y((p) => y(p));
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    // Later series dashed, so two identical curves (a gate-zero patch) still show both.
    const dash = i > 0 ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<path d="${path([...s.pr50])}" fill="none" stroke="${c}" stroke-width="2"${dash} data-series="${esc(s.label)}"><title>${esc(s.label)}: mAP@0.5 ${mapText(s.map50)}</title></path>`,
    );
    // The legend sits bottom left, where a precision-recall curve rarely goes.
    const ly = height - margin.bottom - 12 - (series.length - 1 - i) * 18;
    parts.push(`<line x1="${margin.left + 10}" x2="${margin.left + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${c}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${margin.left + 40}" y="${ly}" class="tick">${esc(s.label)}: mAP@0.5 ${mapText(s.map50)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="precision-recall curves" data-chart="pr" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

type HtmlTable = (header: string[], rows: string[][], numeric?: number[]) => string;

const gateSpan = (pass: boolean) => (pass ? '<span class="ok">pass</span>' : '<span class="bad">fail</span>');

export function accuracyHtml(r: AccuracyReport, gate: ValidateGate | null, table: HtmlTable): string[] {
  return [
    '<h2>Accuracy</h2>',
    `<p class="meta" data-map5095="${r.map5095 ?? ''}"><code>${esc(r.dataset)}</code>: ${esc(summary(r))}</p>`,
    table(
      ['mAP@0.5', 'mAP@0.5:0.95', 'precision', 'recall', 'AR@100'],
      [[mapText(r.map50), mapText(r.map5095), r.precision.toFixed(4), r.recall.toFixed(4), mapText(r.ar100)]],
      [0, 1, 2, 3, 4],
    ),
    ...(gate ? [`<p class="meta" data-gate="min-map">--min-map ${gate.minMap}: ${gateSpan(gate.pass)}</p>`] : []),
    table(
      ['class', 'boxes', 'AP@0.5', 'AP@0.5:0.95'],
      r.perClass.map((c) => [esc(className(c)), String(c.instances), mapText(c.ap50), mapText(c.ap5095)]),
      [1, 2, 3],
    ),
    prChart([{ label: 'model', pr50: r.pr50, map50: r.map50 }]),
  ];
}

export function compareAccuracyHtml(a: AccuracyReport, b: AccuracyReport, mapDrop: number | null, gate: CompareGate | null, table: HtmlTable): string[] {
  return [
    '<h2>Accuracy</h2>',
    `<p class="meta" data-map-drop="${mapDrop ?? ''}"><code>${esc(a.dataset)}</code>: ${esc(summary(a))}</p>`,
    table(
      ['', 'mAP@0.5', 'mAP@0.5:0.95', 'precision', 'recall'],
      [
        ['a (before)', mapText(a.map50), mapText(a.map5095), a.precision.toFixed(4), a.recall.toFixed(4)],
        ['b (after)', mapText(b.map50), mapText(b.map5095), b.precision.toFixed(4), b.recall.toFixed(4)],
        ['b − a', deltaText(a.map50, b.map50), deltaText(a.map5095, b.map5095), deltaText(a.precision, b.precision), deltaText(a.recall, b.recall)],
      ],
      [1, 2, 3, 4],
    ),
    ...(gate
      ? [
          `<p class="meta" data-gate="max-map-drop">--max-map-drop ${gate.maxMapDrop}: mAP@0.5:0.95 dropped by ${mapDrop === null ? '-' : mapDrop.toFixed(4)}: ${gateSpan(gate.pass)}</p>`,
        ]
      : []),
    table(
      ['class', 'boxes', 'AP@0.5 a', 'AP@0.5 b', 'Δ', 'AP@0.5:0.95 a', 'AP@0.5:0.95 b', 'Δ'],
      perClassRows(a, b).map((r) => r.map((c) => esc(c))),
      [1, 2, 3, 4, 5, 6, 7],
    ),
    prChart([
      { label: 'a (before)', pr50: a.pr50, map50: a.map50 },
      { label: 'b (after)', pr50: b.pr50, map50: b.map50 },
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// JUnit: one testcase per gate; without a gate, the accuracy is recorded as a passing case.

export function accuracyCases(r: AccuracyReport, gate: ValidateGate | null, classname: string): JUnitCase[] {
  const output = `${r.dataset}: mAP@0.5 ${mapText(r.map50)}, mAP@0.5:0.95 ${mapText(r.map5095)}, P ${r.precision.toFixed(4)}, R ${r.recall.toFixed(4)} (${summary(r)})`;
  if (!gate) return [{ name: 'accuracy on the dataset', classname, failure: null, output }];
  return [
    {
      name: `mAP@0.5:0.95 at least ${gate.minMap}`,
      classname,
      failure: gate.pass ? null : `mAP@0.5:0.95 ${mapText(gate.map5095)} is below ${gate.minMap}`,
      output,
    },
  ];
}

export function compareAccuracyCases(a: AccuracyReport, b: AccuracyReport, mapDrop: number | null, gate: CompareGate | null, classname: string): JUnitCase[] {
  const output = `${a.dataset}: mAP@0.5:0.95 a ${mapText(a.map5095)} b ${mapText(b.map5095)}, mAP@0.5 a ${mapText(a.map50)} b ${mapText(b.map50)}; drop ${mapDrop === null ? '-' : mapDrop.toFixed(4)}`;
  if (!gate) return [{ name: 'accuracy on the dataset', classname, failure: null, output }];
  return [
    {
      name: `mAP@0.5:0.95 drops by at most ${gate.maxMapDrop}`,
      classname,
      failure: gate.pass ? null : `mAP@0.5:0.95 dropped by ${mapDrop === null ? '(not measurable)' : mapDrop.toFixed(4)}, more than ${gate.maxMapDrop}`,
      output,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Sweep: the original's mAP and each candidate's, in rank order (rows measured once show their twin's).

export function sweepAccuracyMarkdown(r: SweepLike): string[] {
  if (!r.accuracy) return [];
  return ['', '### Accuracy', '', `${r.accuracy.dataset}: ${summary(r.accuracy)}`, '', mdTable(SWEEP_HEADER, sweepAccuracyRows(r))];
}

export function sweepAccuracyHtml(r: SweepLike): string {
  if (!r.accuracy) return '';
  const head = `<tr>${SWEEP_HEADER.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = sweepAccuracyRows(r)
    .map((row) => `<tr>${row.map((c, i) => `<td${i >= 3 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`)
    .join('');
  return `<h2>Accuracy</h2><p class="meta"><code>${esc(r.accuracy.dataset)}</code>: ${esc(summary(r.accuracy))}</p><table data-table="accuracy">${head}${body}</table>`;
}
