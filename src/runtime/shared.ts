import { UsageError } from '../errors.js';
import type { OnnxModel } from '../onnx/load.js';
import { listOf, numberIn, oneOf } from '../options.js';
import { opencvVersion, RUNTIMES, type RuntimeName } from './opencv.js';
import type { Placement } from './placement.js';
import { chooseProviders, parseEp, type EpName, type ProviderChoice } from './providers.js';
import type { RunSettings } from './run.js';

// What validate, compare and sweep share to run a model: the runtime options and their checks, the provider
// choice and its report, where the nodes ran.

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

/** A file, or a model already in memory (patched by the library, say): what validate and compare run. */
export type ModelSource = string | OnnxModel;

/** How a source is named in results and reports: its path, or what it is when it lives in memory. */
export function sourceName(source: ModelSource): string {
  return typeof source === 'string' ? source : `(in memory${source.path ? `, loaded from ${source.path}` : ''})`;
}

/** `detections`, `conf` and `iou` of validate and compare, checked as the CLI checks its flags. */
export function checkDetectionOptions(options: { detections?: 'auto' | 'off'; conf?: number; iou?: number }): void {
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

export interface PlacementCheck {
  required: string;
  /** Inserted nodes checked, or every node when the model has none inserted. */
  checked: number;
  offProvider: { node: string; ep: string }[];
  pass: boolean;
}

export function placementCheck(placement: Placement | null, required: string | undefined): PlacementCheck | null {
  if (!required || !placement) return null;
  const ep = parseEp(required);
  const nodes = placement.inserted.length > 0 ? placement.inserted : Object.entries(placement.nodes).map(([node, e]) => ({ node, ep: e }));
  const off = nodes.filter((n) => n.ep !== ep);
  return { required: ep, checked: nodes.length, offProvider: off, pass: off.length === 0 };
}
