import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers.js';
import { formatPath, type KeyPath } from './parse.js';
import { planPaths, type WrittenEntry } from './resolve.js';

/** A plan folder holding plan.yaml, a.onnx and w.npz, and the paths of a plan there with the problems it records. */
function setup(options: { allowOutside?: boolean } = {}) {
  const dir = fs.realpathSync(tmpDir());
  for (const f of ['plan.yaml', 'a.onnx', 'w.npz']) fs.writeFileSync(path.join(dir, f), '');
  fs.mkdirSync(path.join(dir, 'sub'));
  const problems: string[] = [];
  const paths = planPaths(path.join(dir, 'plan.yaml'), dir, options, (at: KeyPath, message: string) => problems.push(`${formatPath(at)}: ${message}`));
  return { dir, paths, problems };
}

test('needFile: relative to the plan, missing files and folders where a file belongs are told at the key', () => {
  const { dir, paths, problems } = setup();
  assert.equal(paths.needFile(['models', 0, 'input'], 'a.onnx', 'file'), path.join(dir, 'a.onnx'));
  assert.equal(paths.needFile(['models', 0, 'input'], 'gone.onnx', 'file'), path.join(dir, 'gone.onnx'));
  paths.needFile(['models', 0, 'insert', 0, 'weights'], 'sub', 'file');
  paths.needFile(['models', 0, 'validate', 'inputs'], 'sub', 'file or folder');
  paths.needFile(['models', 0, 'input'], 'x\0y', 'file');
  assert.deepEqual(problems, [
    `models[0].input: no such file 'gone.onnx' (${path.join(dir, 'gone.onnx')}); paths are relative to the plan file`,
    `models[0].insert[0].weights: 'sub' (${path.join(dir, 'sub')}) is a folder; expected a file`,
    'models[0].input: "x\\u0000y" holds a NUL character, which no path can; remove it',
  ]);
});

test('claimOutput: inside the plan folder (after symlinks) unless allowed, never a folder, one entry each', () => {
  const { dir, paths, problems } = setup();
  const outside = fs.realpathSync(tmpDir());
  fs.symlinkSync(outside, path.join(dir, 'link'));
  assert.deepEqual(paths.claimOutput(['models', 0, 'output'], 'out/b.onnx', 0), { output: path.join(dir, 'out/b.onnx'), claimedBy: undefined });
  assert.deepEqual(paths.claimOutput(['models', 1, 'output'], './out/b.onnx', 1), { output: path.join(dir, 'out/b.onnx'), claimedBy: 0 });
  paths.claimOutput(['models', 2, 'output'], 'sub', 2);
  paths.claimOutput(['models', 3, 'output'], '../c.onnx', 3);
  paths.claimOutput(['models', 4, 'output'], 'link/d.onnx', 4);
  const up = path.join(path.dirname(dir), 'c.onnx');
  const rule = 'a plan writes only inside its own folder. Move it there, or run apply --allow-outside if you trust this plan';
  assert.deepEqual(problems, [
    `models[1].output: models[0] writes './out/b.onnx' (${path.join(dir, 'out/b.onnx')}) too; each output belongs to one entry`,
    `models[2].output: 'sub' (${path.join(dir, 'sub')}) is a folder; expected a model file path`,
    `models[3].output: '../c.onnx' (${up}) is outside the plan's folder ${dir}; ${rule}`,
    `models[4].output: 'link/d.onnx' (${path.join(dir, 'link/d.onnx')}, really ${path.join(outside, 'd.onnx')}) is outside the plan's folder ${dir}; ${rule}`,
  ]);
  const allowed = setup({ allowOutside: true });
  allowed.paths.claimOutput(['models', 0, 'output'], '../c.onnx', 0);
  assert.deepEqual(allowed.problems, []);
});

test('checkWrites: no output is an input, the plan, or a file the plan reads (by itself or its external data file)', () => {
  const { dir, paths, problems } = setup();
  paths.needFile(['models', 1, 'insert', 0, 'weights'], 'w.npz', 'file');
  const entry = (index: number, input: string, output: string): WrittenEntry => ({
    index,
    input: path.join(dir, input),
    output: path.join(dir, output),
    path: ['models', index],
  });
  paths.checkWrites([
    entry(0, 'a.onnx', 'a.onnx'),
    entry(1, 'b.onnx', 'a.onnx'),
    entry(2, 'c.onnx', 'w.npz'),
    entry(3, 'd.onnx', 'plan.yaml'),
    entry(4, 'e.onnx', 'w'),
  ]);
  // The external data file of output `w` is `w.data`: nothing reads that; of `w.npz`, `w.npz.data`.
  assert.deepEqual(problems, [
    'models[0].output: the output is the input; choose another output path (apply never overwrites its inputs)',
    "models[1].output: the output is models[0]'s input; put both insertions in one entry's insert list instead",
    'models[2].output: the output is the file models[1].insert[0].weights reads; apply never overwrites what it reads, choose another output path',
    'models[3].output: the output is the plan itself; apply never overwrites what it reads, choose another output path',
  ]);
});

test('reports: absolute, inside the folder, never a model of an entry', () => {
  const { dir, paths, problems } = setup();
  const entries: WrittenEntry[] = [{ index: 0, input: path.join(dir, 'a.onnx'), output: path.join(dir, 'b.onnx'), path: ['models', 0] }];
  assert.deepEqual(paths.reports(['r.md', 'b.onnx', 'a.onnx'], entries), [path.join(dir, 'r.md'), path.join(dir, 'b.onnx'), path.join(dir, 'a.onnx')]);
  assert.deepEqual(problems, [
    `reports[1]: 'b.onnx' (${path.join(dir, 'b.onnx')}) is a model of models[0]; choose another report path`,
    `reports[2]: 'a.onnx' (${path.join(dir, 'a.onnx')}) is a model of models[0]; choose another report path`,
  ]);
});
