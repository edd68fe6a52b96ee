import { UsageError } from './errors.js';
import { listOf } from './options.js';
import { compareTensors, latencyStats, type NumericArray, parseTolerance, withinTolerance, type LatencyStats, type Tolerance } from './runtime/metrics.js';
import { decodeRuns, detectFormat, matchDetections, type Format } from './runtime/detections.js';
import type { Placement } from './runtime/placement.js';
import { parseEp, type ProviderChoice } from './runtime/providers.js';
import { runPair, type ModelRun } from './runtime/run.js';
import type { OutputTensor } from './runtime/session.js';
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
import { withParts, type PartMetrics } from './runtime/parts.js';
import { pairedOverhead, timingTarget, type Overhead } from './runtime/paired.js';

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

export interface OutputComparison {
  name: string;
  shape: number[];
  shapeB: number[];
  maxAbs: number;
  meanAbs: number;
  relL2: number;
  cosine: number;
  tolerance: Tolerance;
  /** Share of elements within tolerance, in %. */
  withinPct: number;
  /** NaN and infinity counts in the reference (a) and the other (b): any makes the metrics NaN and fails. */
  nonFinite: { a: number; b: number };
  pass: boolean;
  /** The output's parts (boxes, objectness, scores, labels) for a known detector family; empty otherwise. */
  parts: PartMetrics[];
}

