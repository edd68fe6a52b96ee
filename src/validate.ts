import { UsageError } from './errors.js';
import type { InsertedModule } from './graph/inserted.js';
import { decodeRuns, detectFormat, type Format } from './runtime/detections.js';
import { latencyStats, type LatencyStats } from './runtime/metrics.js';
import type { Placement } from './runtime/placement.js';
import { runModel, type ModelRun } from './runtime/run.js';
import type { OutputTensor } from './runtime/session.js';
import { VERSION } from './version.js';
import { checkAccuracyOptions, scoreOnDataset, type AccuracyOptions, type AccuracyReport } from './accuracy/evaluate.js';
import { loadDataset } from './accuracy/dataset.js';
import { loadInputs, prepareModel } from './prepare.js';
import {
  checkDetectionOptions,
  checkMapThreshold,
  checkRuntime,
  chooseEp,
  placementCheck,
  runtimeEpReport,
  sourceName,
  type EpReport,
  type ModelSource,
  type PlacementCheck,
  type RuntimeOptions,
} from './runtime/shared.js';

/** validate's own options: the runtime options, and how to decode detections. */
export interface ValidateOptions extends RuntimeOptions, AccuracyOptions {
  /** With `dataset`: fail (exit 1) when mAP@0.5:0.95 is below this fraction. */
  minMap?: number;
  /** `auto` (default) decodes detections when the outputs look like a detector's; `off` skips it. */
  detections?: 'auto' | 'off';
  /** Detection score threshold (default 0.25, ultralytics' predict `conf`). */
  conf?: number;
  /** NMS IoU threshold (default 0.45). */
  iou?: number;
}

/** Boxes the model found, per input set (all images of a batch together), after the score threshold and NMS. */
export interface DetectionCounts {
  format: Format;
  conf: number;
  iou: number;
  /** Images decoded over all input sets (input sets × batch). */
  images: number;
  perInput: number[];
}

export interface OutputReport {
  name: string;
  dtype: string;
  shape: number[];
  finite: boolean;
  nonFinite: number;
  min: number | null;
  max: number | null;
}

export interface ValidateResult {
  schema: 'onnx-attn/validate@1';
  tool: string;
  pass: boolean;
  model: string;
  family: string;
  inputs: { source: string; sets: number; tensors: { name: string; dtype: string; shape: number[] }[] };
  ep: EpReport;
  outputs: OutputReport[];
  latencyMs: LatencyStats;
  latencySamplesMs: number[];
  placement: Placement | null;
  placementCheck: PlacementCheck | null;
  /** Null with `detections: 'off'`, or when the outputs are not a known detector format. */
  detections: DetectionCounts | null;
  /** mAP and friends on the labelled images of `dataset`; null without one. */
  accuracy: AccuracyReport | null;
  /** The `minMap` gate; null without one. */
  mapGate: { minMap: number; map5095: number | null; pass: boolean } | null;
  insertions: Record<string, unknown>[];
  inserted: InsertedModule[];
  problems: string[];
}

/** Decodes every input set's outputs (each image of its batch) and counts the boxes. */
function countDetections(format: Format, runs: OutputTensor[][], conf: number, iou: number): DetectionCounts {
  const decoded = decodeRuns(format, runs, { scoreThreshold: conf, iouThreshold: iou });
  const perInput = decoded.map((images) => images.reduce((n, boxes) => n + boxes.length, 0));
  const images = decoded.reduce((n, set) => n + set.length, 0);
  return { format, conf, iou, images, perInput };
}

function outputReport(o: { name: string; type: string; dims: number[]; data: ArrayLike<number | bigint> }): OutputReport {
  let nonFinite = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < o.data.length; i++) {
    const v = Number(o.data[i]);
    if (!Number.isFinite(v)) nonFinite++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return {
    name: o.name,
    dtype: o.type,
    shape: o.dims,
    finite: nonFinite === 0,
    nonFinite,
    min: min === Infinity ? null : min,
    max: max === -Infinity ? null : max,
  };
}

/**
 * Runs one model on the requested providers: warm-up, timed iterations, finiteness and shape of every output,
 * and (with `profile` or `requireEp`) where each node ran.
 */
