import { UsageError } from './errors.js';
import { listOf } from './options.js';
import { latencyStats, parseTolerance, type LatencyStats } from './runtime/metrics.js';
import { detectFormat } from './runtime/detections.js';
import { agreement, type DetectionAgreement } from './runtime/detection-agreement.js';
import { compareOutputs, outputMismatch, type OutputComparison } from './runtime/output-comparison.js';
import type { Placement } from './runtime/placement.js';
import { parseEp, type ProviderChoice } from './runtime/providers.js';
import { runPair, type ModelRun } from './runtime/run.js';
import { loadInputs, prepareModel, type PreparedModel } from './prepare.js';
import {
  checkDetectionOptions,
  chooseEp,
  placementCheck,
  sourceName,
  type ModelSource,
  type EpReport,
  type PlacementCheck,
  type RuntimeOptions,
} from './runtime/shared.js';
import type { InsertedModule } from './graph/inserted.js';
import { typeOf, type Dim } from './graph/graph.js';
import { VERSION } from './version.js';
import { checkAccuracyOptions, mapDrop as mapDropOf, scoreOnDataset, type AccuracyOptions, type AccuracyReport } from './accuracy/evaluate.js';
import { checkMapThreshold, checkRuntime, refuseOnnxruntimeOptions, runtimeEpReport } from './runtime/shared.js';
import { RUNTIMES, type RuntimeName } from './runtime/opencv.js';
import { loadDataset } from './accuracy/dataset.js';
import { withParts } from './runtime/parts.js';
import { pairedOverhead, timingTarget, type Overhead } from './runtime/paired.js';

// The per-output and detection-level comparisons live in runtime/ (sweep shares them); the public index names them here.
export type { DetectionAgreement, OutputComparison };

export interface CompareOptions extends RuntimeOptions, AccuracyOptions {
  /** With `dataset`: fail (exit 1) when b's mAP@0.5:0.95 is more than this fraction below a's (0.01: one point). */
  maxMapDrop?: number;
  /** `exact|fp32|tf32|fp16`, `atol=..,rtol=..`, or per output `NAME:spec` (repeatable). */
  tolerance?: string | readonly string[];
  /** `auto` (default) decodes detections when the outputs look like a detector's; `off` skips it. */
  detections?: 'auto' | 'off';
  /** One model on two providers, `cuda,cpu`: the second is the reference. */
  epPair?: string;
  /** `onnxruntime,opencv`: a on the first runtime (the reference), b (or a again, given one model) on the second. */
  runtimePair?: string;
  /** Detection score threshold (default 0.25, ultralytics' predict `conf`; its `val` uses 0.001). */
  conf?: number;
  /** NMS IoU threshold (default 0.45). */
  iou?: number;
  /** Time pairs on past `iters` until the overhead's 95% interval has this half-width, % of a's median (`2%`). */
  precision?: string | number;
  /** Stop timing after this long (`60s`, `2m`, or seconds); 60 s with `precision` unless given. */
  budget?: string | number;
}

export interface SideReport {
  path: string;
  ep: EpReport;
  family: string;
  inserted: InsertedModule[];
  placement: Placement | null;
  /** mAP and friends on the labelled images of `dataset`; null without one. */
  accuracy: AccuracyReport | null;
}

export interface CompareResult {
  schema: 'onnx-attn/compare@1';
  tool: string;
  pass: boolean;
  mode: 'models' | 'ep-pair' | 'runtime-pair';
  a: SideReport;
  b: SideReport;
  inputs: { source: string; sets: number };
  outputs: OutputComparison[];
  detections: DetectionAgreement | null;
  /** a's mAP@0.5:0.95 minus b's (positive: b lost accuracy); null without a dataset. */
  mapDrop: number | null;
  /** The `maxMapDrop` gate; null without one. */
  mapGate: { maxMapDrop: number; mapDrop: number | null; pass: boolean } | null;
  /** `overhead`: the median of the paired differences b − a with its 95% interval (runtime/paired.ts). */
  latencyMs: { a: LatencyStats; b: LatencyStats; overhead: Overhead };
  latencySamplesMs: { a: number[]; b: number[] };
  /** The paired median overhead again (`latencyMs.overhead.median`, `.medianPct`), as earlier versions gave it. */
  overhead: { ms: number; pct: number };
  added: { params: number | null; macs: number | null; nodes: number; source: 'provenance' | 'diff' };
  insertions: Record<string, unknown>[];
  placementCheck: PlacementCheck | null;
  problems: string[];
}

