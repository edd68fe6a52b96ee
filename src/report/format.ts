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

/** validate's detection counts, as the Markdown, HTML and JUnit reports word them. */
export interface DetectionCountsLike {
  format: string;
  conf: number;
  iou: number;
  images: number;
  perInput: readonly number[];
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** "detections (yolov5, conf 0.25, iou 0.45): 16 boxes in 1 image", with "over N input sets" when several. */
export function detectionSummary(d: DetectionCountsLike): string {
  const total = d.perInput.reduce((n, c) => n + c, 0);
  const sets = d.perInput.length > 1 ? ` over ${d.perInput.length} input sets` : '';
  return `detections (${d.format}, conf ${d.conf}, iou ${d.iou}): ${plural(total, 'box', 'boxes')} in ${plural(d.images, 'image', 'images')}${sets}`;
}
