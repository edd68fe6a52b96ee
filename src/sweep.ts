import { clone } from '@bufbuild/protobuf';
import { BuildError, ExitCode, isOnnxAttnError, UsageError } from './errors.js';
import type { Dim } from './graph/graph.js';
import { applyInsertions, planInsertions } from './insert.js';
import { analyzeModel, type AnalyzedModel } from './analysis.js';
import { isPart, partSpecs } from './locate/parts.js';
import { locate, splitSpecs } from './locate/locate.js';
import { findModule } from './modules/index.js';
import { loadModel, type OnnxModel } from './onnx/load.js';
import { ModelProtoSchema, type TensorProto } from './onnx/proto.js';
import { encodeModel } from './onnx/save.js';
import { detectFormat } from './runtime/detections.js';
import { agreement } from './runtime/detection-agreement.js';
import { compareOutputs } from './runtime/output-comparison.js';
import { conformInputs, graphInputSpecs } from './runtime/inputs.js';
import { latencyStats, TOLERANCES } from './runtime/metrics.js';
import { readProfile } from './runtime/placement.js';
import { runCounts, sessionOptions as runSessionOptions, timeAlternately } from './runtime/run.js';
import { openSession, type OutputTensor } from './runtime/session.js';
import { effects } from './effects.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { inputSets } from './runtime/sources.js';
import { chooseEp, epReport, sourceName, type ModelSource, type RuntimeOptions } from './runtime/shared.js';
import { VERSION } from './version.js';
import { scoreChange, withParts } from './runtime/parts.js';
import { pairedOverhead, timingTarget } from './runtime/paired.js';
import { checkAccuracyOptions, evaluateModels, mapDrop, modelClassNames, type AccuracyOptions, type AccuracyReport } from './accuracy/evaluate.js';
import { loadDataset } from './accuracy/dataset.js';

import { rankRows, RANK_KEYS, type RankKey, type SweepResult, type SweepRow, type SweepSkip } from './sweep/rank.js';

export { better, rankRows, RANK_KEYS, type RankKey, type SweepResult, type SweepRow, type SweepSkip } from './sweep/rank.js';

/**
 * `sweep`: every module × point on one model, each alone (or, with `combine`, each module at all points at once),
 * ranked by what it costs and how much it changes the outputs. The model is read and analysed once; each candidate
 * is built from an in-memory copy of it, candidates that would give the same patched model run once, and the
 * original is timed alternately with each candidate in the same process, so drift shows up in both.
 */

export interface SweepOptions extends RuntimeOptions, AccuracyOptions {
  /** Module names (any case); one string may list several, `NAM,SimAM`. */
  modules: string | readonly string[];
  /** Points: SPECs, or `backbone`, `neck`, `all-layers` (each layer its own point). */
  after: string | readonly string[];
  /** Module options for every candidate (`{reduction: '4'}`). */
  opts?: Readonly<Record<string, string>>;
  /** Weights of the inserted modules (default torch: the reference module's PyTorch initialisation). */
  init?: 'torch' | 'random';
  /** Seed of inputs and weights (default 0). */
  seed?: number;
  /** One candidate per module with every point at once, instead of one per module × point (default false). */
  combine?: boolean;
  /** Order of the rows (default score-change: the scores part's relative L2, lowest first; see `better`). */
  rankBy?: RankKey;
  /** Time each candidate's pairs until the overhead's 95% interval has this half-width, % of the original's median. */
  precision?: string | number;
  /** The whole sweep's timing budget (`60s`, `2m`, or seconds), shared out over the candidates still to time. */
  budget?: string | number;
  /** `auto` (default) compares detections when the outputs look like a detector's; `off` skips it. */
  detections?: 'auto' | 'off';
  /** Detection score threshold (default 0.25). */
  conf?: number;
  /** NMS IoU threshold (default 0.45). */
  iou?: number;
  /** After each candidate: (done, total). */
  onCandidate?: (done: number, total: number) => void;
}

/** An in-memory copy of a loaded model: protobuf cloned, external payloads re-keyed to the cloned tensors. */
function copyModel(model: OnnxModel): OnnxModel {
  const proto = clone(ModelProtoSchema, model.proto);
  const externalData = new Map<TensorProto, Uint8Array>();
  if (model.externalData.size > 0) {
    const byName = new Map([...model.externalData].map(([t, bytes]) => [t.name, bytes]));
    for (const t of proto.graph?.initializer ?? []) {
      const bytes = byName.get(t.name);
      if (bytes) externalData.set(t, bytes);
    }
  }
  return { ...model, proto, externalData };
}

/**
 * Expands `backbone`, `neck`, `all-layers` to their layers; other SPECs stay as given, and must resolve (exit 4
 * otherwise, as in `insert`): a typo in an explicit point is a mistake, a layer of a part that has no single
 * boundary is just not a candidate.
 */
