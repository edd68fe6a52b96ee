import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync, type UnzipFileInfo } from 'fflate';
import { DataFileError, UsageError } from '../errors.js';
import { MAX_WEIGHTS_FILE_BYTES, mib } from '../limits.js';
import { float16Value } from '../onnx/float16.js';
import type { NamedTensor, TensorFile } from '../modules/weights.js';
import { kindOf, Opaque, PickleError, PyDict, PyGlobal, PyObject, PySet, PyTuple, readPickle, type PickleLimits, type PickleValue } from './pickle.js';

/**
 * PyTorch checkpoints (`torch.save`) read without Python and without running anything: the zip format
 * (`<top>/data.pkl`, `<top>/data/<key>`, `<top>/byteorder`, `<top>/version`; the top folder is named after the file
 * as often as `archive`) and the legacy non-zip format (magic number, protocol, sys_info, the object, the storage
 * keys, then each storage's raw bytes), as torch/serialization.py writes them.
 *
 * Layouts: yolov5 and ultralytics `{'model': Model (pickled whole), 'ema': Model | None, ...}` (ema first, as their
 * loaders do), official RT-DETR `{'model': state_dict}` and `{'ema': {'module': state_dict}}`, `{'state_dict': ...}`,
 * a module pickled whole, and a bare state_dict. A module pickled whole is an inert object tree (`PyObject`s) whose
 * `_parameters`, `_buffers` and `_modules` give the state_dict keys PyTorch would (`model.24.Channel_Att.bn2.weight`).
 *
 * Everything read from the file is checked: storage sizes against their records, tensor views (sizes, strides,
 * offsets) against their storages, zip entries against size and ratio bounds. Failures are `DataFileError` (exit 4),
 * one line naming the file.
 */

/** An element type of a PyTorch storage. */
export type TorchDtype = 'F16' | 'BF16' | 'F32' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const STORAGE_TYPES: Record<string, { dtype: TorchDtype; size: number }> = {
  HalfStorage: { dtype: 'F16', size: 2 },
  BFloat16Storage: { dtype: 'BF16', size: 2 },
  FloatStorage: { dtype: 'F32', size: 4 },
  DoubleStorage: { dtype: 'F64', size: 8 },
  LongStorage: { dtype: 'I64', size: 8 },
  IntStorage: { dtype: 'I32', size: 4 },
  ShortStorage: { dtype: 'I16', size: 2 },
  CharStorage: { dtype: 'I8', size: 1 },
  ByteStorage: { dtype: 'U8', size: 1 },
  BoolStorage: { dtype: 'BOOL', size: 1 },
};

interface Storage {
  key: string;
  dtype: TorchDtype;
  itemSize: number;
  numel: number;
  bytes: Uint8Array;
  bigEndian: boolean;
}

/** A tensor as the checkpoint stores it: a view (offset, sizes, strides in elements) of a storage. */
export interface TensorRef {
  dtype: TorchDtype;
  shape: number[];
  stride: number[];
  offset: number;
  storage: Storage;
}

export interface TorchCheckpoint {
  file: string;
  /** Where the state_dict came from, for messages: `'ema' (a model pickled whole)`, `'model' (a state_dict)`, ... */
  layout: string;
  /** The state_dict, keys as PyTorch names them, in the order the checkpoint holds them. */
  tensors: Map<string, TensorRef>;
}

export interface CheckpointLimits extends PickleLimits {
  /** Nesting of modules and dicts walked to find the state_dict (default 500). */
  maxDepth?: number;
  /** Largest inflated size of a compressed zip entry (default 256 MiB; PyTorch stores its records uncompressed). */
  maxInflated?: number;
}

/** `.pt` and `.pth`: the extensions `--weights` reads as PyTorch checkpoints. */
export function isTorchCheckpointPath(file: string): boolean {
  return ['.pt', '.pth'].includes(path.extname(file).toLowerCase());
}

