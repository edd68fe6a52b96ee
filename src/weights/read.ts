import * as path from 'node:path';
import { effects } from '../effects.js';
import { BuildError, DataFileError, UsageError } from '../errors.js';
import { MAX_WEIGHTS_FILE_BYTES, MAX_WEIGHTS_JSON_BYTES, mib } from '../limits.js';
import { parseJson } from './json.js';
import { parseNpz } from './npz.js';
import { checkSafetensorsHeader, parseSafetensors } from './safetensors.js';
import type { NamedTensor, ReadTensorOptions, TensorFile } from './tensor.js';
import { decodeTensor } from './torch-tensor.js';
import { isTorchCheckpointPath, readTorchCheckpoint } from './torch-checkpoint.js';

/**
 * Reading a reference state_dict from `--weights FILE`: the reader is picked by the file's extension (one file per
 * format beside this one).
 *
 * Reading never trusts the file: a path that names no regular file is a `UsageError` (exit 2); every malformed,
 * too deep or too large content is a one-line `DataFileError` (exit 4) that names the file and what is wrong, found
 * before the content is walked or inflated (limits in src/limits.ts).
 */

/**
 * Reads a weights file by its extension: `.safetensors`, `.npz` (numpy `savez`/`savez_compressed`), `.json`
 * (`{key: nested arrays}` or `{key: {shape: [...], data: [...]}}`), or a PyTorch checkpoint `.pt`/`.pth` (its
 * state_dict, every tensor decoded; `metadata.layout` says where in the checkpoint it was).
 *
 * Raises: UsageError for a missing or unreadable path or an unknown extension; DataFileError for any truncated,
 * corrupt, inconsistent, too deep or too large content; BuildError for `.npz` members outside `expect`.
 * Cost: one read of the file, one copy of each tensor's bytes; `.npz` members are inflated one at a time, each
 * into a buffer of its declared size.
 */
export function readTensorFile(file: string, options: ReadTensorOptions = {}): TensorFile {
  const ext = path.extname(file).toLowerCase();
  if (isTorchCheckpointPath(file)) return readCheckpointTensorFile(file);
  if (!['.safetensors', '.npz', '.json'].includes(ext)) {
    const hint = ['.bin', '.ckpt'].includes(ext) ? '; save the state_dict with safetensors.torch.save_file or numpy.savez first' : '';
    throw new UsageError(
      `${file}: unknown weights format '${ext || '(no extension)'}' (expected .safetensors, .npz, .json, or a PyTorch checkpoint .pt or .pth)${hint}`,
    );
  }
  let bytes: Buffer;
  try {
    const stat = effects.fs.statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    // A FIFO or a device would block the read or never end.
    if (!stat.isFile()) throw new UsageError(`${file}: not a regular file; give a .safetensors, .npz or .json file`);
    const limit = ext === '.json' ? MAX_WEIGHTS_JSON_BYTES : MAX_WEIGHTS_FILE_BYTES;
    if (stat.size > limit)
      throw new DataFileError(
        `${file}: ${stat.size} bytes, over the ${mib(limit)} limit for a ${ext} weights file${ext === '.json' ? '; save large weights as .safetensors or .npz' : ''}`,
      );
    if (ext === '.safetensors' && options.expect) checkSafetensorsHeader(file, stat.size, options.expect);
    bytes = effects.fs.readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError || e instanceof DataFileError || e instanceof BuildError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? String(e)})`;
    throw new UsageError(`${file}: ${why}`);
  }
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (ext === '.safetensors') return parseSafetensors(file, u8);
  if (ext === '.npz') return parseNpz(file, u8, options.expect);
  return parseJson(file, bytes.toString('utf8'), options.expect);
}

/** Every tensor of a checkpoint, decoded, keys as PyTorch names them: the `.pt`/`.pth` branch of `readTensorFile`. */
function readCheckpointTensorFile(file: string): TensorFile {
  const ckpt = readTorchCheckpoint(file);
  const tensors = new Map<string, NamedTensor>();
  for (const [key, t] of ckpt.tensors) tensors.set(key, decodeTensor(t));
  return { tensors, metadata: { layout: ckpt.layout } };
}
