/**
 * Accuracy on labelled images: each dataset image is letterboxed into the model's input, run, decoded with
 * ultralytics' `val` settings (score > 0.001, NMS IoU 0.7, or 0.6 as YOLOv5's `val.py`; at most 300 boxes), the
 * boxes mapped back to the image, model classes mapped to dataset categories, and the lot scored by COCO's
 * evaluation (cocoeval.ts). Several models are scored on the same letterboxed images in one pass (compare: the
 * original and the patched one), one image at a time, so memory does not grow with the dataset.
 */
import { ModelError, UsageError } from '../errors.js';
import { numberIn } from '../options.js';
import { decodeDetections, type Format, type OutputTensor } from '../runtime/detections.js';
import { makeInputs, type InputSpec, type InputTensor } from '../runtime/inputs.js';
import type { ProviderChoice } from '../runtime/providers.js';
import { sessionOptions, type RunSettings } from '../runtime/run.js';
import { openSession, type ModelSession } from '../runtime/session.js';
import { TensorProto_DataType as DT } from '../onnx/proto.js';
import { cocoEvaluate, type DetectionBox } from './cocoeval.js';
import { loadDataset, type Dataset } from './dataset.js';
import { letterboxImage, unletterbox } from './letterbox.js';

/** The accuracy options of validate, compare and sweep (and plans' `dataset`, `dataset-conf`, …). */
export interface AccuracyOptions {
  /** Labelled images: a folder with YOLO txt labels, a data.yaml, or a COCO instances .json. */
  dataset?: string;
  /** Score threshold of the detections scored (default 0.001, ultralytics' `val`). */
  datasetConf?: number;
  /** NMS IoU threshold (default 0.7, ultralytics' `val`; 0.6 for YOLOv5-family models, as YOLOv5's `val.py`). */
  datasetIou?: number;
  /** YOLO formats: a box per class above the threshold, as both `val`s decode (default true); false: the best class only. */
  datasetMultiLabel?: boolean;
  /**
   * Model class index → dataset category id: `auto` (default: by name when the model's `names` metadata names
   * every category, else class k is the k-th category in id order, which is k itself for YOLO labels), or
   * `K=ID[,K=ID…]` (classes not listed are not scored).
   */
  classMap?: string;
}

export interface ClassAccuracy {
  /** The dataset's category id. */
  class: number;
  name: string;
  /** Ground-truth boxes of the class. */
  instances: number;
  /** Null when the class has no ground truth (COCO leaves it out of the means). */
  ap50: number | null;
  ap5095: number | null;
}

/** `accuracy` of cli-contract.md's second round: fractions in [0, 1]; null where nothing was there to score. */
export interface AccuracyReport {
  dataset: string;
  images: number;
  instances: number;
  format: Format;
  conf: number;
  iou: number;
  multiLabel: boolean;
  classMap: 'names' | 'index' | 'order' | 'given';
  map50: number | null;
  map5095: number | null;
  map75: number | null;
  /** Precision and recall at IoU 0.5 at the score that maximises F1, all classes pooled. */
  precision: number;
  recall: number;
  /** COCO's AR@100. */
  ar100: number | null;
  perClass: ClassAccuracy[];
  /** Precision at recall 0, 0.01, …, 1 at IoU 0.5, the mean over classes (COCO's interpolated PR curve). */
  pr50: number[];
}

const orNull = (v: number) => (v < 0 ? null : v);

/** Checks the accuracy options as the CLI checks its flags. */
export function checkAccuracyOptions(o: AccuracyOptions): void {
  if (o.dataset !== undefined && (typeof o.dataset !== 'string' || o.dataset === ''))
    throw new UsageError('dataset: expected a folder, a data.yaml or a COCO .json path');
  numberIn('datasetConf', o.datasetConf, 0, 1);
  numberIn('datasetIou', o.datasetIou, 0, 1);
  if (o.datasetMultiLabel !== undefined && typeof o.datasetMultiLabel !== 'boolean')
    throw new UsageError(`datasetMultiLabel ${JSON.stringify(o.datasetMultiLabel)}: expected true or false`);
  if (o.classMap !== undefined) parseClassMap(o.classMap);
  if (o.dataset === undefined) {
    const stray = (['datasetConf', 'datasetIou', 'datasetMultiLabel', 'classMap'] as const).find((k) => o[k] !== undefined);
    if (stray) throw new UsageError(`${stray} applies to the accuracy on a dataset; give a dataset too`);
  }
}