class CheckpointError extends Error {}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/**
 * Reads a checkpoint file into its state_dict (tensors not decoded yet: see `decodeTensor`).
 *
 * Raises: UsageError (exit 2) for a path that names no readable regular file; DataFileError (exit 4) for a file that is not a PyTorch checkpoint, a
 * pickle that calls anything but the tensor-rebuild functions and inert classes, a storage whose size disagrees with
 * its record, a view outside its storage, a zip bomb, or any bound exceeded. Cost: one read of the file; tensor
 * bytes stay views of it.
 */
export function readTorchCheckpoint(file: string, limits: CheckpointLimits = {}): TorchCheckpoint {
  let bytes: Buffer;
  try {
    // A FIFO or a device would block the read or never end.
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: stat.isDirectory() ? 'EISDIR' : 'not a regular file' });
    if (stat.size > MAX_WEIGHTS_FILE_BYTES)
      throw new DataFileError(`${file}: ${stat.size} bytes, over the ${mib(MAX_WEIGHTS_FILE_BYTES)} limit for a weights file`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof DataFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? String(e)})`;
    throw new UsageError(`${file}: ${why}`);
  }
  return parseTorchCheckpoint(file, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), limits);
}

/** `readTorchCheckpoint` on bytes in memory; `file` names it in messages. */
export function parseTorchCheckpoint(file: string, data: Uint8Array, limits: CheckpointLimits = {}): TorchCheckpoint {
  try {
    const root = ZIP_MAGIC.every((b, i) => data[i] === b) ? readZip(data, limits) : readLegacy(data, limits);
    const { tensors, layout } = stateDictOf(root, limits.maxDepth ?? 500);
    return { file, layout, tensors };
  } catch (e) {
    if (e instanceof PickleError) {
      const refused = /refusing|could run code|calls /.test(e.message);
      throw new DataFileError(
        `${file}: ${refused ? 'refused' : 'not a valid PyTorch checkpoint'}: ${shown(e.message)}${refused ? ' (onnx-attn reads weights without running code)' : ''}`,
      );
    }
    if (e instanceof CheckpointError || e instanceof RangeError) throw new DataFileError(`${file}: not a valid PyTorch checkpoint: ${shown(e.message)}`);
    throw e;
  }
}

/** Names from a damaged file (zip entries, pickled names) can be long and hold newlines: one short line. */
function shown(message: string): string {
  const escaped = message.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 400 ? `${escaped.slice(0, 400)}…` : escaped;
}

// ---------------------------------------------------------------------------------------------------------------
// Zip format

function readZip(data: Uint8Array, limits: CheckpointLimits): PickleValue {
  const maxInflated = limits.maxInflated ?? 256 * 1024 * 1024;
  // Checked from the zip's directory, before anything is inflated (PyTorch itself stores every record uncompressed).
  const filter = (f: UnzipFileInfo) => {
    if (f.compression !== 0 && f.compression !== 8) throw new CheckpointError(`entry ${f.name} uses compression method ${f.compression}`);
    if (f.compression === 8 && (f.originalSize > maxInflated || f.originalSize > 200 * Math.max(f.size, 1))) {
      throw new CheckpointError(`entry ${f.name} inflates from ${f.size} to ${f.originalSize} bytes (a zip bomb?)`);
    }
    if (f.compression === 0 && f.originalSize !== f.size) throw new CheckpointError(`stored entry ${f.name} has sizes ${f.size} and ${f.originalSize}`);
    return true;
  };
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(data, { filter });
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`a damaged or truncated zip (${(e as Error).message})`);
  }
  const pkl = Object.keys(entries).filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    throw new CheckpointError(
      pkl.length === 0 ? 'a zip without <folder>/data.pkl (not written by torch.save?)' : `a zip with ${pkl.length} data.pkl files (${pkl.join(', ')})`,
    );
  }
  const top = pkl[0]!.slice(0, -'data.pkl'.length);
  const outside = Object.keys(entries).find((n) => !n.startsWith(top));
  if (outside) throw new CheckpointError(`zip entry ${outside} lies outside ${top} (not written by torch.save?)`);
  const order = entries[`${top}byteorder`];
  const byteorder = order ? new TextDecoder().decode(order).trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') throw new CheckpointError(`${top}byteorder says '${byteorder.slice(0, 20)}'`);
  const storages = new Map<string, Storage>();
  const value = readPickle(
    entries[pkl[0]!]!,
    0,
    {
      persistentLoad: (pid) => {
        const { dtype, itemSize, key, numel } = storageId(pid, 5);
        const known = storages.get(key);
        if (known) {
          if (known.dtype !== dtype) throw new CheckpointError(`storage ${key} is read as ${known.dtype} and as ${dtype}`);
          return new Opaque('storage', known);
        }
        const record = entries[`${top}data/${key}`];
        if (!record) throw new CheckpointError(`storage ${key} has no record ${top}data/${key} (truncated?)`);
        if (record.length !== numel * itemSize) {
          throw new CheckpointError(
            `storage ${key} holds ${numel} ${dtype} values (${numel * itemSize} bytes), but its record ${top}data/${key} has ${record.length} bytes`,
          );
        }
        const storage: Storage = { key, dtype, itemSize, numel, bytes: record, bigEndian: byteorder === 'big' };
        storages.set(key, storage);
        return new Opaque('storage', storage);
      },
      call: rebuild,
    },
    limits,
  ).value;
  return value;
}

/** `('storage', torch.HalfStorage, key, location, numel[, view_metadata])`: its dtype, key and element count. */
function storageId(pid: PickleValue, minItems: number): { dtype: TorchDtype; itemSize: number; key: string; numel: number; view: PickleValue } {
  if (!(pid instanceof PyTuple) || pid.items.length < minItems || pid.items[0] !== 'storage') {
    throw new PickleError(
      `a persistent id that is not a storage (${kindOf(pid)}${pid instanceof PyTuple ? ` of ${pid.items.length}, first ${JSON.stringify(String(pid.items[0]).slice(0, 40))}` : ''})`,
    );
  }
  const [, type, key, , numel, view] = pid.items;
  if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGE_TYPES)) {
    throw new CheckpointError(
      `storage type ${type instanceof PyGlobal ? type.qualified : kindOf(type)} is not supported (${Object.keys(STORAGE_TYPES).join(', ')})`,
    );
  }
  if (typeof key !== 'string' || !/^[\w.-]{1,200}$/.test(key)) throw new CheckpointError(`a storage key ${JSON.stringify(String(key).slice(0, 40))}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new CheckpointError(`storage ${key} has ${String(numel)} elements`);
  const { dtype, size } = STORAGE_TYPES[type.name]!;
  return { dtype, itemSize: size, key, numel, view: view ?? null };
}