function addedCost(a: PreparedModel, b: PreparedModel): CompareResult['added'] {
  const before = new Set(a.provenance.map((p) => JSON.stringify(p)));
  const fresh = b.provenance.filter((p) => !before.has(JSON.stringify(p)));
  const nodes = b.model.proto.graph!.node.length - a.model.proto.graph!.node.length;
  if (fresh.length > 0) {
    const sum = (key: string) => (fresh.some((p) => typeof p[key] !== 'number') ? null : fresh.reduce((n, p) => n + (p[key] as number), 0));
    return { params: sum('params'), macs: sum('macs'), nodes, source: 'provenance' };
  }
  // No provenance: count initializer elements (an upper bound on trainable parameters: BN statistics count too).
  const elements = (p: PreparedModel) => p.model.proto.graph!.initializer.reduce((n, t) => n + t.dims.reduce((x, d) => x * Number(d), 1), 0);
  return { params: elements(b) - elements(a), macs: null, nodes, source: 'diff' };
}

/** Declared output names and static dims of a model, for the up-front check that two models are comparable. */
function declaredOutputs(p: PreparedModel): { name: string; shape: Dim[] | null }[] {
  return p.model.proto.graph!.output.map((vi) => ({ name: vi.name, shape: typeOf(vi)?.shape ?? null }));
}

/**
 * Runs two models (original vs patched), or one model on two providers, on the same inputs, and reports per
 * output error, detection-level agreement and latency. `a` is the reference: errors are relative to it.
 */
