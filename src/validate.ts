import { UsageError } from './errors.js';
import { Graph } from './graph/graph.js';
import { insertedModules, type InsertedModule } from './graph/inserted.js';
import { readProvenance } from './provenance.js';
import { analyzeStructure } from './locate/structure.js';
import { inferShapes } from './graph/shapes.js';
import { loadModel, type OnnxModel } from './onnx/load.js';
import { listOf, numberIn, oneOf } from './options.js';
import { encodeModel } from './onnx/save.js';
import { decodeRuns, detectFormat, type Format } from './runtime/detections.js';
import { conformInputs, graphInputSpecs, type InputSpec, type InputTensor } from './runtime/inputs.js';
import { latencyStats, type LatencyStats } from './runtime/metrics.js';
import type { Placement } from './runtime/placement.js';
import { chooseProviders, parseEp, type EpName, type ProviderChoice } from './runtime/providers.js';
import { runModel, type ModelRun, type RunSettings } from './runtime/run.js';
import type { OutputTensor } from './runtime/session.js';
import { inputSets } from './runtime/sources.js';
import { VERSION } from './version.js';
import { opencvVersion, RUNTIMES, type RuntimeName } from './runtime/opencv.js';
import { checkAccuracyOptions, scoreOnDataset, type AccuracyOptions, type AccuracyReport } from './accuracy/evaluate.js';
import { loadDataset } from './accuracy/dataset.js';

/** Runtime options shared by validate, compare and sweep (cli-contract "Runtime options"). */
export interface RuntimeOptions extends RunSettings {
  /** Providers in order of preference: `cpu` (default), `cuda`, `tensorrt`, `webgpu`; one string or a list. */
  ep?: string | readonly string[];
  /** `none` (default): a provider that cannot load is EpUnavailableError (exit 3); `cpu` runs there and says why. */
  fallback?: 'cpu' | 'none';
  /** random (default: seeded, image-like values), zeros, FILE.json or a folder of images (letterboxed). */
  inputs?: string;
  /** Sizes of dynamic dims by input name (default: batch 1, H and W from the model's `imgsz` metadata, else 640). */
  shapes?: Record<string, number[]>;
  /** Seed of random inputs (default 0). */
  seed?: number;
  /** Fail (exit 5) when an inserted node ran on another provider than this one. */
  requireEp?: string;
}

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

export interface EpReport {
  requested: string[];
  used: string[];
  fallbackReason: string | null;
  /** The runtime, when one was asked for (`--runtime`, `--runtime-pair`); onnxruntime otherwise. */
  runtime?: RuntimeName;
  /** OpenCV's version, with runtime opencv. */
  opencv?: string | null;
}

/** The runtime asked for, checked; with opencv, the onnxruntime-only options are refused by their flag names. */
export function checkRuntime(runtime: string | undefined, options: RuntimeOptions & { dataset?: string }): RuntimeName {
  const name = oneOf('runtime', runtime, RUNTIMES) ?? 'onnxruntime';
  if (name === 'opencv') refuseOnnxruntimeOptions(options, false, '--runtime opencv');
  return name;
}

/** onnxruntime's own options (providers, placement) refused by flag; `threads` and `optimization` too when no side runs onnxruntime. */
export function refuseOnnxruntimeOptions(options: RuntimeOptions & { dataset?: string }, onnxruntimeToo: boolean, flag: string): void {
  const stray: [boolean, string][] = [
    [options.ep !== undefined && listOf('ep', options.ep).length > 0, '--ep'],
    [options.fallback === 'cpu', '--fallback'],
    [(options.deviceId ?? 0) !== 0, '--device-id'],
    [!!options.profile, '--profile'],
    [options.requireEp !== undefined, '--require-ep'],
    [options.dataset !== undefined, '--dataset'],
    [!onnxruntimeToo && options.threads !== undefined, '--threads'],
    [!onnxruntimeToo && options.optimization !== undefined && options.optimization !== 'all', '--optimization'],
  ];
  const hit = stray.find(([given]) => given);
  if (hit) {
    const why =
      hit[1] === '--dataset' ? 'mAP is measured in onnxruntime only in this version' : 'it is an onnxruntime option; OpenCV.js runs on the CPU, in WebAssembly';
    throw new UsageError(`${hit[1]} does not apply to ${flag} (${why}); leave ${hit[1]} out`);
  }
}

