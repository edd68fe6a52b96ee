/**
 * The one seam for side effects: the file system, the clock and whether stdout/stderr are terminals. Library code
 * reaches them through `effects` (`effects.fs.writeSync(...)`, `effects.now()`), so a test can stand in a full disk,
 * a fixed clock or a terminal with `withEffects` instead of patching `node:fs` or `process` for the whole process.
 */
import * as nodeFs from 'node:fs';

// Members are function-typed properties, not methods: withEffects swaps them and tests hold them apart from `effects`.
export interface Effects {
  /** node:fs (sync, callback and `promises` APIs). */
  fs: typeof nodeFs;
  /** A monotonic clock in milliseconds (performance.now): for durations. */
  now: () => number;
  /** Wall-clock time: for timestamps written into reports and models. */
  date: () => Date;
  /** Whether the stream is a terminal (progress bars and colour only there). */
  isTTY: (stream: 'stdout' | 'stderr') => boolean;
}

const real: Effects = {
  fs: nodeFs,
  now: () => performance.now(),
  date: () => new Date(),
  isTTY: (stream) => process[stream].isTTY === true,
};

/** The effects in use. Read its members at call time (never destructure at module load), so a replacement applies. */
export const effects: Effects = { ...real };

/**
 * Runs `fn` with some effects replaced, restoring them when it settles (a promise is awaited). For tests: replaced
 * effects apply to everything this process runs meanwhile, so tests that replace them should not run concurrently
 * within one file.
 */
export function withEffects<T>(replacement: Partial<Effects>, fn: () => T): T {
  const saved = { ...effects };
  Object.assign(effects, replacement);
  const restore = () => void Object.assign(effects, saved);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

/** A file system that is node:fs except for the members given (a full disk: `{ writeSync: () => { throw enospc } }`). */
export function fsWith(overrides: Partial<typeof nodeFs>): typeof nodeFs {
  return { ...nodeFs, ...overrides };
}
