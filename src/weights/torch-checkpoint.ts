import * as path from 'node:path';
import { effects } from '../effects.js';
import { DataFileError, UsageError } from '../errors.js';
import { MAX_WEIGHTS_FILE_BYTES, mib } from '../limits.js';
import { PickleError } from './pickle-values.js';
import { readLegacy, readZip, ZIP_MAGIC, type CheckpointLimits } from './torch-containers.js';
import { stateDictOf } from './torch-layout.js';
import { CheckpointError, type TensorRef } from './torch-tensor.js';

/**
 * PyTorch checkpoints (`torch.save`) read without Python and without running anything, as torch/serialization.py
 * writes them: the container (zip or legacy, src/weights/torch-containers.ts) is read to its pickled object by the
 * inert pickle reader (src/weights/pickle.ts), tensors are rebuilt as checked views of their storages
 * (src/weights/torch-tensor.ts), and the state_dict is found in the object by its layout (src/weights/torch-layout.ts).
 *
 * Everything read from the file is checked: storage sizes against their records, tensor views (sizes, strides,
 * offsets) against their storages, zip entries against size and ratio bounds. Failures are `DataFileError` (exit 4),
 * one line naming the file.
 */

export interface TorchCheckpoint {
  file: string;
  /** Where the state_dict came from, for messages: `'ema' (a model pickled whole)`, `'model' (a state_dict)`, ... */
  layout: string;
  /** The state_dict, keys as PyTorch names them, in the order the checkpoint holds them. */
  tensors: Map<string, TensorRef>;
}

/** `.pt` and `.pth`: the extensions `--weights` reads as PyTorch checkpoints. */
export function isTorchCheckpointPath(file: string): boolean {
  return ['.pt', '.pth'].includes(path.extname(file).toLowerCase());
}

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
    const stat = effects.fs.statSync(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: stat.isDirectory() ? 'EISDIR' : 'not a regular file' });
    if (stat.size > MAX_WEIGHTS_FILE_BYTES)
      throw new DataFileError(`${file}: ${stat.size} bytes, over the ${mib(MAX_WEIGHTS_FILE_BYTES)} limit for a weights file`);
    bytes = effects.fs.readFileSync(file);
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
