/**
 * What a sweep gives back: its rows (one candidate each), the candidates it skipped, and the rankings that order the
 * rows (`--rank-by`). Apart from the sweep itself so the reports and the CLI read them without the runs.
 */
import type { DetectionAgreement } from '../runtime/detection-agreement.js';
import type { Overhead } from '../runtime/paired.js';
import type { PartMetrics } from '../runtime/parts.js';
import type { EpReport } from '../runtime/shared.js';
import type { AccuracyReport } from '../accuracy/evaluate.js';

export const RANK_KEYS = ['score-change', 'overhead', 'params', 'macs', 'change', 'cosine', 'detections', 'map-drop'] as const;
export type RankKey = (typeof RANK_KEYS)[number];

export interface SweepRow {
  rank: number;
  module: string;
  variant: string;
  /** The point as given (one SPEC, or the joined list with `combine`). */
  point: string;
  tensors: string[];
  params: number;
  macs: number | null;
  /** `overhead`: median of the paired differences with its 95% interval (runtime/paired.ts). */
  latencyMs: { p50: number; mean: number; overhead: Overhead };
  /** p50 of the original, timed alternately with this candidate. */
  baselineMs: number;
  /** The paired median overhead (`latencyMs.overhead.median`, `.medianPct`). */
  overheadMs: number;
  overheadPct: number;
  /** Worst over the float outputs: the lowest cosine, the highest relative L2. */
  cosine: number;
  relL2: number;
  /** Relative L2 of the scores part (the worst over outputs) of a known detector family; null otherwise. */
  scoreChange: number | null;
  outputs: { name: string; cosine: number; relL2: number; maxAbs: number; parts: PartMetrics[] }[];
  detections: DetectionAgreement | null;
  /** Every inserted node ran on the requested provider (onnxruntime profile), null when unknown. */
  onRequestedEp: boolean | null;
  offEp: string[];
  /** Another row with the very same patched model: measured once, reported for both. */
  sameAs: string | null;
  /** Accuracy on `dataset` and how much mAP@0.5:0.95 the candidate lost against the original; null without one. */
  accuracy: AccuracyReport | null;
  mapDrop: number | null;
}

export interface SweepSkip {
  module: string;
  point: string;
  reason: string;
}

export interface SweepResult {
  schema: 'onnx-attn/sweep@1';
  tool: string;
  model: string;
  family: string;
  ep: EpReport;
  rankBy: RankKey;
  iters: number;
  /** `--precision` (%) and `--budget` (s, the whole sweep's), null when not given. */
  timing: { precisionPct: number | null; budgetS: number | null };
  baseline: { p50s: number[]; driftPct: number };
  rows: SweepRow[];
  skipped: SweepSkip[];
  /** The original's accuracy on `dataset`; null without one (absent in results made before it existed). */
  accuracy?: AccuracyReport | null;
}

/** The overhead a ranking may use: 0 when its interval holds 0, so latency noise never orders candidates. */
const rankedOverhead = (r: SweepRow) => (r.latencyMs.overhead?.withinNoise ? 0 : r.overheadPct);

/**
 * The rankings, best first: one named comparator each (`--rank-by NAME`). score-change falls back to the
 * whole-output relative L2 for models without a scores part (unknown families).
 */
export const better: Record<RankKey, (a: SweepRow, b: SweepRow) => number> = {
  'score-change': (a, b) => (a.scoreChange ?? a.relL2) - (b.scoreChange ?? b.relL2),
  overhead: (a, b) => rankedOverhead(a) - rankedOverhead(b),
  params: (a, b) => a.params - b.params,
  macs: (a, b) => (a.macs ?? Infinity) - (b.macs ?? Infinity),
  change: (a, b) => a.relL2 - b.relL2,
  cosine: (a, b) => b.cosine - a.cosine,
  detections: (a, b) => (b.detections?.matchedPct ?? -1) - (a.detections?.matchedPct ?? -1),
  'map-drop': (a, b) => (a.mapDrop ?? Infinity) - (b.mapDrop ?? Infinity),
};

export function rankRows(rows: SweepRow[], by: RankKey): SweepRow[] {
  const sorted = [...rows].sort(
    (a, b) =>
      better[by](a, b) || rankedOverhead(a) - rankedOverhead(b) || a.params - b.params || a.module.localeCompare(b.module) || a.point.localeCompare(b.point),
  );
  return sorted.map((r, i) => ({ ...r, rank: i + 1 }));
}