// ---------------------------------------------------------------------------------------------------------------
// Legacy format (torch.save(..., _use_new_zipfile_serialization=False))

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function readLegacy(data: Uint8Array, limits: CheckpointLimits): PickleValue {
  if (data.length === 0) throw new CheckpointError('an empty file');
  if (data[0] !== 0x80) throw new CheckpointError('neither a zip nor a pickle (not written by torch.save?)');
  let pos = 0;
  const next = (hooks = {}) => {
    const r = readPickle(data, pos, hooks, limits);
    pos = r.end;
    return r.value;
  };
  const magic = next();
  if (typeof magic !== 'bigint' || magic !== LEGACY_MAGIC) {
    throw new CheckpointError("a pickle without PyTorch's magic number (a plain pickle, or a tar checkpoint from before PyTorch 0.4?)");
  }
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) throw new CheckpointError(`legacy protocol ${String(protocol)} (expected ${LEGACY_PROTOCOL})`);
  const sysInfo = next();
  const little = sysInfo instanceof PyDict ? sysInfo.get('little_endian') : undefined;
  const storages = new Map<string, Storage & { views: { storage: Storage; offset: number }[] }>();
  const views = new Map<string, { root: string; offset: number; numel: number; dtype: TorchDtype; itemSize: number }>();
  const root = next({
    persistentLoad: (pid: PickleValue) => {
      // ('module', cls, source_file, source): the legacy format's reference to an nn.Module class (its source is
      // kept for a warning on load); the class is only a name here.
      if (pid instanceof PyTuple && pid.items[0] === 'module') {
        const cls = pid.items[1];
        if (!(cls instanceof PyGlobal)) throw new CheckpointError(`a module class reference to a ${kindOf(cls)}`);
        return cls;
      }
      const { dtype, itemSize, key, numel, view } = storageId(pid, 6);
      let storage = storages.get(key);
      if (!storage) {
        storage = { key, dtype, itemSize, numel, bytes: new Uint8Array(0), bigEndian: little === false, views: [] };
        storages.set(key, storage);
      } else if (storage.dtype !== dtype) throw new CheckpointError(`storage ${key} is read as ${storage.dtype} and as ${dtype}`);
      if (view === null) return new Opaque('storage', storage);
      // (view_key, offset, view_size): a slice of the root storage, as old PyTorch saved storage views.
      const v = view instanceof PyTuple ? view.items : [];
      const [vk, off, size] = v;
      if (typeof vk !== 'string' || typeof off !== 'number' || typeof size !== 'number' || off < 0 || size < 0 || off + size > numel) {
        throw new CheckpointError(`storage view ${String(vk).slice(0, 40)} of ${key} lies outside it`);
      }
      const slot: Storage = { key: vk, dtype, itemSize, numel: size, bytes: new Uint8Array(0), bigEndian: storage.bigEndian };
      storage.views.push({ storage: slot, offset: off });
      views.set(vk, { root: key, offset: off, numel: size, dtype, itemSize });
      return new Opaque('storage', slot);
    },
    call: rebuild,
  });
  const keys = next();
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new CheckpointError('the storage key list is not a list of strings');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (const key of keys) {
    const storage = storages.get(key);
    if (!storage) throw new CheckpointError(`storage key ${key.slice(0, 40)} is listed but no tensor uses it`);
    if (pos + 8 > data.length) throw new CheckpointError(`truncated: storage ${key} starts past the end of the file`);
    const count = dv.getBigInt64(pos, storage.bigEndian ? false : true);
    pos += 8;
    if (count !== BigInt(storage.numel)) throw new CheckpointError(`storage ${key} is declared with ${storage.numel} elements, but its data says ${count}`);
    const n = storage.numel * storage.itemSize;
    if (pos + n > data.length) throw new CheckpointError(`truncated: storage ${key} needs ${n} bytes, ${data.length - pos} left`);
    storage.bytes = data.subarray(pos, pos + n);
    pos += n;
    for (const v of storage.views) v.storage.bytes = storage.bytes.subarray(v.offset * storage.itemSize, (v.offset + v.storage.numel) * storage.itemSize);
  }
  const unread = [...storages.values()].find((s) => !keys.includes(s.key));
  if (unread) throw new CheckpointError(`storage ${unread.key} has no data (truncated?)`);
  return root;
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors

