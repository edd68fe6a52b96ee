import type { UnzipFileInfo } from 'fflate';
import { readPickle, type PickleLimits } from './pickle.js';
import { kindOf, Opaque, PickleError, PyDict, PyGlobal, PyTuple, type PickleValue } from './pickle-values.js';
import { CheckpointError, rebuild, STORAGE_TYPES, type Storage, type TorchDtype } from './torch-tensor.js';
import { zipReader } from './zip.js';

/**
 * The two containers torch.save writes, read to the pickled object with its storages attached: the zip format
 * (`<top>/data.pkl`, `<top>/data/<key>`, `<top>/byteorder`, `<top>/version`; the top folder is named after the file
 * as often as `archive`) and the legacy non-zip format (magic number, protocol, sys_info, the object, the storage
 * keys, then each storage's raw bytes). Storage sizes are checked against their records, zip entries against size
 * and ratio bounds.
 */

export interface CheckpointLimits extends PickleLimits {
  /** Nesting of modules and dicts walked to find the state_dict (default 500). */
  maxDepth?: number;
  /** Largest inflated size of a compressed zip entry (default 256 MiB; PyTorch stores its records uncompressed). */
  maxInflated?: number;
}

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

// ---------------------------------------------------------------------------------------------------------------
// Zip format

export function readZip(data: Uint8Array, limits: CheckpointLimits): PickleValue {
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
    entries = zipReader().unzipSync(data, { filter });
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

export function readLegacy(data: Uint8Array, limits: CheckpointLimits): PickleValue {
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
