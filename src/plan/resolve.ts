import type * as fs from 'node:fs';
import * as path from 'node:path';
import { effects } from '../effects.js';
import { formatPath, type KeyPath } from './parse.js';

/**
 * A plan's paths: relative to the plan's folder, real (after symlinks) when compared, outputs and reports kept
 * inside the plan's folder unless the caller allows otherwise, and nothing the plan reads ever written over.
 */

/** Records a problem at a key path (of the key itself with `atKey`). */
export type Problem = (at: KeyPath, message: string, atKey?: boolean) => void;

/**
 * Real paths, each resolved once (a plan of n entries compares every output with every input: by map, not by
 * search). A path that does not exist yet resolves through its nearest existing folder, so an output under a
 * symlinked folder is where the link leads.
 */
function realPaths(): (p: string) => string {
  const memo = new Map<string, string>();
  const real = (p: string): string => {
    const abs = path.resolve(p);
    let r = memo.get(abs);
    if (r === undefined) {
      try {
        r = effects.fs.realpathSync(abs);
      } catch {
        const parent = path.dirname(abs);
        r = parent === abs ? abs : path.join(real(parent), path.basename(abs));
      }
      memo.set(abs, r);
    }
    return r;
  };
  return real;
}

/** `inner` is `dir` or below it (both real paths). */
function isInside(dir: string, inner: string): boolean {
  const rel = path.relative(dir, inner);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/** The parts of an entry that resolve.ts compares with the others. */
export interface WrittenEntry {
  index: number;
  /** Absolute paths. */
  input: string;
  output: string;
  path: KeyPath;
}

/** One plan's path rules, with what it has seen so far (the files it reads, the outputs claimed). */
export interface PlanPaths {
  /** A path of the plan, absolute. */
  resolve(p: string): string;
  /** A file the plan reads (a model input, weights, inputs, a dataset): it must exist; no output may replace it. */
  needFile(at: KeyPath, p: string, what: 'file' | 'file or folder'): string;
  /** An entry's output: absolute, in the plan's folder, not a folder, and no other entry's; with the entry that claimed it first. */
  claimOutput(at: KeyPath, p: string, index: number): { output: string; claimedBy: number | undefined };
  /** No output may be an input, the plan, or a file it reads (by the output or its external data file). */
  checkWrites(entries: readonly WrittenEntry[]): void;
  /** The plan's `reports:`, absolute; none may be a model of an entry. */
  reports(reports: readonly string[], entries: readonly WrittenEntry[]): string[];
}

export function planPaths(file: string, dir: string, options: { allowOutside?: boolean }, problem: Problem): PlanPaths {
  const real = realPaths();
  const realDir = real(dir);
  /** Outputs and reports stay in the plan's folder (after symlinks) unless the caller allows otherwise. */
  const checkInside = (at: KeyPath, p: string, abs: string) => {
    if (options.allowOutside || isInside(realDir, real(abs))) return;
    const where = real(abs) === abs ? (p === abs ? `'${p}'` : `'${p}' (${abs})`) : `'${p}' (${abs}, really ${real(abs)})`;
    problem(
      at,
      `${where} is outside the plan's folder ${dir}; a plan writes only inside its own folder. Move it there, or run apply --allow-outside if you trust this plan`,
    );
  };
  const resolve = (p: string) => path.resolve(dir, p);
  const shown = (p: string, abs: string) => (p === abs ? p : `'${p}' (${abs})`);
  /** A NUL cannot be in a path on any file system (Node throws on it): refused here, not when the file is written. */
  const nul = (at: KeyPath, p: string) => {
    if (!p.includes('\0')) return false;
    problem(at, `${JSON.stringify(p)} holds a NUL character, which no path can; remove it`);
    return true;
  };
  /** Files the plan reads besides models (real path → key path): no output may replace one. */
  const reads = new Map<string, string>([[real(path.resolve(file)), 'the plan itself']]);
  const outputs = new Map<string, number>();
  /** First entry by real input path. */
  const byInput = (entries: readonly WrittenEntry[]) => {
    const map = new Map<string, WrittenEntry>();
    for (const e of entries) if (!map.has(real(e.input))) map.set(real(e.input), e);
    return map;
  };

  return {
    resolve,
    needFile(at, p, what) {
      const abs = resolve(p);
      if (nul(at, p)) return abs;
      if (at[at.length - 1] !== 'input' && !reads.has(real(abs))) reads.set(real(abs), formatPath(at));
      let stat: fs.Stats | null = null;
      try {
        stat = effects.fs.statSync(abs);
      } catch {
        problem(at, `no such ${what} ${shown(p, abs)}; paths are relative to the plan file`);
        return abs;
      }
      if (what === 'file' && stat.isDirectory()) problem(at, `${shown(p, abs)} is a folder; expected a file`);
      return abs;
    },
    claimOutput(at, p, index) {
      const output = resolve(p);
      nul(at, p);
      checkInside(at, p, output);
      if (effects.fs.existsSync(output) && effects.fs.statSync(output).isDirectory())
        problem(at, `${shown(p, output)} is a folder; expected a model file path`);
      const claimedBy = outputs.get(real(output));
      if (claimedBy !== undefined) problem(at, `models[${claimedBy}] writes ${shown(p, output)} too; each output belongs to one entry`);
      else outputs.set(real(output), index);
      return { output, claimedBy };
    },
    checkWrites(entries) {
      // An output may not be any entry's input: apply never overwrites what it reads, and never chains entries.
      const inputs = byInput(entries);
      for (const e of entries) {
        const j = inputs.get(real(e.output));
        if (!j) continue;
        const msg =
          j === e
            ? 'the output is the input; choose another output path (apply never overwrites its inputs)'
            : `the output is models[${j.index}]'s input; put both insertions in one entry's insert list instead`;
        problem([...e.path, 'output'], msg);
      }
      // Nor the plan, a weights, inputs or dataset file, by the output or by its external data file.
      for (const e of entries) {
        for (const written of [e.output, `${e.output}.data`]) {
          const read = reads.get(real(written));
          if (read === undefined) continue;
          const what = read === 'the plan itself' ? read : `the file ${read} reads`;
          problem(
            [...e.path, 'output'],
            `${written === e.output ? 'the output' : `its external data file ${written}`} is ${what}; apply never overwrites what it reads, choose another output path`,
          );
        }
      }
    },
    reports(reports, entries) {
      // Reports over a model are found here, at their line; the plan itself, weights and inputs files (and --report
      // paths) by checkApplyReports, which apply calls next.
      const inputs = byInput(entries);
      const byOutput = new Map<string, WrittenEntry>();
      for (const e of entries) if (!byOutput.has(real(e.output))) byOutput.set(real(e.output), e);
      return reports.map((r, n) => {
        const abs = resolve(r);
        nul(['reports', n], r);
        checkInside(['reports', n], r, abs);
        const clash = inputs.get(real(abs)) ?? byOutput.get(real(abs));
        if (clash) problem(['reports', n], `${shown(r, abs)} is a model of models[${clash.index}]; choose another report path`);
        return abs;
      });
    },
  };
}