/** The tensor-rebuild functions a checkpoint calls; anything else is refused by the pickle reader. */
function rebuild(fn: PyGlobal, args: PickleValue[]): PickleValue | undefined {
  switch (fn.qualified) {
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      return tensorOf(args);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      const t = args[0];
      if (!(t instanceof Opaque && t.what === 'tensor')) throw new PickleError(`${fn.qualified} of a ${kindOf(t)}, not a tensor`);
      return t;
    }
    case 'torch._tensor._rebuild_from_type':
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): a tensor subclass (nn.Parameter); only func runs, and only if allowed.
      const [inner, , innerArgs] = args;
      if (!(inner instanceof PyGlobal) || !(innerArgs instanceof PyTuple)) throw new PickleError(`${fn.qualified} with malformed arguments`);
      const t = rebuild(inner, innerArgs.items);
      if (t === undefined)
        throw new PickleError(`the pickle calls ${inner.qualified} (through ${fn.qualified}), which is not a tensor-rebuild function; refusing to load it`);
      return t;
    }
    default:
      return undefined;
  }
}

function tensorOf(args: PickleValue[]): Opaque {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Opaque && storage.what === 'storage')) throw new PickleError(`a tensor rebuilt from a ${kindOf(storage)}, not a storage`);
  const s = storage.payload as Storage;
  const ints = (v: PickleValue | undefined, what: string): number[] => {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
    if (!items || items.length > 32 || !items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`a tensor on storage ${s.key} has ${what} ${kindOf(v)} that is not a tuple of non-negative integers`);
    }
    return items as number[];
  };
  const shape = ints(size, 'sizes');
  const strides = ints(stride, 'strides');
  if (strides.length !== shape.length) throw new CheckpointError(`a tensor on storage ${s.key} has ${shape.length} sizes and ${strides.length} strides`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw new CheckpointError(`a tensor on storage ${s.key} has offset ${String(offset)}`);
  const numel = shape.reduce((a, b) => a * b, 1);
  // Views may repeat elements (stride 0), but not without bound: decoding allocates numel values.
  if (!Number.isSafeInteger(numel) || numel > Math.max(16 * s.numel, 1 << 20)) {
    throw new CheckpointError(`a tensor [${shape.join(', ')}] on storage ${s.key} of ${s.numel} elements has too many elements`);
  }
  if (numel > 0) {
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * strides[i]!;
    if (!(last < s.numel)) {
      throw new CheckpointError(
        `a tensor view [${shape.join(', ')}] (offset ${offset}, strides [${strides.join(', ')}]) runs past its storage ${s.key} of ${s.numel} elements`,
      );
    }
  }
  const ref: TensorRef = { dtype: s.dtype, shape, stride: strides, offset, storage: s };
  return new Opaque('tensor', ref);
}

