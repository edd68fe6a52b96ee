/**
 * Accuracy as the CLI prints it (text), and the pieces every report format shares: the mAP numbers' wording, the
 * gates, the sweep's table rows. Kept apart from the HTML charts so printing a result never loads d3.
 */
import type { AccuracyReport } from '../accuracy/evaluate.js';

/** An mAP fraction (4 decimals, one more than ultralytics prints); '-' when absent. */
export const mapText = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(4));
/** A signed difference b − a in mAP units. */
export const deltaText = (a: number | null, b: number | null) => (a === null || b === null ? '-' : `${b - a >= 0 ? '+' : ''}${(b - a).toFixed(4)}`);

export interface ValidateGate {
  minMap: number;
  map5095: number | null;
  pass: boolean;
}
export interface CompareGate {
  maxMapDrop: number;
  mapDrop: number | null;
  pass: boolean;
}

/** `circle (0)`, or `0` when the class has no name but its number. */
export const className = (c: { name: string; class: number }) => (c.name === String(c.class) ? c.name : `${c.name} (${c.class})`);

export const summary = (r: AccuracyReport) =>
  `${r.images} image(s), ${r.instances} box(es), ${r.format} decoded at conf ${r.conf}, NMS IoU ${r.iou}${r.multiLabel === false ? ', best class only' : ''}, classes mapped by ${r.classMap}`;

// ---------------------------------------------------------------------------------------------------------------
// Text (the CLI's own output)

export function accuracyText(r: AccuracyReport, gate: ValidateGate | null): string[] {
  const lines = [
    `accuracy on ${r.dataset} (${summary(r)}): mAP@0.5 ${mapText(r.map50)}, mAP@0.5:0.95 ${mapText(r.map5095)}, P ${r.precision.toFixed(3)}, R ${r.recall.toFixed(3)}`,
  ];
  if (gate) lines.push(`--min-map ${gate.minMap}: ${gate.pass ? 'pass' : 'FAIL'}`);
  return lines;
}

export function compareAccuracyText(a: AccuracyReport, b: AccuracyReport, mapDrop: number | null, gate: CompareGate | null): string[] {
  const lines = [
    `accuracy on ${a.dataset} (${summary(a)}):`,
    `  mAP@0.5       a ${mapText(a.map50)}  b ${mapText(b.map50)}  (${deltaText(a.map50, b.map50)})`,
    `  mAP@0.5:0.95  a ${mapText(a.map5095)}  b ${mapText(b.map5095)}  (${deltaText(a.map5095, b.map5095)})`,
    `  mAP drop ${mapDrop === null ? '-' : mapDrop.toFixed(4)}${gate ? `; --max-map-drop ${gate.maxMapDrop}: ${gate.pass ? 'pass' : 'FAIL'}` : ''}`,
  ];
  return lines;
}

export interface SweepLike {
  accuracy?: AccuracyReport | null;
  rows: { rank: number; module: string; variant: string; point: string; accuracy?: AccuracyReport | null; mapDrop?: number | null }[];
}

export function sweepAccuracyRows(r: SweepLike): string[][] {
  const base = r.accuracy!;
  return [
    ['', 'original', '', mapText(base.map50), mapText(base.map5095), ''],
    ...r.rows.map((x) => [
      String(x.rank),
      `${x.module}(${x.variant})`,
      x.point,
      mapText(x.accuracy?.map50),
      mapText(x.accuracy?.map5095),
      x.mapDrop === null || x.mapDrop === undefined ? '-' : x.mapDrop.toFixed(4),
    ]),
  ];
}
export const SWEEP_HEADER = ['#', 'module', 'point', 'mAP@0.5', 'mAP@0.5:0.95', 'mAP drop'];

export function sweepAccuracyText(r: SweepLike): string[] {
  if (!r.accuracy) return [];
  const rows = [SWEEP_HEADER, ...sweepAccuracyRows(r)];
  const widths = SWEEP_HEADER.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return [
    '',
    `accuracy on ${r.accuracy.dataset} (${summary(r.accuracy)}):`,
    ...rows.map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
  ];
}
