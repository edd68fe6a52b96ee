import { scaleLinear, scaleLog } from 'd3-scale';
import type { InsertedModule } from '../graph/inserted.js';

/**
 * Inline SVG charts for the HTML report: plain strings, no script, so the page renders anywhere offline. Scales and
 * ticks are d3-scale's, evaluated when the report is written.
 */

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const COLORS = ['#3b6ea8', '#d0743c', '#4f9a5c', '#9b5fb4'];

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const i = Math.floor(pos);
  return sorted[i]! + (sorted[Math.min(i + 1, sorted.length - 1)]! - sorted[i]!) * (pos - i);
}

/** Latency distributions: one row per series, a box (p25–p75, p50 line, whiskers p0–p99) over every sample. */
export function latencyChart(series: { label: string; samples: number[] }[]): string {
  const width = 720;
  const left = 150;
  const right = 30;
  const rowH = 54;
  const top = 16;
  // The axis, its tick labels and the unit below them; the unit's descenders ("p") need the last few pixels.
  const height = top + rowH * series.length + 48;
  const all = series.flatMap((s) => s.samples);
  const lo = Math.min(...all) * 0.95;
  const hi = Math.max(...all) * 1.05;
  // Equal samples of 0 ms would give an empty domain; d3 then maps everything to the left edge.
  const scale = scaleLinear()
    .domain([lo, hi > lo ? hi : lo + 1])
    .range([left, width - right]);
  const x = (v: number) => scale(v);
  const parts: string[] = [];
  series.forEach((s, i) => {
    const sorted = [...s.samples].sort((a, b) => a - b);
    const y = top + i * rowH + rowH / 2;
    const c = COLORS[i % COLORS.length]!;
    const [p25, p50, p75, p99] = [0.25, 0.5, 0.75, 0.99].map((q) => quantile(sorted, q)) as [number, number, number, number];
    parts.push(`<text x="${left - 10}" y="${y + 4}" text-anchor="end" class="label">${esc(s.label)}</text>`);
    parts.push(`<line x1="${x(sorted[0]!)}" x2="${x(p99)}" y1="${y}" y2="${y}" stroke="${c}" stroke-width="1.5"/>`);
    parts.push(`<rect x="${x(p25)}" y="${y - 14}" width="${Math.max(1, x(p75) - x(p25))}" height="28" fill="${c}" fill-opacity="0.25" stroke="${c}"/>`);
    parts.push(
      `<line x1="${x(p50)}" x2="${x(p50)}" y1="${y - 14}" y2="${y + 14}" stroke="${c}" stroke-width="3"><title>p50 ${p50.toFixed(3)} ms</title></line>`,
    );
    s.samples.forEach((v, j) =>
      parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${(y + 20 + ((j * 7) % 9) - 4).toFixed(1)}" r="1.8" fill="${c}" fill-opacity="0.6"/>`),
    );
  });
  const axisY = top + rowH * series.length + 8;
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${axisY}" y2="${axisY}" stroke="#888"/>`);
  const tickText = scale.tickFormat(5);
  for (const t of scale.ticks(5))
    parts.push(
      `<line x1="${x(t)}" x2="${x(t)}" y1="${axisY}" y2="${axisY + 5}" stroke="#888"/><text x="${x(t)}" y="${axisY + 18}" text-anchor="middle" class="tick">${tickText(t)}</text>`,
    );
  parts.push(`<text x="${width - right}" y="${axisY + 32}" text-anchor="end" class="tick">ms per run</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="latency distribution" data-chart="latency" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** Per-output error on a log scale: max abs and rel L2 bars, the tolerance's atol as a tick. */
export function errorChart(outputs: { name: string; maxAbs: number; relL2: number; atol: number }[]): string {
  const width = 720;
  const left = 150;
  const right = 30;
  const rowH = 44;
  const top = 24;
  const height = top + rowH * outputs.length + 40;
  const values = outputs.flatMap((o) => [o.maxAbs, o.relL2, o.atol]).filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.floor(Math.log10(Math.min(1e-8, ...values)));
  const hi = Math.ceil(Math.log10(Math.max(1, ...values)));
  // Values below the axis (and exact zeros, drawn as text) sit at its left end.
  const scale = scaleLog()
    .domain([10 ** lo, 10 ** hi])
    .range([left, width - right])
    .clamp(true);
  const x = (v: number) => scale(Math.max(v, 10 ** lo));
  const parts: string[] = [
    `<rect x="${left}" y="4" width="10" height="10" fill="${COLORS[0]}"/><text x="${left + 14}" y="13" class="tick">max abs</text>`,
    `<rect x="${left + 80}" y="4" width="10" height="10" fill="${COLORS[1]}"/><text x="${left + 94}" y="13" class="tick">rel L2</text>`,
    `<line x1="${left + 160}" x2="${left + 160}" y1="3" y2="15" stroke="#c33" stroke-width="2"/><text x="${left + 166}" y="13" class="tick">atol</text>`,
  ];
  outputs.forEach((o, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 10}" y="${y + 20}" text-anchor="end" class="label">${esc(o.name)}</text>`);
    const bar = (v: number, dy: number, c: string, what: string) =>
      v === 0
        ? `<text x="${left + 4}" y="${y + dy + 11}" class="tick">${what} 0 (identical)</text>`
        : !Number.isFinite(v)
          ? `<text x="${left + 4}" y="${y + dy + 11}" class="tick bad">${what} not measurable (${Number.isNaN(v) ? 'non-finite output or other shape' : 'infinite'})</text>`
          : `<rect x="${left}" y="${y + dy}" width="${Math.max(1, x(v) - left).toFixed(1)}" height="14" fill="${c}"><title>${what} ${v.toExponential(3)}</title></rect>`;
    parts.push(bar(o.maxAbs, 2, COLORS[0]!, 'max abs'), bar(o.relL2, 18, COLORS[1]!, 'rel L2'));
    if (o.atol > 0) parts.push(`<line x1="${x(o.atol)}" x2="${x(o.atol)}" y1="${y}" y2="${y + 34}" stroke="#c33" stroke-width="2"/>`);
  });
  const axisY = top + rowH * outputs.length + 4;
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${axisY}" y2="${axisY}" stroke="#888"/>`);
  // d3's log ticks, decades only, at most about 8 of them.
  const decades = scale.ticks().filter((t) => Number.isInteger(Math.round(Math.log10(t) * 1e9) / 1e9));
  const every = Math.max(1, Math.round((hi - lo) / 8));
  for (const e of decades.map((t) => Math.round(Math.log10(t))).filter((e) => (e - lo) % every === 0)) {
    parts.push(
      `<line x1="${x(10 ** e)}" x2="${x(10 ** e)}" y1="${axisY}" y2="${axisY + 5}" stroke="#888"/><text x="${x(10 ** e)}" y="${axisY + 18}" text-anchor="middle" class="tick">1e${e}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="error per output" data-chart="error" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** A labelled node box; the tooltip is the full title unless given. */
function box(x: number, y: number, w: number, h: number, title: string, sub: string, fill: string, tooltip = title): string {
  const short = title.length > 30 ? `…${title.slice(-29)}` : title;
  return `<g><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6" fill="${fill}" stroke="#555"/><text x="${x + w / 2}" y="${y + h / 2 - 2}" text-anchor="middle" class="node">${esc(short)}</text><text x="${x + w / 2}" y="${y + h / 2 + 13}" text-anchor="middle" class="tick">${esc(sub)}</text><title>${esc(tooltip)}</title></g>`;
}

function arrow(x1: number, y1: number, x2: number, y2: number, tensor: string): string {
  return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"><title>${esc(tensor)}</title></line>`;
}

/** One insertion site, before (producer → tensor → consumers) and after (producer → module → consumers). */
export function siteDiagram(m: InsertedModule): string {
  const width = 760;
  const consumers = m.consumers.length > 0 ? m.consumers : [{ name: m.isGraphOutput ? m.output : '(none)', opType: m.isGraphOutput ? 'graph output' : '' }];
  const rows = Math.max(consumers.length + m.untouched.length, 1);
  const panelH = Math.max(88, rows * 46 + 34);
  const height = panelH * 2 + 40;
  const producer = m.producer ?? { name: m.input, opType: 'graph input' };
  const ops = [...new Set(m.nodes.map((n) => n.opType))];
  const parts: string[] = [
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
  ];
  const panel = (top: number, after: boolean) => {
    parts.push(`<text x="8" y="${top + 14}" class="label">${after ? 'after' : 'before'}</text>`);
    parts.push(
      `<text x="60" y="${top + 14}" class="tick">${esc(after ? `${m.module} reads ${m.input}, its output ${m.output} feeds the rewired consumers` : `${m.input} feeds ${consumers.length + m.untouched.length} consumer(s)`)}</text>`,
    );
    // Below the caption line.
    const mid = top + 20 + (panelH - 20) / 2;
    parts.push(box(60, mid - 20, 170, 40, producer.name, producer.opType, '#eef2f7'));
    let from = 230;
    if (after) {
      parts.push(arrow(230, mid, 300, mid, m.input));
      parts.push(box(300, mid - 26, 170, 52, `${m.module} (k=${m.k})`, `${m.nodes.length} ops`, '#fde7c8', ops.join(', ')));
      from = 470;
    }
    const targets = after ? consumers : [...consumers, ...m.untouched];
    const all = after ? [...targets.map((c) => ({ c, from })), ...m.untouched.map((c) => ({ c, from: 230 }))] : targets.map((c) => ({ c, from }));
    all.forEach(({ c, from: fx }, i) => {
      const y = mid + (i - (all.length - 1) / 2) * 46;
      parts.push(arrow(fx, mid, 560, y, after && fx === 470 ? m.output : m.input));
      parts.push(box(560, y - 18, 180, 36, c.name, c.opType, after && fx === 230 ? '#f2f2f2' : '#eef2f7'));
    });
  };
  panel(0, false);
  parts.push(`<line x1="0" x2="${width}" y1="${panelH + 20}" y2="${panelH + 20}" stroke="#ddd"/>`);
  panel(panelH + 30, true);
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="insertion ${m.k} before and after" data-chart="site" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${parts.join('')}</svg>`;
}
