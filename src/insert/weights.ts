import { aboutOption, isOnnxAttnError, UsageError, type InsertOptionKey } from '../errors.js';
import { splitSpecs } from '../locate/locate.js';
import type { ModuleContext, ParamSpec, Weights } from '../modules/types.js';
import { initWeights } from '../weights/init.js';
import { resolveWeights } from '../weights/match.js';
import { readTensorFile } from '../weights/read.js';
import { pickModuleTensors, tensorSource, type TensorSource } from '../weights/select.js';
import type { NamedTensor } from '../weights/tensor.js';
import { isTorchCheckpointPath } from '../weights/torch-checkpoint.js';
import type { InsertOptions } from './options.js';

/**
 * Where each insertion point's weights come from: made (`init`, `seed`), read from one of the `--weights` files
 * (one per point, or one with `0.`, `1.` point prefixes, or one for every point), or picked out of a checkpoint's
 * whole-model state_dict by its key prefix. Each file is read once for all the points that use it.
 */

/** One point's weights and how they were obtained (what the insertion reports). */
export interface PointWeights {
  weights: Weights;
  init: 'torch' | 'random' | 'weights';
  seed: number | null;
  /** The file the weights came from, or null when they were made. */
  file: string | null;
  /** The module's key prefix in a checkpoint's state_dict (`model.24.`), when picked from one. */
  prefix?: string;
}

export interface PointWeightsSource {
  /** The weights of point j (in point order), of the module's parameters at that point. */
  forPoint(j: number, point: string, ctx: ModuleContext, params: readonly ParamSpec[]): PointWeights;
}

/** An error of a weights file or checkpoint, marked with the option it came from (for a plan's key). */
function marked<T>(option: InsertOptionKey, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (isOnnxAttnError(e)) throw aboutOption(e, option);
    throw e;
  }
}

/**
 * Checks the weights options against each other and the number of points, and returns the source the points
 * draw from. Nothing is read until a point asks.
 */
export function pointWeightsSource(options: InsertOptions, moduleName: string, pointCount: number): PointWeightsSource {
  const weightFiles = options.weights ? splitSpecs(options.weights) : [];
  if (weightFiles.length > 0 && (options.init !== undefined || options.seed !== undefined)) {
    const flag = options.init !== undefined ? 'init' : 'seed';
    throw new UsageError(`--weights gives the module's weights, so --${flag} would be ignored; pass one or the other`, { option: 'weights' });
  }
  if (weightFiles.length > 1 && weightFiles.length !== pointCount) {
    throw new UsageError(`--weights names ${weightFiles.length} files for ${pointCount} insertion points; give one per point, or one file`, {
      option: 'weights',
    });
  }
  const weightPrefixes = options.weightsPrefix !== undefined ? splitSpecs(options.weightsPrefix) : [];
  if (weightPrefixes.length > 0 && weightFiles.length === 0) {
    throw new UsageError('--weights-prefix names a module inside a --weights file; give --weights too', { option: 'weights-prefix' });
  }
  if (weightPrefixes.length > 1 && weightPrefixes.length !== pointCount) {
    throw new UsageError(
      `--weights-prefix names ${weightPrefixes.length} prefixes for ${pointCount} insertion points; give one per point, in point order, or one`,
      { option: 'weights-prefix' },
    );
  }
  const sources = new Map<string, TensorSource>();
  const fileCache = new Map<string, Map<string, NamedTensor>>();
  // The module's keys and shapes: an .npz of someone else's tensors, or of oversized ones, is refused before it is inflated.
  const readFile = (f: string, params: readonly { key: string; shape: readonly number[] }[]) => {
    let t = fileCache.get(f);
    if (!t) {
      const expect = { keys: new Set(params.map((p) => p.key)), shapes: new Map(params.map((p) => [p.key, p.shape])), module: moduleName };
      t = readTensorFile(f, { expect }).tensors;
      fileCache.set(f, t);
    }
    return t;
  };
  const shared = weightFiles.length === 1;
  return {
    forPoint(j, point, ctx, params) {
      const init = options.init ?? 'torch';
      const seed = (options.seed ?? 0) + j;
      if (weightFiles.length === 0 || params.length === 0) return { weights: initWeights(params, init, seed), init, seed, file: null };
      const file = shared ? weightFiles[0]! : weightFiles[j]!;
      if (weightPrefixes.length > 0 || isTorchCheckpointPath(file)) {
        // A whole model's state_dict (a .pt checkpoint): this point's module by its key prefix, given or found.
        const source = marked('weights', () => sources.get(file) ?? sources.set(file, tensorSource(file)).get(file)!);
        const prefix = weightPrefixes.length === 0 ? {} : { prefix: weightPrefixes[weightPrefixes.length === 1 ? 0 : j]! };
        const picked = marked('weights-prefix', () =>
          pickModuleTensors(source, params, {
            ...prefix,
            module: moduleName,
            point: `${point} (C=${ctx.channels})`,
            pointIndex: shared ? j : 0,
            pointCount: shared ? pointCount : 1,
          }),
        );
        const weights = marked('weights', () =>
          resolveWeights(params, picked.prefix ? `${file} at ${picked.prefix}` : file, picked.tensors, { module: moduleName, context: `C=${ctx.channels}` }),
        );
        return { weights, init: 'weights', seed: null, file, prefix: picked.prefix };
      }
      const weights = marked('weights', () => {
        const tensors = readFile(file, params);
        const prefixed = shared && [...tensors.keys()].some((key) => /^\d+\./.test(key));
        return resolveWeights(params, file, tensors, prefixed ? { prefix: `${j}.` } : {});
      });
      return { weights, init: 'weights', seed: null, file };
    },
  };
}
