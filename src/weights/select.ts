import { UsageError } from '../errors.js';
import type { ParamSpec } from '../modules/types.js';
import { fmtShape } from './messages.js';
import { readTensorFile } from './read.js';
import type { NamedTensor } from './tensor.js';
import { isTorchCheckpointPath, readTorchCheckpoint } from './torch-checkpoint.js';
import { decodeTensor, type TensorRef } from './torch-tensor.js';

/**
 * Picking one module's tensors out of a whole model's state_dict: by the prefix the user gives
 * (`--weights-prefix model.24.`), or found from the module's reference keys and this point's shapes.
 */

/** A file's tensors by key, in file order, decoded only when picked. */
export interface TensorSource {
  file: string;
  /** Where the state_dict came from (checkpoints), for messages. */
  layout: string | null;
  shapes: Map<string, readonly number[]>;
  load(key: string): NamedTensor;
}

/** Reads a weights file as a source: a PyTorch checkpoint lazily, the other formats through `readTensorFile`. */
export function tensorSource(file: string): TensorSource {
  if (isTorchCheckpointPath(file)) {
    const ckpt = readTorchCheckpoint(file);
    const refs: Map<string, TensorRef> = ckpt.tensors;
    return {
      file,
      layout: ckpt.layout,
      shapes: new Map([...refs].map(([k, t]) => [k, t.shape])),
      load: (key) => decodeTensor(refs.get(key)!),
    };
  }
  const { tensors } = readTensorFile(file);
  return { file, layout: null, shapes: new Map([...tensors].map(([k, t]) => [k, t.shape])), load: (key) => tensors.get(key)! };
}

export interface PickOptions {
  /** `--weights-prefix` for this point (`model.24.`; a missing final dot is added). */
  prefix?: string;
  /** Module name and this point, for messages: `NAM`, `23 (C=32)`. */
  module: string;
  point: string;
  /** This point's index among the points sharing the file, and their count (for point-order matching). */
  pointIndex: number;
  pointCount: number;
}

/** A prefix and the shapes of the module's tensors under it. */
interface Candidate {
  prefix: string;
  shapesMatch: boolean;
}

const sameShape = (a: readonly number[] | undefined, b: readonly number[]) => !!a && a.length === b.length && a.every((d, i) => d === b[i]);

/** Every prefix under which all of the module's (non-counter) keys exist, in the file's order. */
function candidates(source: TensorSource, params: readonly ParamSpec[]): Candidate[] {
  const required = params.filter((p) => p.init.kind !== 'count');
  const first = required[0];
  if (!first) return [];
  const found: Candidate[] = [];
  for (const key of source.shapes.keys()) {
    if (key !== first.key && !key.endsWith(`.${first.key}`)) continue;
    const prefix = key.slice(0, key.length - first.key.length);
    if (!required.every((p) => source.shapes.has(prefix + p.key))) continue;
    found.push({ prefix, shapesMatch: required.every((p) => sameShape(source.shapes.get(prefix + p.key), p.shape)) });
  }
  return found;
}

/** `model.24. (Channel_Att.bn2.weight [32])`: a candidate with the shape of its first key. */
function describe(source: TensorSource, c: Candidate, key: string): string {
  return `${c.prefix || '(no prefix)'} (${key} ${fmtShape(source.shapes.get(c.prefix + key) ?? [])})`;
}

/**
 * The tensors of the module at this point, keys without the prefix (all keys under it, so that `resolveWeights`
 * still names keys the module does not use), and the prefix used.
 *
 * Raises: UsageError (exit 2) when a given prefix holds no key, or when none or several modules match and no prefix
 * was given; the message lists the candidates with their prefixes and shapes.
 */
export function pickModuleTensors(
  source: TensorSource,
  params: readonly ParamSpec[],
  options: PickOptions,
): { prefix: string; tensors: Map<string, NamedTensor> } {
  const found = candidates(source, params);
  const firstKey = params.find((p) => p.init.kind !== 'count')?.key ?? '';
  const list = (cs: Candidate[]) => {
    const shown = cs
      .slice(0, 8)
      .map((c) => describe(source, c, firstKey))
      .join(', ');
    return cs.length > 8 ? `${shown}, ... (${cs.length - 8} more)` : shown;
  };
  const where = `${source.file}${source.layout ? ` (${source.layout})` : ''}`;
  let prefix: string;
  if (options.prefix !== undefined) {
    prefix = options.prefix === '' || options.prefix.endsWith('.') ? options.prefix : `${options.prefix}.`;
    if (![...source.shapes.keys()].some((k) => k.startsWith(prefix))) {
      throw new UsageError(
        `${where} has no tensor under --weights-prefix '${prefix}'${found.length ? `; modules with ${options.module}'s keys: ${list(found)}` : `; no module in it has ${options.module}'s keys (${firstKey}, ...)`}`,
      );
    }
  } else {
    const matching = found.filter((c) => c.shapesMatch);
    if (matching.length === 1) prefix = matching[0]!.prefix;
    else if (options.pointCount > 1 && matching.length === options.pointCount) {
      // As many fitting modules as points (--after head): the k-th in the checkpoint's order goes to the k-th point.
      prefix = matching[options.pointIndex]!.prefix;
    } else if (found.length === 0) {
      throw new UsageError(
        `${where}: no module in it has ${options.module}'s state_dict keys (${params
          .filter((p) => p.init.kind !== 'count')
          .slice(0, 3)
          .map((p) => p.key)
          .join(', ')}, ...) for ${options.point}; check --module and --opt, or name the module with --weights-prefix`,
      );
    } else if (matching.length === 0) {
      const expected = params.find((p) => p.key === firstKey)!.shape;
      throw new UsageError(
        `${where}: no ${options.module} in it fits ${options.point}, which needs ${firstKey} ${fmtShape(expected)}; found ${list(found)}; insert where the channel count matches, or pass --weights-prefix`,
      );
    } else {
      throw new UsageError(
        `${where}: ${matching.length} modules fit ${options.module} at ${options.point}: ${list(matching)}; pass --weights-prefix (one per point, in point order)`,
      );
    }
  }
  const tensors = new Map<string, NamedTensor>();
  for (const key of source.shapes.keys()) if (key.startsWith(prefix)) tensors.set(key.slice(prefix.length), source.load(key));
  return { prefix, tensors };
}