/** `auto`, or `K=ID[,K=ID…]`: a map from model class index to dataset category id. */
export function parseClassMap(text: string): 'auto' | Map<number, number> {
  if (text === 'auto') return 'auto';
  const map = new Map<number, number>();
  for (const pair of text.split(',')) {
    const m = /^\s*(\d+)\s*=\s*(-?\d+)\s*$/.exec(pair);
    if (!m) throw new UsageError(`class map '${text}': '${pair}' is not CLASS=CATEGORY (e.g. 0=1,1=3), or use auto`);
    if (map.has(Number(m[1]))) throw new UsageError(`class map '${text}': class ${m[1]} is mapped twice`);
    map.set(Number(m[1]), Number(m[2]));
  }
  return map;
}

/** ultralytics' `names` metadata, a Python dict: {0: 'person', 1: 'bicycle'}. */
export function modelClassNames(metadata: readonly { key: string; value: string }[]): string[] {
  const text = metadata.find((p) => p.key === 'names')?.value;
  if (!text) return [];
  const out: string[] = [];
  for (const m of text.matchAll(/(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g)) out[Number(m[1])] = m[2] ?? m[3] ?? '';
  return out;
}

/** Resolves the class map for a dataset, and says how it was made. */
export function resolveClassMap(
  text: string | undefined,
  dataset: Dataset,
  modelNames: readonly string[],
): { map: Map<number, number>; how: AccuracyReport['classMap'] } {
  const parsed = parseClassMap(text ?? 'auto');
  if (parsed !== 'auto') {
    const known = new Set(dataset.categories.map((c) => c.id));
    const unknown = [...parsed.values()].find((id) => !known.has(id));
    if (unknown !== undefined)
      throw new UsageError(`class map: category ${unknown} is not in ${dataset.source} (its categories: ${dataset.categories.map((c) => c.id).join(', ')})`);
    return { map: parsed, how: 'given' };
  }
  const cats = dataset.categories;
  const lower = modelNames.map((n) => n?.toLowerCase());
  const byName = cats.map((c) => lower.indexOf(c.name.toLowerCase()));
  // By name only when the dataset names its categories (YOLO labels without a yaml have numbers for names).
  if (modelNames.length > 0 && cats.some((c) => c.name !== String(c.id)) && byName.every((k) => k >= 0)) {
    return { map: new Map(cats.map((c, i) => [byName[i]!, c.id])), how: 'names' };
  }
  if (cats.every((c, i) => c.id === i)) return { map: new Map(cats.map((c) => [c.id, c.id])), how: 'index' };
  return { map: new Map(cats.map((c, i) => [i, c.id])), how: 'order' };
}

/** One model to score: its open session, the format its outputs decode with, and its NMS IoU default. */
export interface ScoredModel {
  session: ModelSession;
  format: Format;
  family: string;
  classNames: readonly string[];
}

/** The image input ([N, 3, H, W] float) a dataset image is fed to. */
function imageInput(specs: readonly InputSpec[]): InputSpec {
  const image = specs.find((s) => s.dims.length === 4 && s.dims[1] === 3 && (s.elemType === DT.FLOAT || s.elemType === DT.DOUBLE));
  // The model is at fault (exit 4): there is nothing to feed the dataset's images to.
  if (!image) throw new ModelError('--dataset: the model has no [N,3,H,W] float image input to feed images to');
  return image;
}

/** The default NMS IoU of a model's `val`: YOLOv5's val.py uses 0.6, ultralytics 0.7. */
export const defaultDatasetIou = (family: string) => (family === 'yolov5' ? 0.6 : 0.7);

/**
 * Scores every model on the dataset (see the header). The models must take the same inputs (`specs`); the image
 * goes into every batch slot and slot 0 is decoded.
 */
export async function evaluateModels(
  models: readonly ScoredModel[],
  specs: readonly InputSpec[],
  dataset: Dataset,
  options: AccuracyOptions = {},
  /** After each run: (runs done, runs in all = images × models), for a progress bar. */
  onRun?: (done: number, total: number) => void,
): Promise<AccuracyReport[]> {
  checkAccuracyOptions(options);
  const image = imageInput(specs);
  const [n, , h, w] = image.dims as [number, number, number, number];
  const conf = options.datasetConf ?? 0.001;
  const multiLabel = options.datasetMultiLabel ?? true;
  const maps = models.map((m) => resolveClassMap(options.classMap, dataset, m.classNames));
  const ious = models.map((m) => options.datasetIou ?? defaultDatasetIou(m.family));
  const detections: DetectionBox[][] = models.map(() => []);
  const base = makeInputs(specs as InputSpec[], { mode: 'zeros' });
  let runs = 0;
  for (const im of dataset.images) {
    const lb = await letterboxImage(im.file, h, w);
    const batch = new Float32Array(n * 3 * h * w);
    for (let b = 0; b < n; b++) batch.set(lb.data, b * 3 * h * w);
    const feeds: InputTensor[] = base.map((t) => (t.name === image.name ? { ...t, data: t.type === 'float64' ? Float64Array.from(batch) : batch } : t));
    for (const [k, model] of models.entries()) {
      const outputs = await model.session.run(feeds);
      onRun?.(++runs, dataset.images.length * models.length);
      const byName = new Map<string, OutputTensor>(outputs.map((o) => [o.name, { dims: o.dims, data: o.data as OutputTensor['data'] }]));
      const found = decodeDetections(model.format, byName, { scoreThreshold: conf, iouThreshold: ious[k]!, maxDetections: 300, batchIndex: 0, multiLabel });
      for (const d of found) {
        const categoryId = maps[k]!.map.get(d.classId);
        if (categoryId === undefined) continue;
        // Ultralytics' RT-DETR head gives boxes as fractions of the input.
        const box = model.format === 'rtdetr' ? ([d.box[0] * w, d.box[1] * h, d.box[2] * w, d.box[3] * h] as const) : d.box;
        const [x1, y1, x2, y2] = unletterbox([box[0], box[1], box[2], box[3]], lb.geometry, im.width, im.height);
        detections[k]!.push({ imageId: im.id, categoryId, bbox: [x1, y1, x2 - x1, y2 - y1], score: d.score });
      }
    }
  }
  const imageIds = dataset.images.map((im) => im.id);
  const categoryIds = dataset.categories.map((c) => c.id);
  return models.map((m, k) => {
    const r = cocoEvaluate(dataset.annotations, detections[k]!, { imageIds, categoryIds });
    const pr50 = r.recallThresholds.map((_, ri) => {
      const defined = r.precision[0]!.map((p) => p[ri]!).filter((v) => v > -1);
      return defined.length > 0 ? defined.reduce((a, b) => a + b, 0) / defined.length : 0;
    });
    return {
      dataset: dataset.source,
      images: dataset.images.length,
      instances: dataset.annotations.filter((a) => !a.iscrowd).length,
      format: m.format,
      conf,
      iou: ious[k]!,
      multiLabel,
      classMap: maps[k]!.how,
      map50: orNull(r.map50),
      map5095: orNull(r.map5095),
      map75: orNull(r.map75),
      precision: r.atBestF1.precision,
      recall: r.atBestF1.recall,
      ar100: orNull(r.ar),
      perClass: r.perCategory.map((c) => ({
        class: c.categoryId,
        name: categoryName(dataset, c.categoryId, maps[k]!.map, m.classNames),
        instances: c.groundTruths,
        ap50: c.ap50,
        ap5095: c.ap5095,
      })),
      pr50,
    };
  });
}

/** A category's name: the dataset's, or (YOLO labels without a yaml name classes by number) the model's own. */
function categoryName(dataset: Dataset, id: number, map: Map<number, number>, modelNames: readonly string[]): string {
  const given = dataset.categories.find((d) => d.id === id)?.name ?? String(id);
  if (given !== String(id)) return given;
  const modelClass = [...map].find(([, cat]) => cat === id)?.[0];
  return (modelClass !== undefined ? modelNames[modelClass] : undefined) || given;
}

/** How much mAP@0.5:0.95 b lost against a (positive: a loss), or null when either has none. */
export function mapDrop(a: AccuracyReport, b: AccuracyReport): number | null {
  return a.map5095 === null || b.map5095 === null ? null : a.map5095 - b.map5095;
}

/** A model as validate, compare and sweep hold it, to be scored on a dataset. */
export interface ModelToScore {
  bytes: Uint8Array;
  choice: ProviderChoice;
  family: string;
  metadata: readonly { key: string; value: string }[];
  /** The detector format of its outputs (null: not a detector onnx-attn decodes). */
  format: Format | null;
  label: string;
}

/** Loads the dataset (unless given, loaded already), opens a session per model, scores them all and closes the sessions. */
export async function scoreOnDataset(
  models: readonly ModelToScore[],
  specs: readonly InputSpec[],
  settings: RunSettings,
  options: AccuracyOptions,
  loaded?: Dataset,
): Promise<AccuracyReport[]> {
  checkAccuracyOptions(options);
  if (options.dataset === undefined) throw new UsageError('scoreOnDataset needs a dataset');
  const undecodable = models.find((m) => m.format === null);
  if (undecodable)
    throw new ModelError(
      `--dataset: the outputs of the ${undecodable.label} are not a detector format onnx-attn decodes (YOLOv5, YOLOv8/11, RT-DETR); accuracy needs boxes`,
    );
  const dataset = loaded ?? (await loadDataset(options.dataset));
  const sessions: ModelSession[] = [];
  try {
    for (const m of models) sessions.push(await openSession(m.bytes, sessionOptions(m.choice, settings), m.label));
    return await evaluateModels(
      models.map((m, k) => ({ session: sessions[k]!, format: m.format!, family: m.family, classNames: modelClassNames(m.metadata) })),
      specs,
      dataset,
      options,
      settings.onProgress,
    );
  } finally {
    for (const s of sessions) await s.release();
  }
}
