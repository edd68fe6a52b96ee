/** Number formatting shared by the Markdown, HTML and JUnit reports. */

export function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined) return '-';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits + 1)).toString();
}

export function ms(x: number): string {
  return `${x.toFixed(x < 10 ? 3 : 1)} ms`;
}

export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? '-' : `${x.toFixed(digits)}%`;
}

export const shape = (dims: readonly number[]) => `[${dims.join(', ')}]`;
