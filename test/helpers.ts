import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';

/** Repository root (tests run from dist/test/, two levels below it). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(ROOT, 'fixtures');
export const BIN = path.join(ROOT, 'dist/src/cli/bin.js');

export const fixture = (name: string) => path.join(FIXTURES, name);

/** Every .onnx fixture, including the external-data one (relative paths). */
export function fixtureFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'torch-form')
        walk(p); // torch-form: single modules, not detectors
      else if (e.name.endsWith('.onnx')) found.push(path.relative(FIXTURES, p));
    }
  };
  walk(FIXTURES);
  return found.sort();
}

export { tmpDir } from './temp.js';

/** Lists files under a folder (relative), to prove a failing command wrote nothing. */
export function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real bin in a child process, as a user would (prettier's runCli). */
export function runBin(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI in this process with captured output: for tests that run it hundreds of times. */
export async function runMain(args: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

/**
 * A command refused with one line on stderr matching `re` (after `onnx-attn: ` and `dir`/ are taken off) and the
 * folder as it was (`before`, plus `also`, the files the test itself wrote).
 */
export function assertRefused(r: RunResult, dir: string, before: readonly string[], re: RegExp, what: string, also: readonly string[] = []): void {
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: ${r.stderr}`);
  assert.match(
    r.stderr
      .trimEnd()
      .replace(/^onnx-attn: /, '')
      .replace(dir + path.sep, ''),
    re,
    what,
  );
  assert.deepEqual(listFiles(dir), [...before, ...also].sort(), `${what}: nothing written`);
}