/** The ep object of a side run on `runtime`: onnxruntime's choice, and the runtime when one was asked for. */
export function runtimeEpReport(c: ProviderChoice, runtime: RuntimeName | undefined): EpReport {
  if (!runtime) return epReport(c);
  return { ...epReport(c), runtime, ...(runtime === 'opencv' ? { opencv: opencvVersion() } : {}) };
}

/** A model loaded and ready to run: its bytes, input specs, family and what onnx-attn inserted into it. */
export interface PreparedModel {
  path: string;
  model: OnnxModel;
  bytes: Uint8Array;
  specs: InputSpec[];
  family: string;
  inserted: InsertedModule[];
  provenance: Record<string, unknown>[];
}

/** A file, or a model already in memory (patched by the library, say): what validate and compare run. */
export type ModelSource = string | OnnxModel;

/** How a source is named in results and reports: its path, or what it is when it lives in memory. */
export function sourceName(source: ModelSource): string {
  return typeof source === 'string' ? source : `(in memory${source.path ? `, loaded from ${source.path}` : ''})`;
}

export async function prepareModel(source: ModelSource, shapes: Record<string, number[]> = {}): Promise<PreparedModel> {
  const model = typeof source === 'string' ? await loadModel(source) : source;
  const file = sourceName(source);
  const graph = Graph.fromModel(model);
  const specs = graphInputSpecs(graph, shapes);
  let family = 'unknown';
  try {
    family = analyzeStructure(graph, inferShapes(graph, { inputShapes: shapes })).family;
  } catch {
    // The family only picks the detection decoder; a model we cannot analyse is decoded by its output shapes.
  }
  return {
    path: file,
    model,
    bytes: encodeModel(model),
    specs,
    family,
    inserted: insertedModules(graph),
    provenance: readProvenance(model.proto.metadataProps) as Record<string, unknown>[],
  };
}

/** `detections`, `conf` and `iou` of validate and compare, checked as the CLI checks its flags. */
export function checkDetectionOptions(options: Pick<ValidateOptions, 'detections' | 'conf' | 'iou'>): void {
  oneOf('detections', options.detections, ['auto', 'off'] as const);
  numberIn('conf', options.conf, 0, 1);
  numberIn('iou', options.iou, 0, 1);
}

/** `minMap` or `maxMapDrop`: a fraction in [0, 1] (mAP values are fractions everywhere), and only with a dataset. */
export function checkMapThreshold(name: 'minMap' | 'maxMapDrop', value: number | undefined, dataset: string | undefined): void {
  if (value === undefined) return;
  numberIn(name, value, 0, 1);
  if (dataset === undefined) throw new UsageError(`${name} ${value} gates on mAP over labelled images; give a dataset too (--dataset DIR|coco.json)`);
}

export function chooseEp(options: RuntimeOptions): ProviderChoice {
  const eps: EpName[] = listOf('ep', options.ep)
    .flatMap((e) => e.split(','))
    .filter(Boolean)
    .map(parseEp);
  const fallback = oneOf('fallback', options.fallback, ['cpu', 'none'] as const) ?? 'none';
  return chooseProviders(eps, fallback, numberIn('deviceId', options.deviceId, 0, Number.MAX_SAFE_INTEGER, true) ?? 0);
}

export const epReport = (c: ProviderChoice): EpReport => ({ requested: c.requested, used: c.used, fallbackReason: c.fallbackReason });

export interface OutputReport {
  name: string;
  dtype: string;
  shape: number[];
  finite: boolean;
  nonFinite: number;
  min: number | null;
  max: number | null;
}

export interface PlacementCheck {
  required: string;
  /** Inserted nodes checked, or every node when the model has none inserted. */
  checked: number;
  offProvider: { node: string; ep: string }[];
  pass: boolean;
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

export function placementCheck(placement: Placement | null, required: string | undefined): PlacementCheck | null {
  if (!required || !placement) return null;
  const ep = parseEp(required);
  const nodes = placement.inserted.length > 0 ? placement.inserted : Object.entries(placement.nodes).map(([node, e]) => ({ node, ep: e }));
  const off = nodes.filter((n) => n.ep !== ep);
  return { required: ep, checked: nodes.length, offProvider: off, pass: off.length === 0 };
}

export async function loadInputs(prepared: PreparedModel, options: RuntimeOptions): Promise<InputTensor[][]> {
  // Every source (a JSON file, images) is fed in the dtype the model declares: float16 models included.
  return conformInputs(prepared.specs, await inputSets(options.inputs ?? 'random', prepared.specs, options.seed ?? 0));
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
