/**
 * onnx-attn's library API: the same verbs as the CLI (load → locate → build → splice → check → save, then
 * inspect, convert, validate, compare). The CLI does not import this index: each command loads the files of its own
 * verb lazily, so start-up does not load every verb (issue #15; ARCHITECTURE.md, stage edge).
 */
import { apply as applyPlan, type ApplyOptions, type ApplyResult } from './apply.js';
import { applyReportWriter } from './report/apply.js';

export {
  ExitCode,
  UsageError,
  ModelError,
  LocateError,
  BuildError,
  MismatchError,
  EpUnavailableError,
  DataFileError,
  OnnxAttnError,
  isOnnxAttnError,
  type ExitCodeValue,
  type OnnxAttnErrorName,
} from './errors.js';
export { loadModel, loadModelSync, decodeModel, type OnnxModel, type LoadOptions } from './onnx/load.js';
export { saveModel, stageModel, encodeModel, type SaveOptions, type SaveResult, type StagedModel, type ExternalDataMode } from './onnx/save.js';
export { Graph, Node, Value, type Dim, type TensorType } from './graph/graph.js';
export { inferShapes } from './graph/shapes.js';
export { analyzeStructure, type Family, type Layer, type HeadInput, type ModelStructure } from './locate/structure.js';
export { locate, splitSpecs, type Site } from './locate/locate.js';
export { analyzeModel, type AnalyzedModel } from './analysis.js';
export {
  inspect,
  summarize,
  type InspectResult,
  type InspectOptions,
  type LayerSummary,
  type HeadSummary,
  type SiteSummary,
  type TensorSummary,
} from './inspect.js';
export { convert, type ConvertOptions } from './convert.js';
export {
  insertIntoFile,
  planInsertions,
  applyInsertions,
  applyInsertItems,
  type InsertOptions,
  type InsertFileOptions,
  type InsertResult,
  type Insertion,
  type InsertionPlan,
  type InsertItemsOptions,
} from './insert.js';
export { checkStructure } from './check.js';
export { checkRun, checkRunInputs, type RunCheck } from './runtime/check-run.js';
export { MODULES, findModule, resolveOptions, describeModules } from './modules/index.js';
export type { AttentionModule, ModuleContext } from './modules/types.js';
export { ModuleBuilder } from './modules/builder.js';
export { standaloneModel } from './modules/standalone.js';
export { readTensorFile } from './weights/read.js';
export { resolveWeights } from './weights/match.js';
export { initWeights } from './weights/init.js';
export { readTorchCheckpoint, type TorchCheckpoint } from './weights/torch-checkpoint.js';
export { decodeTensor, type TensorRef, type TorchDtype } from './weights/torch-tensor.js';
export { torchCode, type TorchCode, type TorchCodeOptions, type LayerShift } from './torch-code.js';
export { validate, type ValidateResult, type ValidateOptions } from './validate.js';
export type { RuntimeOptions, ModelSource } from './runtime/shared.js';
export { compare, type CompareResult, type CompareOptions, type OutputComparison, type DetectionAgreement } from './compare.js';
export { sweep, rankRows, expandPoints, type SweepResult, type SweepRow, type SweepOptions, type SweepSkip, type RankKey } from './sweep.js';
export type { Overhead } from './runtime/paired.js';
export type { PartMetrics, PartName } from './runtime/parts.js';
export { writeReports, renderReport, type Reportable } from './report/index.js';
export { cocoEvaluate, type CocoEvalResult, type CocoEvalOptions, type GroundTruth, type DetectionBox } from './accuracy/cocoeval.js';
export { loadDataset, type Dataset, type DatasetImage, type DatasetCategory } from './accuracy/dataset.js';
export type { AccuracyOptions, AccuracyReport, ClassAccuracy } from './accuracy/evaluate.js';
export { doctor, type DoctorReport } from './doctor.js';
export { VERSION } from './version.js';
export type { ApplyOptions, ApplyResult, ApplyEntryResult } from './apply.js';

/** `onnx-attn apply PLAN` (src/apply.ts), its reports (the plan's `reports:` and `options.reports`) written as the CLI writes them. */
export function apply(planFile: string, options: ApplyOptions = {}): Promise<ApplyResult> {
  return applyPlan(planFile, { ...options, reportWriter: options.reportWriter ?? applyReportWriter });
}

/** `apply --check`: exit 0 when every output is byte-identical to what apply would write now. */
export function checkPlan(planFile: string, options: Omit<ApplyOptions, 'check' | 'dryRun'> = {}): Promise<ApplyResult> {
  return apply(planFile, { ...options, check: true });
}