export function expandPoints(analyzed: AnalyzedModel, after: string | readonly string[]): string[] {
  for (const spec of splitSpecs(after)) if (!isPart(spec)) locate(analyzed.structure, spec);
  const points = splitSpecs(after).flatMap((spec) => (isPart(spec) ? partSpecs(analyzed.structure, spec) : [spec]));
  if (points.length === 0) throw new UsageError('--after needs at least one point (SPEC, backbone, neck or all-layers)');
  return [...new Set(points)];
}

export async function sweep(source: ModelSource, options: SweepOptions): Promise<SweepResult> {
  const file = sourceName(source);
  const rankBy = options.rankBy ?? 'score-change';
  if (!(RANK_KEYS as readonly string[]).includes(rankBy)) throw new UsageError(`--rank-by ${rankBy}: expected one of ${RANK_KEYS.join(', ')}`);
  const modules = [...new Set(splitSpecs(options.modules).map((m) => findModule(m).name))];
  if (modules.length === 0) throw new UsageError('--modules needs at least one module, e.g. --modules NAM,GAM,SimAM');
  const choice = chooseEp(options);
  const target = timingTarget(options);
  checkAccuracyOptions(options);
  if (rankBy === 'map-drop' && options.dataset === undefined)
    throw new UsageError('--rank-by map-drop ranks by the mAP each candidate loses on labelled images; give --dataset DIR|coco.json');
  // Read before any model runs: a wrong dataset fails in a moment.
  const dataset = options.dataset !== undefined ? await loadDataset(options.dataset) : null;

  // Candidates are built on copies: a model given in memory is never changed.
  const model = typeof source === 'string' ? await loadModel(source) : source;
  const base = await analyzeModel(copyModel(model), options.shapes ? { probeShapes: options.shapes } : {});
  const points = expandPoints(base, options.after);
  const known = new Map<string, Dim[]>();
  for (const [v, t] of base.structure.types) if (t.shape && t.shape.every((d) => d !== null)) known.set(v.name, t.shape);

  const specs = graphInputSpecs(base.graph, options.shapes);
  const sets = conformInputs(specs, await inputSets(options.inputs ?? 'random', specs, options.seed ?? 0));
  const sessionOptions = runSessionOptions(choice, options);
  const { warmup, iters } = runCounts(options);
  const baseline = await openSession(encodeModel(model), sessionOptions, `model ${file}`);
  const profileDir = effects.fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-sweep-'));
  try {
    const baseOutputs: OutputTensor[][] = [];
    for (const set of sets) baseOutputs.push(await baseline.run(set));
    const format =
      (options.detections ?? 'auto') === 'auto'
        ? detectFormat(
            baseOutputs[0]!.map((o) => ({ name: o.name, dims: o.dims })),
            base.structure.family,
          )
        : null;

    // Accuracy: the original scored once, each candidate in its own session before it is released.
    const datasetFormat = dataset
      ? detectFormat(
          baseOutputs[0]!.map((o) => ({ name: o.name, dims: o.dims })),
          base.structure.family,
        )
      : null;
    if (dataset && !datasetFormat)
      throw new BuildError(`--dataset: the outputs of ${file} are not a detector format onnx-attn decodes (YOLOv5, YOLOv8/11, RT-DETR); accuracy needs boxes`);
    const score = async (session: typeof baseline) =>
      dataset
        ? (
            await evaluateModels(
              [{ session, format: datasetFormat!, family: base.structure.family, classNames: modelClassNames(model.proto.metadataProps) }],
              specs,
              dataset,
              options,
            )
          )[0]!
        : null;
    const baseAccuracy = await score(baseline);
    const candidates = modules.flatMap((module) => (options.combine ? [{ module, points }] : points.map((p) => ({ module, points: [p] }))));
    const rows: SweepRow[] = [];
    const skipped: SweepSkip[] = [];
    const measured = new Map<string, SweepRow>();
    const baselineP50s: number[] = [];
    let done = 0;
    let timedS = 0;
    for (const c of candidates) {
      const point = c.points.join(',');
      const copy = copyModel(model);
      let row: SweepRow;
      try {
        const analyzed = await analyzeModel(copy, { knownShapes: known, probe: false });
        const plans = planInsertions(analyzed, {
          module: c.module,
          after: c.points,
          ...(options.opts ? { opts: options.opts } : {}),
          ...(options.init ? { init: options.init } : {}),
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
        });
        const key = JSON.stringify([c.module, plans.map((p) => [p.insertion.tensor, p.insertion.options, p.insertion.seed])]);
        const tensors = plans.map((p) => p.insertion.tensor);
        const same = measured.get(key);
        if (same) {
          row = { ...same, point, sameAs: same.point };
        } else {
          const insertions = applyInsertions(analyzed, plans);
          const bytes = encodeModel(copy);
          const candidate = await openSession(bytes, sessionOptions, `${c.module} at ${point}`);
          const outs: OutputTensor[][] = [];
          let times: Awaited<ReturnType<typeof timeAlternately>>;
          let accuracy: AccuracyReport | null = null;
          try {
            for (const set of sets) outs.push(await candidate.run(set));
            accuracy = await score(candidate);
            // The sweep's budget, shared out over the candidates still to time (at least one pair each).
            const share = target.budgetS === undefined ? {} : { budgetS: Math.max(0, target.budgetS - timedS) / (candidates.length - done) };
            const started = effects.now();
            times = await timeAlternately(baseline, candidate, sets[0]!, warmup, iters, { ...target, ...share });
            timedS += (effects.now() - started) / 1e3;
          } finally {
            await candidate.release();
          }
          // Placement: one profiled run of the candidate.
          const prefix = path.join(profileDir, `c${done}`);
          const profiled = await openSession(bytes, { ...sessionOptions, profilePrefix: prefix }, `${c.module} at ${point}`);
          let offEp: string[] = [];
          let onRequestedEp: boolean | null = null;
          try {
            await profiled.run(sets[0]!);
            const pf = profiled.endProfiling();
            if (pf) {
              const placement = readProfile(pf, choice.used[0] ?? 'cpu');
              offEp = placement.offProvider.map((n) => `${n.node} (${n.ep})`);
              onRequestedEp = offEp.length === 0 && choice.fallbackReason === null;
            }
          } finally {
            await profiled.release();
          }
          const cmp = compareOutputs(baseOutputs, outs, () => TOLERANCES.fp32);
          const parted = withParts(cmp.outputs, baseOutputs, outs, base.structure.family);
          const overhead = pairedOverhead(times.a, times.b, { stoppedBy: times.stoppedBy, precisionPct: target.precisionPct ?? null });
          const detections = format ? agreement(format, baseOutputs, outs, { conf: options.conf ?? 0.25, iou: options.iou ?? 0.45 }) : null;
          const floats = cmp.outputs.filter((o) => baseOutputs[0]!.find((b) => b.name === o.name)?.type.startsWith('float'));
          const la = latencyStats(times.a);
          const lb = latencyStats(times.b);
          baselineP50s.push(la.p50);
          row = {
            rank: 0,
            module: c.module,
            variant: insertions[0]!.variant,
            point,
            tensors,
            params: insertions.reduce((n, i) => n + i.params, 0),
            macs: insertions.some((i) => i.macs === null) ? null : insertions.reduce((n, i) => n + i.macs!, 0),
            latencyMs: { p50: lb.p50, mean: lb.mean, overhead },
            baselineMs: la.p50,
            overheadMs: overhead.median,
            overheadPct: overhead.medianPct,
            cosine: Math.min(...floats.map((o) => o.cosine)),
            relL2: Math.max(...floats.map((o) => o.relL2)),
            scoreChange: scoreChange(parted),
            outputs: parted.map((o) => ({ name: o.name, cosine: o.cosine, relL2: o.relL2, maxAbs: o.maxAbs, parts: o.parts })),
            detections,
            onRequestedEp,
            offEp,
            sameAs: null,
            accuracy,
            mapDrop: accuracy && baseAccuracy ? mapDrop(baseAccuracy, accuracy) : null,
          };
          measured.set(key, row);
        }
        rows.push(row);
      } catch (e) {
        if (!isOnnxAttnError(e) || e.exitCode !== ExitCode.invalidModel) throw e;
        skipped.push({ module: c.module, point, reason: e.message });
      }
      options.onCandidate?.(++done, candidates.length);
    }
    if (rows.length === 0) {
      throw new BuildError(
        `no candidate could be built: ${skipped[0]!.module} at ${skipped[0]!.point}: ${skipped[0]!.reason}${skipped.length > 1 ? ` (and ${skipped.length - 1} more)` : ''}`,
      );
    }
    const p50s = baselineP50s;
    const drift = p50s.length > 1 ? (100 * (Math.max(...p50s) - Math.min(...p50s))) / Math.min(...p50s) : 0;
    return {
      schema: 'onnx-attn/sweep@1',
      tool: `onnx-attn ${VERSION}`,
      model: file,
      family: base.structure.family,
      ep: epReport(choice),
      rankBy,
      iters,
      timing: { precisionPct: target.precisionPct ?? null, budgetS: target.budgetS ?? null },
      baseline: { p50s, driftPct: Number(drift.toFixed(2)) },
      rows: rankRows(rows, rankBy),
      skipped,
      accuracy: baseAccuracy,
    };
  } finally {
    await baseline.release();
    effects.fs.rmSync(profileDir, { recursive: true, force: true });
  }
}