export interface DetectionAgreement {
  format: Format;
  /** Score threshold and NMS IoU the boxes were decoded with. */
  conf: number;
  iou: number;
  matchedPct: number;
  classAgreement: number | null;
  meanIoU: number | null;
  missing: number;
  extra: number;
  refCount: number;
  otherCount: number;
  images: number;
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

const FLOATS = new Set(['float32', 'float64', 'float16']);

export interface DecodeSettings {
  conf: number;
  iou: number;
}

export function agreement(format: Format, a: OutputTensor[][], b: OutputTensor[][], d: DecodeSettings): DetectionAgreement {
  // One list per image, input sets in order: a's image i pairs with b's image i.
  const decode = (runs: OutputTensor[][]) => decodeRuns(format, runs, { scoreThreshold: d.conf, iouThreshold: d.iou }).flat();
  const ra = decode(a);
  const rb = decode(b);
  let matched = 0,
    same = 0,
    iouSum = 0,
    missing = 0,
    extra = 0,
    refCount = 0,
    otherCount = 0;
  ra.forEach((ref, i) => {
    const m = matchDetections(ref, rb[i] ?? []);
    matched += m.matched;
    same += (m.classAgreement ?? 0) * m.matched;
    iouSum += (m.meanIoU ?? 0) * m.matched;
    missing += m.missing;
    extra += m.extra;
    refCount += m.refCount;
    otherCount += m.otherCount;
  });
  return {
    format,
    conf: d.conf,
    iou: d.iou,
    matchedPct: refCount > 0 ? round((100 * matched) / refCount) : otherCount === 0 ? 100 : 0,
    classAgreement: matched > 0 ? round(same / matched) : null,
    meanIoU: matched > 0 ? round(iouSum / matched) : null,
    missing,
    extra,
    refCount,
    otherCount,
    images: ra.length,
  };
}

const round = (x: number, digits = 4) => Number(x.toFixed(digits));

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

/**
 * Per-output error of b against the reference a, over every input set: max and mean abs, relative L2 and cosine
 * (accumulated across sets), and the share within tolerance. Outputs are matched by name.
 *
 * An output whose shapes differ (a dynamic output can), or that holds a NaN or an infinity on either side, fails
 * with NaN metrics (null in JSON): there is no error to measure, and it must never read as a perfect match.
 */
export function compareOutputs(
  a: OutputTensor[][],
  b: OutputTensor[][],
  tolerance: (name: string) => Tolerance,
  labelA = 'a',
  labelB = 'b',
): { outputs: OutputComparison[]; problems: string[] } {
  const problems: string[] = [];
  const outputs: OutputComparison[] = [];
  const namesB = new Set(b[0]!.map((o) => o.name));
  for (const [i, oa] of a[0]!.entries()) {
    if (!namesB.has(oa.name)) {
      problems.push(`output '${oa.name}' is missing from ${labelB}`);
      continue;
    }
    const tol = tolerance(oa.name);
    let maxAbs = 0,
      absSum = 0,
      count = 0,
      within = 0,
      sqDiff = 0,
      sqRef = 0,
      dot = 0,
      sqB = 0;
    let nonFiniteA = 0,
      nonFiniteB = 0;
    let shapeB: number[] = [];
    let shapesMatch = true;
    for (let s = 0; s < a.length; s++) {
      const x = a[s]![i]!;
      const y = b[s]!.find((o) => o.name === oa.name)!;
      shapeB = y.dims;
      if (JSON.stringify(x.dims) !== JSON.stringify(y.dims)) {
        shapesMatch = false;
        continue;
      }
      const c = compareTensors(x.data as NumericArray, y.data as NumericArray);
      const w = withinTolerance(y.data as NumericArray, x.data as NumericArray, tol);
      nonFiniteA += c.nonFiniteA;
      nonFiniteB += c.nonFiniteB;
      maxAbs = Math.max(maxAbs, c.maxAbs);
      absSum += c.meanAbs * c.count;
      count += c.count;
      within += c.count - w.violations;
      // L2 norms and the dot product accumulate across input sets.
      for (let k = 0; k < x.data.length; k++) {
        const p = Number(x.data[k]),
          q = Number(y.data[k]);
        sqRef += p * p;
        sqB += q * q;
        dot += p * q;
        sqDiff += (p - q) * (p - q);
      }
    }
    const measured = shapesMatch && nonFiniteA === 0 && nonFiniteB === 0;
    if (!shapesMatch) problems.push(`output '${oa.name}' has shape [${shapeB}] in ${labelB}, [${oa.dims}] in ${labelA}`);
    if (nonFiniteA > 0 || nonFiniteB > 0) {
      const where = [nonFiniteB > 0 ? `${nonFiniteB} in ${labelB}` : '', nonFiniteA > 0 ? `${nonFiniteA} in ${labelA}` : ''].filter(Boolean).join(', ');
      problems.push(`output '${oa.name}' has non-finite values (NaN or infinity: ${where}); its error cannot be measured`);
    }
    const relL2 = !measured ? NaN : sqRef > 0 ? Math.sqrt(sqDiff / sqRef) : sqDiff > 0 ? Infinity : 0;
    const cosine = !measured ? NaN : sqRef > 0 && sqB > 0 ? dot / Math.sqrt(sqRef * sqB) : sqRef === 0 && sqB === 0 ? 1 : 0;
    const withinPct = measured && count > 0 ? (100 * within) / count : 0;
    const pass = measured && within === count && (FLOATS.has(oa.type) || maxAbs === 0);
    outputs.push({
      name: oa.name,
      shape: oa.dims,
      shapeB,
      maxAbs: measured ? maxAbs : NaN,
      meanAbs: measured ? (count ? absSum / count : 0) : NaN,
      relL2,
      cosine: round(cosine, 8),
      tolerance: tol,
      withinPct: round(withinPct),
      nonFinite: { a: nonFiniteA, b: nonFiniteB },
      pass,
      parts: [],
    });
  }
  for (const n of namesB) if (!a[0]!.some((o) => o.name === n)) problems.push(`${labelB} has an extra output '${n}'`);
  return { outputs, problems };
}

/** Declared output names and static dims of a model, for the up-front check that two models are comparable. */
function declaredOutputs(p: PreparedModel): { name: string; shape: Dim[] | null }[] {
  return p.model.proto.graph!.output.map((vi) => ({ name: vi.name, shape: typeOf(vi)?.shape ?? null }));
}

const dimText = (shape: Dim[] | null) => (shape ? `[${shape.map((d) => d ?? '?').join(',')}]` : '[?]');

/**
 * Two models give comparable outputs when they have the same output names and no static dim differs (dynamic
 * dims are checked on the outputs themselves). Returns the difference in words, or null.
 */
export function outputMismatch(a: { name: string; shape: Dim[] | null }[], b: { name: string; shape: Dim[] | null }[]): string | null {
  const namesA = a.map((o) => o.name).sort();
  const namesB = b.map((o) => o.name).sort();
  const list = (outs: typeof a) => outs.map((o) => `${o.name} ${dimText(o.shape)}`).join(', ');
  if (JSON.stringify(namesA) !== JSON.stringify(namesB)) return `${list(a)} vs ${list(b)}`;
  const differ = a.filter((oa) => {
    const sb = b.find((o) => o.name === oa.name)!.shape;
    const sa = oa.shape;
    if (!sa || !sb) return false;
    return sa.length !== sb.length || sa.some((d, k) => typeof d === 'number' && d > 0 && typeof sb[k] === 'number' && sb[k] > 0 && d !== sb[k]);
  });
  if (differ.length === 0) return null;
  return differ.map((oa) => `${oa.name} ${dimText(oa.shape)} vs ${dimText(b.find((o) => o.name === oa.name)!.shape)}`).join(', ');
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
