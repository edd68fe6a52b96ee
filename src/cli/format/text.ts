/** The pieces every command's text form is made of: aligned tables, shapes, counts and numbers. */
import type { Dim } from '../../graph/graph.js';
import { escapeControl } from '../escape.js';

export function shapeText(shape: Dim[] | null): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Left-aligned columns, two spaces apart; the last column is never padded. */
export function table(header: string[], rowsAsGiven: string[][]): string {
  // Escaped before measuring, so a name with control characters keeps its column aligned.
  const rows = rowsAsGiven.map((r) => r.map(escapeControl));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A parameter or MAC count: 3.2M, 41.5k; `dynamic` when it depends on the input size. */
export function countText(n: number | null): string {
  if (n === null) return 'dynamic';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** A statistic in four significant digits, or in exponent form when very small or large; `-` when there is none. */
export const statText = (x: number | null) =>
  x === null ? '-' : x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5 ? x.toExponential(2) : x.toPrecision(4);

/** The runtime and providers a model ran on, and why it fell back when it did. */
export const epLine = (e: { requested: string[]; used: string[]; fallbackReason: string | null; runtime?: string; opencv?: string | null }) =>
  `${e.runtime ? `${e.runtime === 'opencv' ? `OpenCV.js ${e.opencv ?? ''}`.trim() : e.runtime} ` : ''}${e.used.join(', ')}${e.fallbackReason ? ` (fallback from ${e.requested.join(', ')}: ${e.fallbackReason})` : ''}`;