export async function compare(sourceA: ModelSource, sourceB: ModelSource | null = null, options: CompareOptions = {}): Promise<CompareResult> {
  const fileA = sourceName(sourceA);
  const fileB = sourceB == null ? null : sourceName(sourceB);
  const tolerance = parseTolerance(listOf('tolerance', options.tolerance));
  checkDetectionOptions(options);
  checkAccuracyOptions(options);
  checkMapThreshold('maxMapDrop', options.maxMapDrop, options.dataset);
  // Read before any model runs: a wrong dataset fails in a moment, not after the timing.
  const dataset = options.dataset !== undefined ? await loadDataset(options.dataset) : undefined;
  const target = timingTarget(options);
  let choiceA: ProviderChoice;
  let choiceB: ProviderChoice;
  let runtimes: [RuntimeName, RuntimeName] | null = null;
  if (options.runtime !== undefined) checkRuntime(options.runtime, options);
  if (options.runtimePair !== undefined) {
    if (options.epPair) throw new UsageError('--runtime-pair and --ep-pair each make a pair; give one of them');
    const pair = options.runtimePair.split(',').map((r) => r.trim().toLowerCase());
    if (pair.length !== 2 || !pair.every((r) => (RUNTIMES as readonly string[]).includes(r))) {
      throw new UsageError(
        `--runtime-pair '${options.runtimePair}': expected two of ${RUNTIMES.join(', ')}, e.g. onnxruntime,opencv (the first is the reference)`,
      );
    }
    runtimes = pair as [RuntimeName, RuntimeName];
    if (runtimes.includes('opencv')) refuseOnnxruntimeOptions(options, runtimes.includes('onnxruntime'), `--runtime-pair ${runtimes.join(',')}`);
  }
  const mode = options.epPair ? 'ep-pair' : runtimes && !fileB ? 'runtime-pair' : 'models';
  if (options.epPair) {
    if (fileB) throw new UsageError('--ep-pair compares one model on two providers; give one model, or drop --ep-pair to compare two models');
    const pair = options.epPair.split(',').map((e) => parseEp(e.trim()));
    if (pair.length !== 2) throw new UsageError(`--ep-pair '${options.epPair}': expected two providers, e.g. cuda,cpu`);
    // The reference (a) is the second: `--ep-pair cuda,cpu` checks CUDA against the CPU.
    choiceA = chooseEp({ ...options, ep: [pair[1]!] });
    choiceB = chooseEp({ ...options, ep: [pair[0]!] });
  } else {
    if (!fileB && !runtimes)
      throw new UsageError('compare needs two models (a.onnx b.onnx), or one model with --ep-pair cuda,cpu or --runtime-pair onnxruntime,opencv');
    choiceA = chooseEp(options);
    choiceB = choiceA;
  }
  const a = await prepareModel(sourceA, options.shapes);
  const b = sourceB != null ? await prepareModel(sourceB, options.shapes) : a;
  const outputNames = a.model.proto.graph!.output.map((o) => o.name);
  const unknownOutput = tolerance.outputs.find((n) => !outputNames.includes(n));
  if (unknownOutput !== undefined) {
    throw new UsageError(`--tolerance ${unknownOutput}:...: ${fileA} has no output '${unknownOutput}'; its outputs are ${outputNames.join(', ')}`);
  }
  const mismatch = fileB ? outputMismatch(declaredOutputs(a), declaredOutputs(b)) : null;
  if (mismatch) throw new UsageError(`the models give different outputs (${mismatch}); compare needs the same output names and shapes`);
  const specKey = (p: PreparedModel) => JSON.stringify(p.specs.map((s) => [s.name, s.elemType, s.dims]));
  if (specKey(a) !== specKey(b)) {
    throw new UsageError(
      `the models take different inputs (${a.specs.map((s) => `${s.name} [${s.dims}]`).join(', ')} vs ${b.specs.map((s) => `${s.name} [${s.dims}]`).join(', ')}); compare needs the same inputs`,
    );
  }
  const sets = await loadInputs(a, options);
  const {
    a: runA,
    b: runB,
    stoppedBy,
  } = await runPair(
    { bytes: a.bytes, choice: choiceA, label: `model ${fileA}`, profile: !!options.profile, ...(runtimes ? { runtime: runtimes[0] } : {}) },
    {
      bytes: b.bytes,
      choice: choiceB,
      label: `model ${fileB ?? fileA}`,
      profile: options.profile || !!options.requireEp,
      ...(runtimes ? { runtime: runtimes[1] } : {}),
    },
    sets,
    options,
    target,
  );

  const problems: string[] = [];
  const compared = compareOutputs(runA.outputs, runB.outputs, tolerance, fileA, fileB ?? fileA);
  const outputProblems = compared.problems;
  const outputs = withParts(compared.outputs, runA.outputs, runB.outputs, a.family);
  problems.push(...outputProblems);

  let detections: DetectionAgreement | null = null;
  // Detections are decoded in a's format: only when b's outputs have a's shapes.
  const reshaped = outputs.some((o) => JSON.stringify(o.shape) !== JSON.stringify(o.shapeB));
  if ((options.detections ?? 'auto') === 'auto' && !reshaped) {
    const format = detectFormat(
      runA.outputs[0]!.map((o) => ({ name: o.name, dims: o.dims })),
      a.family,
    );
    if (format) {
      try {
        detections = agreement(format, runA.outputs, runB.outputs, { conf: options.conf ?? 0.25, iou: options.iou ?? 0.45 });
      } catch (e) {
        problems.push(`detections not decoded: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  let accuracy: [AccuracyReport, AccuracyReport] | null = null;
  let mapGate: CompareResult['mapGate'] = null;
  if (options.dataset !== undefined) {
    const format = (p: PreparedModel, run: ModelRun) =>
      detectFormat(
        run.outputs[0]!.map((o) => ({ name: o.name, dims: o.dims })),
        p.family,
      );
    const toScore = (p: PreparedModel, c: ProviderChoice, run: ModelRun, label: string) => ({
      bytes: p.bytes,
      choice: c,
      family: p.family,
      metadata: p.model.proto.metadataProps,
      format: format(p, run),
      label,
    });
    accuracy = (await scoreOnDataset(
      [toScore(a, choiceA, runA, `model ${fileA}`), toScore(b, choiceB, runB, `model ${fileB ?? fileA}`)],
      a.specs,
      options,
      options,
      dataset,
    )) as [AccuracyReport, AccuracyReport];
    if (options.maxMapDrop !== undefined) {
      const drop = mapDropOf(accuracy[0], accuracy[1]);
      const pass = drop !== null && drop <= options.maxMapDrop;
      mapGate = { maxMapDrop: options.maxMapDrop, mapDrop: drop, pass };
      if (!pass)
        problems.push(
          drop === null
            ? 'mAP cannot be measured (no labelled boxes); --max-map-drop fails'
            : `mAP@0.5:0.95 dropped by ${drop.toFixed(4)} (${accuracy[0].map5095!.toFixed(4)} → ${accuracy[1].map5095!.toFixed(4)}), more than --max-map-drop ${options.maxMapDrop}`,
        );
    }
  }
  const la = latencyStats(runA.latenciesMs);
  const lb = latencyStats(runB.latenciesMs);
  const overhead = pairedOverhead(runA.latenciesMs, runB.latenciesMs, { stoppedBy, precisionPct: target.precisionPct ?? null });
  const check = placementCheck(runB.placement, options.requireEp);
  if (check && !check.pass) problems.push(`${check.offProvider.length} node(s) ran off ${check.required}`);
  for (const c of [choiceA, choiceB])
    if (c.fallbackReason && !problems.some((p) => p.includes(c.fallbackReason!))) problems.push(`fell back to CPU: ${c.fallbackReason}`);
  // Outputs with NaN metrics (reshaped, non-finite) have their own problem line above.
  const failed = outputs
    .filter((o) => !o.pass && !Number.isNaN(o.maxAbs))
    .map((o) => `output '${o.name}' outside ${o.tolerance.name} tolerance (max abs ${o.maxAbs.toPrecision(3)}, ${o.withinPct}% within)`);
  problems.push(...failed);
  const side = (p: PreparedModel, c: ProviderChoice, run: ModelRun, runtime: RuntimeName | undefined): SideReport => ({
    path: p.path,
    ep: runtimeEpReport(c, runtime ?? options.runtime),
    family: p.family,
    inserted: p.inserted,
    placement: run.placement,
    accuracy: null,
  });
  return {
    schema: 'onnx-attn/compare@1',
    tool: `onnx-attn ${VERSION}`,
    // Fallback and detection notes inform; missing, extra or reshaped outputs and placement fail.
    pass: outputs.length > 0 && outputs.every((o) => o.pass) && outputProblems.length === 0 && (check?.pass ?? true) && (mapGate?.pass ?? true),
    mode,
    a: { ...side(a, choiceA, runA, runtimes?.[0]), accuracy: accuracy?.[0] ?? null },
    b: { ...side(b, choiceB, runB, runtimes?.[1]), accuracy: accuracy?.[1] ?? null },
    inputs: { source: options.inputs ?? 'random', sets: sets.length },
    outputs,
    detections,
    mapDrop: accuracy ? mapDropOf(accuracy[0], accuracy[1]) : null,
    mapGate,
    latencyMs: { a: la, b: lb, overhead },
    latencySamplesMs: { a: runA.latenciesMs, b: runB.latenciesMs },
    overhead: { ms: overhead.median, pct: overhead.medianPct },
    added: fileB ? addedCost(a, b) : { params: 0, macs: 0, nodes: 0, source: 'diff' },
    insertions: b.provenance,
    placementCheck: check,
    problems,
  };
}