export async function validate(source: ModelSource, options: ValidateOptions = {}): Promise<ValidateResult> {
  const file = sourceName(source);
  if ('tolerance' in options) throw new UsageError('tolerance applies to compare (validate runs one model); use compare');
  checkDetectionOptions(options);
  checkAccuracyOptions(options);
  checkMapThreshold('minMap', options.minMap, options.dataset);
  // Read before any model runs: a wrong dataset fails in a moment, not after the timing.
  const runtime = options.runtime !== undefined ? checkRuntime(options.runtime, options) : undefined;
  const dataset = options.dataset !== undefined ? await loadDataset(options.dataset) : undefined;
  const prepared = await prepareModel(source, options.shapes);
  const choice = chooseEp(options);
  const sets = await loadInputs(prepared, options);
  const run: ModelRun = await runModel(prepared.bytes, choice, sets, { ...options, profile: options.profile || !!options.requireEp }, `model ${file}`);
  const outputs = run.outputs[0]!.map((o, i) => {
    const r = outputReport(o);
    // Finite over every input set, not just the first.
    for (const set of run.outputs.slice(1)) if (!outputReport(set[i]!).finite) r.finite = false;
    return r;
  });
  const check = placementCheck(run.placement, options.requireEp);
  const problems: string[] = [];
  for (const o of outputs) if (!o.finite) problems.push(`output '${o.name}' has ${o.nonFinite} non-finite value(s)`);
  if (check && !check.pass)
    problems.push(
      `${check.offProvider.length} node(s) ran off ${check.required}: ${check.offProvider
        .slice(0, 5)
        .map((n) => `${n.node} (${n.ep})`)
        .join(', ')}`,
    );
  if (choice.fallbackReason) problems.push(`fell back to CPU: ${choice.fallbackReason}`);
  let detections: DetectionCounts | null = null;
  if ((options.detections ?? 'auto') === 'auto') {
    const format = detectFormat(
      run.outputs[0]!.map((o) => ({ name: o.name, dims: o.dims })),
      prepared.family,
    );
    if (format) {
      try {
        detections = countDetections(format, run.outputs, options.conf ?? 0.25, options.iou ?? 0.45);
      } catch (e) {
        // As in compare: a note, not a failure (the outputs themselves were checked above).
        problems.push(`detections not decoded: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  let accuracy: AccuracyReport | null = null;
  let mapGate: ValidateResult['mapGate'] = null;
  if (options.dataset !== undefined) {
    const format = detectFormat(
      run.outputs[0]!.map((o) => ({ name: o.name, dims: o.dims })),
      prepared.family,
    );
    [accuracy] = (await scoreOnDataset(
      [{ bytes: prepared.bytes, choice, family: prepared.family, metadata: prepared.model.proto.metadataProps, format, label: `model ${file}` }],
      prepared.specs,
      options,
      options,
      dataset,
    )) as [AccuracyReport];
    if (options.minMap !== undefined) {
      const pass = accuracy.map5095 !== null && accuracy.map5095 >= options.minMap;
      mapGate = { minMap: options.minMap, map5095: accuracy.map5095, pass };
      if (!pass)
        problems.push(
          `mAP@0.5:0.95 ${accuracy.map5095 === null ? 'cannot be measured (no labelled boxes)' : accuracy.map5095.toFixed(4)} is below --min-map ${options.minMap}`,
        );
    }
  }
  return {
    schema: 'onnx-attn/validate@1',
    tool: `onnx-attn ${VERSION}`,
    pass: outputs.every((o) => o.finite) && (check?.pass ?? true) && (mapGate?.pass ?? true),
    model: file,
    family: prepared.family,
    inputs: { source: options.inputs ?? 'random', sets: sets.length, tensors: sets[0]!.map((t) => ({ name: t.name, dtype: t.type, shape: t.dims })) },
    ep: runtimeEpReport(choice, runtime),
    outputs,
    latencyMs: latencyStats(run.latenciesMs),
    latencySamplesMs: run.latenciesMs,
    placement: run.placement,
    placementCheck: check,
    detections,
    accuracy,
    mapGate,
    insertions: prepared.provenance,
    inserted: prepared.inserted,
    problems,
  };
}
