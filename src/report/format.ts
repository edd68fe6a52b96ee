import type { DetectionAgreement } from '../runtime/detection-agreement.js';
import type { Overhead } from '../runtime/paired.js';
/** Number formatting shared by the Markdown, HTML and JUnit reports, and the JUnit case types every renderer fills. */

/** One JUnit testcase (rendered by junit.ts; made by the renderers of each result). */
export interface JUnitCase {
  name: string;
  classname: string;
  timeSec?: number;
  failure?: string | null;
  /** Not run (a sweep candidate that cannot be built there): JUnit's <skipped>, neither pass nor failure. */
  skipped?: string;
  output?: string;
}

export interface JUnitSuite {
  name: string;
  cases: JUnitCase[];
  timeSec?: number;
}

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

const sign = (x: number, digits: number) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

/** `-0.5..+3.1%`: the 95% interval in % of the baseline. */
export function overheadInterval(o: Overhead): string {
  return `${sign(o.loPct, 1)}..${sign(o.hiPct, 1)}%`;
}

/**
 * `+0.159 ms (+24.8%, 95% interval +22.1..+27.0%)`, or `within noise (+0.020 ms, +1.4%, 95% interval -0.5..+3.1%)`
 * when the interval holds 0; with too few pairs for a 95% interval, says so.
 */
export function overheadText(o: Overhead): string {
  const few = o.level < 0.95 ? `; ${o.pairs} pairs, too few for a 95% interval` : '';
  const body = `${sign(o.median, 3)} ms, ${sign(o.medianPct, 1)}%, ${few ? `range ${overheadInterval(o)}` : `95% interval ${overheadInterval(o)}`}${few}`;
  return o.withinNoise ? `within noise (${body})` : body.replace(/^(\S+ ms), /, '$1 (') + ')';
}

/** How the timing ended: `median of 20 paired runs`, plus the precision target and whether it was reached. */
export function timingText(o: Overhead): string {
  const base = `median of ${o.pairs} paired runs`;
  if (o.precisionPct !== null) return `${base}; precision ±${o.precisionPct}% ${o.precisionReached ? 'reached' : `not reached (stopped by ${o.stoppedBy})`}`;
  return o.stoppedBy === 'budget' ? `${base}, stopped by the time budget` : base;
}

/** A part's name beside its output's: `output0 · scores`. */
export const partLabel = (output: string, part: string) => `${output} · ${part}`;

/** The detection-level agreement of a compare as a table row, the same in every report. */
export const DETECTION_AGREEMENT_HEADER = ['format', 'images', 'boxes a', 'boxes b', 'matched', 'class agreement', 'mean IoU', 'missing', 'extra'];

export function detectionAgreementRow(d: DetectionAgreement): string[] {
  return [
    d.format,
    String(d.images),
    String(d.refCount),
    String(d.otherCount),
    pct(d.matchedPct),
    d.classAgreement === null ? '-' : pct(100 * d.classAgreement),
    num(d.meanIoU),
    String(d.missing),
    String(d.extra),
  ];
}
