/**
 * Publishing files: checking an output path before the work, and the one atomic write every output goes through
 * (a temporary file beside the target, written, fsynced, then renamed over it).
 */
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { effects } from '../effects.js';

/**
 * What can be said of an output path before any model is loaded: its folder exists (and is a folder), the path is
 * not a folder itself, and it is new unless `force` or `inPlace` say otherwise. `insert` calls it first, so a
 * wrong -o fails in milliseconds, not after the work.
 */
export function checkOutputPath(out: string, options: { force?: boolean; inPlace?: boolean } = {}): void {
  const outAbs = path.resolve(out);
  const dir = path.dirname(outAbs);
  if (!effects.fs.existsSync(dir) || !effects.fs.statSync(dir).isDirectory()) {
    // The nearest part of the path that exists says what is wrong: a file where a folder should be, or nothing.
    let at = dir;
    while (!effects.fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
    if (effects.fs.existsSync(at) && !effects.fs.statSync(at).isDirectory()) {
      throw new UsageError(`cannot write ${outAbs}: ${at} is a file, not a folder; choose another output path`);
    }
    throw new UsageError(`cannot write ${outAbs}: folder ${dir} does not exist`);
  }
  if (effects.fs.existsSync(outAbs) && effects.fs.statSync(outAbs).isDirectory()) {
    throw new UsageError(`cannot write ${outAbs}: it is a directory; give a file name for the output`);
  }
  if (!options.force && !options.inPlace && effects.fs.existsSync(outAbs)) {
    throw new UsageError(`${outAbs} already exists; pass --force to replace it`);
  }
}

/**
 * Writes chunks in order and fsyncs, so the rename that follows publishes a complete file. Large chunks (weights)
 * are written from where they lie; runs of small ones (headers) are gathered into one write.
 */
export function writeFileSynced(file: string, chunks: readonly Uint8Array[]): void {
  const fd = effects.fs.openSync(file, 'wx', 0o644);
  const writeAll = (c: Uint8Array) => {
    let done = 0;
    while (done < c.length) done += effects.fs.writeSync(fd, c, done, c.length - done);
  };
  try {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (pendingBytes > 0) writeAll(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for (const c of chunks) {
      if (c.length >= 1 << 16) {
        flush();
        writeAll(c);
      } else {
        pending.push(c);
        pendingBytes += c.length;
        if (pendingBytes >= 1 << 20) flush();
      }
    }
    flush();
    effects.fs.fsyncSync(fd);
  } finally {
    effects.fs.closeSync(fd);
  }
}

export function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
}

/**
 * Writes `chunks` to `file` atomically, the one way every output of onnx-attn is published (models above, reports in
 * report/index.ts): a temporary file beside the target, fsynced, then renamed over it, so a reader sees the old
 * file or the whole new one. On failure the temporary file is removed and the error rethrown for the caller to word.
 */
export function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): void {
  const tmp = tempName(path.resolve(file));
  try {
    writeFileSynced(tmp, chunks);
    effects.fs.renameSync(tmp, file);
  } catch (e) {
    try {
      effects.fs.rmSync(tmp, { force: true });
    } catch {
      // The temporary file was never made (its folder is missing or is a file): nothing to clean.
    }
    throw e;
  }
}
