/**
 * Reading a model's bytes: ranges of regular files (in parallel on libuv's thread pool) and pipes read to their end,
 * each with the limits and messages a hostile source needs (a FIFO with no writer, a stream past the limit, a file
 * that shrinks while read).
 */
import type * as fs from 'node:fs';
import { ModelError } from '../errors.js';
import { effects } from '../effects.js';

/** A model read to its end from a pipe; the loader fills `bytes`. */
export interface StreamRead {
  fd: number;
  what: string;
  /** The file's kind for messages ('a pipe'). */
  kind: string;
  limit: number;
  /**
   * A named FIFO, opened without blocking: until a writer shows up its reads say end-of-file, so an empty read
   * before any byte means "no writer yet", waited for at most FIFO_WRITER_WAIT_MS.
   */
  namedFifo: boolean;
  bytes: Uint8Array | null;
}

/**
 * How long a named FIFO given as the model may have no writer: opening it blocks forever otherwise (a FIFO planted
 * where a model is expected must not hang a CI job). A writer that is there but slow is waited for without limit.
 */
export const FIFO_WRITER_WAIT_MS = 5000;

export function isStreamRead(step: ReadRange[] | StreamRead): step is StreamRead {
  return !Array.isArray(step);
}

/** What a path is when it is not a regular file ('a FIFO (named pipe)'), or null for a regular file. */
export function nonRegularKind(stat: fs.Stats): string | null {
  if (stat.isFile()) return null;
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

export function cannotRead(file: string, e: unknown): ModelError {
  return new ModelError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)}); check its permissions`, { cause: e });
}

/** `target.length` bytes of the file open as `fd`, starting at `position`. */
export interface ReadRange {
  fd: number;
  target: Uint8Array;
  position: number;
  /** The file, for messages. */
  what: string;
}

/** Ranges are cut into pieces of this size so that a few large tensors still spread over every thread. */
export const PIECE = 8 << 20;
/** libuv's default thread-pool size: more concurrent reads would only queue. */
const CONCURRENT_READS = 4;

function truncated(r: ReadRange, at: number): ModelError {
  return new ModelError(`${r.what} ended at byte ${at} while being read (it changed on disk?); read it again once it is complete`);
}

export async function readRanges(ranges: readonly ReadRange[]): Promise<void> {
  const pieces: ReadRange[] = [];
  for (const r of ranges) {
    for (let at = 0; at < r.target.length; at += PIECE) {
      pieces.push({ ...r, target: r.target.subarray(at, Math.min(at + PIECE, r.target.length)), position: r.position + at });
    }
  }
  let next = 0;
  // Declared through `as`: TypeScript would narrow it to null for good, not seeing the workers set it.
  let failure = null as ModelError | null;
  // Each worker stops at the first failure anywhere, and all have settled before the caller closes the files.
  const worker = async () => {
    while (next < pieces.length && !failure) {
      const p = pieces[next++]!;
      let done = 0;
      while (done < p.target.length && !failure) {
        let n: number;
        try {
          n = await readAsync(p.fd, p.target, done, p.position + done);
        } catch (e) {
          failure ??= cannotRead(p.what, e);
          return;
        }
        if (n === 0) {
          failure ??= truncated(p, p.position + done);
          return;
        }
        done += n;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, pieces.length) }, worker));
  if (failure) throw failure;
}

function readAsync(fd: number, target: Uint8Array, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    effects.fs.read(fd, target, offset, target.length - offset, position, (e, n) => (e ? reject(e) : resolve(n)));
  });
}

/** A stream that gave more than its limit (`MAX_MODEL_BYTES` unless told). */
function streamLimit(r: StreamRead): ModelError {
  return new ModelError(
    `${r.what} is ${r.kind} that gave more than ${r.limit} bytes (MAX_MODEL_BYTES, protobuf's 2 GiB limit for a model); save the model to a file and give its path`,
  );
}

function noWriter(r: StreamRead): ModelError {
  return new ModelError(
    `${r.what} is a FIFO (named pipe) that no process wrote to within ${FIFO_WRITER_WAIT_MS / 1000} s (FIFO_WRITER_WAIT_MS); start its writer first, or give the model's file`,
  );
}

/**
 * What one read of a stream means: bytes, the end, or wait and read again (EAGAIN from a writer with nothing yet,
 * or a named FIFO's end-of-file before its writer has opened it).
 */
class StreamState {
  readonly pieces: Buffer[] = [];
  total = 0;
  private writerSeen = false;
  private readonly since = effects.now();
  constructor(private readonly r: StreamRead) {}

  /** The next piece to read into: one byte past the limit, so that passing it is seen. */
  buffer(): Buffer {
    return Buffer.allocUnsafe(Math.min(PIECE, this.r.limit - this.total + 1));
  }

  /** After a read of `n` bytes (or an error): 'more', 'wait' or 'done'. */
  next(piece: Buffer, n: number | null, error?: unknown): 'more' | 'wait' | 'done' {
    if (error !== undefined) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw cannotRead(this.r.what, error);
      this.writerSeen = true;
      return 'wait';
    }
    if (n === 0) {
      if (!this.r.namedFifo || this.writerSeen || this.total > 0) return 'done';
      if (effects.now() - this.since > FIFO_WRITER_WAIT_MS) throw noWriter(this.r);
      return 'wait';
    }
    this.writerSeen = true;
    this.total += n!;
    if (this.total > this.r.limit) throw streamLimit(this.r);
    this.pieces.push(piece.subarray(0, n!));
    return 'more';
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.pieces, this.total);
  }
}

/** A stream read to its end in pieces, joined once; more than `limit` bytes is refused as soon as it is seen. */
export async function readStream(r: StreamRead): Promise<Uint8Array> {
  const state = new StreamState(r);
  for (;;) {
    const piece = state.buffer();
    let step: 'more' | 'wait' | 'done';
    try {
      step = state.next(piece, await readAsync(r.fd, piece, 0, -1));
    } catch (e) {
      if (e instanceof ModelError) throw e;
      step = state.next(piece, null, e);
    }
    if (step === 'done') return state.bytes();
    if (step === 'wait') await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function readStreamSync(r: StreamRead): Uint8Array {
  const state = new StreamState(r);
  for (;;) {
    const piece = state.buffer();
    let n: number | null = null;
    let error: unknown;
    try {
      n = effects.fs.readSync(r.fd, piece, 0, piece.length, null);
    } catch (e) {
      error = e;
    }
    const step = state.next(piece, n, error);
    if (step === 'done') return state.bytes();
    if (step === 'wait') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

export function readRangeSync(r: ReadRange): void {
  let done = 0;
  while (done < r.target.length) {
    let n: number;
    try {
      n = effects.fs.readSync(r.fd, r.target, done, r.target.length - done, r.position + done);
    } catch (e) {
      throw cannotRead(r.what, e);
    }
    if (n === 0) throw truncated(r, r.position + done);
    done += n;
  }
}
