/**
 * External data: the references a tensor holds (location, offset, length) and opening the files they name, which
 * must be regular files inside the model's folder and hold exactly the bytes the tensor's dims and dtype say.
 */
import * as path from 'node:path';
import { ModelError } from '../errors.js';
import { effects } from '../effects.js';
import { dtypeBytes, dtypeName } from './dtype.js';
import { TensorProto_DataLocation } from './proto.js';
import type { TensorProto } from './proto.js';
import { nonRegularKind, type ReadRange } from './read.js';

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === TensorProto_DataLocation.EXTERNAL;
}

export interface ExternalRef {
  location: string;
  offset: number;
  length: number | null;
}

export function externalRef(t: TensorProto): ExternalRef {
  let location = '';
  let offset = 0;
  let length: number | null = null;
  for (const e of t.externalData) {
    if (e.key === 'location') location = e.value;
    else if (e.key === 'offset') offset = parseIntStrict(e.value, t, 'offset');
    else if (e.key === 'length') length = parseIntStrict(e.value, t, 'length');
  }
  if (!location) throw new ModelError(`tensor '${t.name}' is marked external but has no location: the model is damaged; re-export it`);
  return { location, offset, length };
}

function parseIntStrict(v: string, t: TensorProto, key: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ModelError(`tensor '${t.name}' has an invalid external-data ${key} '${v}': the model is damaged; re-export it`);
  }
  return n;
}

export interface ExternalReads {
  ranges: ReadRange[];
  close(): void;
}

/** Opens every external data file once, checks each tensor's range against its size, and allocates its payload. */
export function openExternal(externalData: Map<TensorProto, Uint8Array>, tensors: readonly TensorProto[], dir: string): ExternalReads {
  const baseDir = effects.fs.realpathSync(dir);
  const fds = new Map<string, { fd: number; size: number }>();
  const close = () => fds.forEach(({ fd }) => effects.fs.closeSync(fd));
  try {
    const ranges = tensors.map((t): ReadRange => {
      const ref = externalRef(t);
      const file = resolveInside(baseDir, ref.location, t);
      let entry = fds.get(file);
      if (!entry) {
        const notFound = () =>
          new ModelError(`external data file '${ref.location}' of tensor '${t.name}' not found next to the model (${file}); copy it beside the .onnx file`);
        let kind: string | null;
        try {
          kind = nonRegularKind(effects.fs.statSync(file));
        } catch {
          throw notFound();
        }
        // Reading a FIFO waits for a writer forever, a device may never end: only regular files hold weights.
        const refuse = (k: string) =>
          new ModelError(
            `external data file '${ref.location}' of tensor '${t.name}' is ${k}, not a regular file (${file}); refused: weights are read from regular files only`,
          );
        if (kind !== null) throw refuse(kind);
        let fd: number;
        try {
          // O_NONBLOCK: if the path became a FIFO since the stat, opening it still returns at once.
          fd = effects.fs.openSync(file, effects.fs.constants.O_RDONLY | effects.fs.constants.O_NONBLOCK);
        } catch {
          throw notFound();
        }
        const stat = effects.fs.fstatSync(fd);
        entry = { fd, size: stat.size };
        fds.set(file, entry);
        kind = nonRegularKind(stat);
        if (kind !== null) throw refuse(kind);
      }
      const length = ref.length ?? entry.size - ref.offset;
      if (ref.offset + length > entry.size || length < 0) {
        throw new ModelError(
          `external data file '${ref.location}' is ${entry.size} bytes, but tensor '${t.name}' needs bytes ${ref.offset}..${ref.offset + length}; the data file is truncated or belongs to another model`,
        );
      }
      // The payload must be what the tensor's dims and dtype say: a length that disagrees is a damaged or hostile
      // file, and it is checked before the bytes are allocated.
      const width = dtypeBytes(t.dataType);
      const expected = width === undefined ? null : t.dims.reduce((n, d) => n * Number(d), 1) * width;
      if (expected !== null && expected !== length) {
        throw new ModelError(
          `tensor '${t.name}' ([${t.dims.join(',')}] ${dtypeName(t.dataType)}, ${expected} bytes) points to ${length} bytes of external data file '${ref.location}'; the model is damaged`,
        );
      }
      let target: Buffer;
      try {
        target = Buffer.allocUnsafe(length);
      } catch (e) {
        throw new ModelError(
          `tensor '${t.name}' needs ${length} bytes of external data ('${ref.location}'), more than can be allocated here (${(e as Error).message.split('.')[0]})`,
          { cause: e },
        );
      }
      externalData.set(t, target);
      return { fd: entry.fd, target, position: ref.offset, what: file };
    });
    return { ranges, close };
  } catch (e) {
    close();
    externalData.clear();
    throw e;
  }
}

/** Resolves an external-data location, refusing absolute paths and anything that escapes `baseDir`. */
function resolveInside(baseDir: string, location: string, t: TensorProto): string {
  const escapes = (p: string) => {
    const rel = path.relative(baseDir, p);
    return rel === '' || rel.startsWith('..') || path.isAbsolute(rel);
  };
  if (path.isAbsolute(location) || escapes(path.resolve(baseDir, location))) {
    throw new ModelError(
      `tensor '${t.name}' points to external data '${location}' outside the model's folder; refused (move the data beside the model and fix the location)`,
    );
  }
  const resolved = path.resolve(baseDir, location);
  // A symlink inside the folder may still lead out of it.
  let real = resolved;
  try {
    real = effects.fs.realpathSync(resolved);
  } catch {
    return resolved; // missing: reported by the caller with the tensor's name
  }
  if (escapes(real)) {
    throw new ModelError(`tensor '${t.name}' external data '${location}' links outside the model's folder; refused`);
  }
  return real;
}