/**
 * A tensor's values in row-major order, gathered through its strides and offset: F16 and BF16 widened to float32
 * (exactly), F32 and F64 as they are, I64 as BigInt64, smaller integers and bools as I32.
 */
export function decodeTensor(t: TensorRef): NamedTensor {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const s = t.storage;
  const dv = new DataView(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength);
  const le = !s.bigEndian;
  const read = (i: number): number | bigint => {
    const at = i * s.itemSize;
    switch (s.dtype) {
      case 'F16':
        return float16Value(dv.getUint16(at, le));
      case 'BF16':
        return new Float32Array(new Uint32Array([dv.getUint16(at, le) << 16]).buffer)[0]!;
      case 'F32':
        return dv.getFloat32(at, le);
      case 'F64':
        return dv.getFloat64(at, le);
      case 'I64':
        return dv.getBigInt64(at, le);
      case 'I32':
        return dv.getInt32(at, le);
      case 'I16':
        return dv.getInt16(at, le);
      case 'I8':
        return dv.getInt8(at);
      case 'U8':
      case 'BOOL':
        return dv.getUint8(at);
    }
  };
  const dtype = t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F32' || t.dtype === 'F64' || t.dtype === 'I64' ? t.dtype : 'I32';
  const data =
    dtype === 'F64' ? new Float64Array(numel) : dtype === 'I64' ? new BigInt64Array(numel) : dtype === 'I32' ? new Int32Array(numel) : new Float32Array(numel);
  // Row-major walk over the view: an index counter per dim, the storage position moved by strides.
  const idx = new Array<number>(t.shape.length).fill(0);
  let at = t.offset;
  for (let n = 0; n < numel; n++) {
    (data as unknown as (number | bigint)[])[n] = read(at);
    for (let d = t.shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      at += t.stride[d]!;
      if (idx[d]! < t.shape[d]!) break;
      at -= idx[d]! * t.stride[d]!;
      idx[d] = 0;
    }
  }
  return { dtype, shape: [...t.shape], data };
}

/** Every tensor of a checkpoint, decoded, keys as PyTorch names them: the `.pt`/`.pth` branch of `readTensorFile`. */
export function readCheckpointTensorFile(file: string): TensorFile {
  const ckpt = readTorchCheckpoint(file);
  const tensors = new Map<string, NamedTensor>();
  for (const [key, t] of ckpt.tensors) tensors.set(key, decodeTensor(t));
  return { tensors, metadata: { layout: ckpt.layout } };
}

// ---------------------------------------------------------------------------------------------------------------
// Layouts: where the state_dict is

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

function stateDictOf(root: PickleValue, maxDepth: number): { tensors: Map<string, TensorRef>; layout: string } {
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
