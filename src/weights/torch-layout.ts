import { kindOf, Opaque, PyDict, PyObject, PySet, type PickleValue } from './pickle-values.js';
import { CheckpointError, type TensorRef } from './torch-tensor.js';

/**
 * Where a checkpoint keeps its state_dict: yolov5 and ultralytics `{'model': Model (pickled whole), 'ema': Model |
 * None, ...}` (ema first, as their loaders do), official RT-DETR `{'model': state_dict}` and `{'ema': {'module':
 * state_dict}}`, `{'state_dict': ...}`, a module pickled whole, and a bare state_dict. A module pickled whole is an
 * inert object tree (`PyObject`s) whose `_parameters`, `_buffers` and `_modules` give the state_dict keys PyTorch
 * would (`model.24.Channel_Att.bn2.weight`).
 */

const isTensor = (v: PickleValue | undefined): v is Opaque => v instanceof Opaque && v.what === 'tensor';

/** A module pickled whole: an object whose state has `_parameters` and `_modules`. */
function isModule(v: PickleValue | undefined): v is PyObject {
  return v instanceof PyObject && v.state instanceof PyDict && v.state.has('_parameters') && v.state.has('_modules');
}

function isStateDict(v: PickleValue | undefined): boolean {
  if (!(v instanceof PyDict) || v.size === 0) return false;
  let tensors = 0;
  for (const [k, x] of v.items()) {
    if (typeof k !== 'string') return false;
    if (isTensor(x)) tensors++;
  }
  return tensors > 0 && tensors >= v.size / 2;
}

export function stateDictOf(root: PickleValue, maxDepth: number): { tensors: Map<string, TensorRef>; layout: string } {
  const fromModule = (m: PyObject, where: string) => ({ tensors: moduleStateDict(m, maxDepth), layout: `${where} (${m.cls.qualified} pickled whole)` });
  const fromDict = (d: PyDict, where: string) => {
    const tensors = new Map<string, TensorRef>();
    for (const [k, v] of d.items()) if (typeof k === 'string' && isTensor(v)) tensors.set(k, v.payload as TensorRef);
    return { tensors, layout: `${where} (a state_dict)` };
  };
  if (isModule(root)) return fromModule(root, 'the file');
  if (!(root instanceof PyDict)) throw new CheckpointError(`the checkpoint holds a ${kindOf(root)}, not a dict or a module`);
  if (isStateDict(root)) return fromDict(root, 'the file');
  // yolov5/ultralytics/RT-DETR loaders take the EMA weights when there are any.
  for (const key of ['ema', 'model', 'state_dict', 'model_state_dict', 'module', 'net']) {
    const v = root.get(key);
    if (v === undefined || v === null) continue;
    if (isModule(v)) return fromModule(v, `'${key}'`);
    if (isStateDict(v)) return fromDict(v as PyDict, `'${key}'`);
    if (v instanceof PyDict) {
      const inner = v.get('module') ?? v.get('state_dict') ?? v.get('model');
      if (isModule(inner)) return fromModule(inner, `'${key}'`);
      if (isStateDict(inner)) return fromDict(inner as PyDict, `'${key}' → '${v.has('module') ? 'module' : v.has('state_dict') ? 'state_dict' : 'model'}'`);
    }
  }
  const keys = [...root.items()].map(([k]) => String(k)).slice(0, 12);
  throw new CheckpointError(
    `no state_dict or model in it (top-level keys: ${keys.join(', ') || 'none'}); expected 'model', 'ema', 'state_dict' or a bare state_dict`,
  );
}

/** `module.state_dict()` of an inert module tree: parameters, persistent buffers, then submodules, dotted. */
function moduleStateDict(root: PyObject, maxDepth: number): Map<string, TensorRef> {
  const out = new Map<string, TensorRef>();
  const onPath = new Set<PyObject>();
  const walk = (m: PyObject, prefix: string, depth: number) => {
    if (depth > maxDepth) throw new CheckpointError(`modules nest deeper than ${maxDepth} levels (a recursion bomb?)`);
    if (onPath.has(m)) throw new CheckpointError(`module ${prefix || '(root)'} contains itself`);
    onPath.add(m);
    const state = m.state as PyDict;
    const skip = new Set<string>();
    const np = state.get('_non_persistent_buffers_set');
    if (np instanceof PySet || (np instanceof PyObject && Array.isArray(np.args[0]))) {
      for (const name of np instanceof PySet ? np.items : (np.args[0] as PickleValue[])) if (typeof name === 'string') skip.add(name);
    }
    for (const slot of ['_parameters', '_buffers'] as const) {
      const d = state.get(slot);
      if (d === undefined || d === null) continue;
      if (!(d instanceof PyDict)) throw new CheckpointError(`${prefix}${slot} is a ${kindOf(d)}, not a dict`);
      for (const [k, v] of d.items()) {
        if (typeof k !== 'string' || v === null) continue;
        if (slot === '_buffers' && skip.has(k)) continue;
        if (!isTensor(v)) throw new CheckpointError(`${prefix}${k} is a ${kindOf(v)}, not a tensor`);
        out.set(`${prefix}${k}`, v.payload as TensorRef);
      }
    }
    const mods = state.get('_modules');
    if (mods instanceof PyDict) {
      for (const [k, v] of mods.items()) {
        if (typeof k !== 'string' || v === null) continue;
        if (!isModule(v)) throw new CheckpointError(`${prefix}${k} is a ${kindOf(v)}, not a module`);
        walk(v, `${prefix}${k}.`, depth + 1);
      }
    } else if (mods !== undefined && mods !== null) throw new CheckpointError(`${prefix}_modules is a ${kindOf(mods)}, not a dict`);
    onPath.delete(m);
  };
  walk(root, '', 0);
  return out;
}
