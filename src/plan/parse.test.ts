import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers.js';
import { PlanError, UsageError } from '../errors.js';
import { MAX_NESTING_DEPTH, MAX_PLAN_ENTRIES } from '../limits.js';
import { formatPath, parsePlan, sortIssues } from './parse.js';

const write = (dir: string, name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};

/** The issues of the PlanError `fn` throws. */
function issuesOf(fn: () => unknown): { line: number; path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PlanError, `expected a PlanError, got ${String(e)}`);
    return e.issues.map(({ line, path, message }) => ({ line, path, message }));
  }
  assert.fail('no PlanError');
}

test('formatPath: dotted keys, indexed lists, quoted keys that are not names', () => {
  assert.equal(formatPath([]), '');
  assert.equal(formatPath(['models', 0, 'insert', 1, 'module']), 'models[0].insert[1].module');
  assert.equal(formatPath(['models', 2, 'insert', 0, 'opts', 'a.b']), 'models[2].insert[0].opts["a.b"]');
  assert.equal(formatPath(['defaults', 'validate', 'device-id']), 'defaults.validate.device-id');
  assert.equal(formatPath(['reports', 3]), 'reports[3]');
});

test('sortIssues: by line, stable within a line, one copy of a repeated problem', () => {
  const a = { line: 7, path: 'x', message: 'm1' };
  const b = { line: 3, path: 'y', message: 'm2' };
  const c = { line: 7, path: 'z', message: 'm3' };
  assert.deepEqual(sortIssues([a, b, c, { ...b }]), [b, a, c]);
});

test('parsePlan: a good YAML plan, its sha256, its folder, and the line of any key path', () => {
  const dir = tmpDir();
  const text = 'version: 1\nmodels:\n  - input: a.onnx\n    output: out/b.onnx\n    insert:\n      - after: 23\n        module: NAM\n';
  const file = write(dir, 'plan.yaml', text);
  const parsed = parsePlan(file);
  assert.equal(parsed.file, file);
  assert.equal(parsed.dir, dir);
  assert.equal(parsed.sha256.length, 64);
  assert.deepEqual(parsed.plan.models[0]!.insert[0], { after: 23, module: 'NAM' });
  assert.deepEqual(parsed.issue(['models', 0, 'output'], 'bad'), { line: 4, path: 'models[0].output', message: 'bad' });
  assert.equal(parsed.issue(['models', 0, 'insert', 0, 'module'], 'm').line, 7);
  // A path that stops early is told at the nearest existing parent.
  assert.equal(parsed.issue(['models', 0, 'validate', 'ep'], 'm').line, 3);
});

test('parsePlan: JSON syntax in JSON terms at its line; YAML errors; depth, alias, count and emptiness limits', () => {
  const dir = tmpDir();
  assert.deepEqual(
    issuesOf(() => parsePlan(write(dir, 'p.json', '{\n  "version": 1,\n  "models": [}\n'))),
    [{ line: 3, path: '', message: "not valid JSON: Unexpected token '}'" }],
  );
  const deep = `version: 1\nmodels: ${'['.repeat(MAX_NESTING_DEPTH + 1)}`;
  assert.deepEqual(
    issuesOf(() => parsePlan(write(dir, 'deep.yaml', deep))),
    [{ line: 2, path: '', message: `nests deeper than ${MAX_NESTING_DEPTH} levels of lists and maps (the limit for a plan); a plan is about 6 deep` }],
  );
  assert.deepEqual(
    issuesOf(() => parsePlan(write(dir, 'stray.yaml', 'version: 1\nmodels: ]\n'))),
    [{ line: 2, path: '', message: "not valid YAML: ']' closes no open list or map" }],
  );
  assert.deepEqual(
    issuesOf(() => parsePlan(write(dir, 'empty.yaml', '# nothing\n'))),
    [{ line: 1, path: '', message: 'the plan is empty; expected version: 1 and a list of models (onnx-attn apply --schema)' }],
  );
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x, x]',
    ...'bcdef'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcde'[i]}`).join(', ')}]`),
  ].join('\n');
  const alias = issuesOf(() => parsePlan(write(dir, 'bomb.yaml', `${bomb}\n`)));
  assert.equal(alias.length, 1);
  assert.equal(alias[0]!.line, 2, 'at the first alias');
  assert.match(alias[0]!.message, /^YAML aliases expand past 100 nodes \(the limit for a plan; .*\); write the values out instead$/);
  const many = `version: 1\nmodels:\n${'  - {input: a.onnx, output: b.onnx, insert: [{after: 1, module: SE}]}\n'.repeat(MAX_PLAN_ENTRIES + 1)}`;
  assert.deepEqual(
    issuesOf(() => parsePlan(write(dir, 'many.yaml', many))),
    [{ line: 2, path: 'models', message: `${MAX_PLAN_ENTRIES + 1} entries, more than the ${MAX_PLAN_ENTRIES} a plan may hold; split the plan` }],
  );
  assert.deepEqual(
    issuesOf(() => parsePlan(write(dir, 'dup.yaml', 'version: 1\nversion: 1\n'))),
    [{ line: 2, path: '', message: 'not valid YAML: Map keys must be unique' }],
  );
});

test('parsePlan: the schema problems of a well-formed document, sorted by line', () => {
  const dir = tmpDir();
  const file = write(dir, 'p.yaml', 'version: 2\nmodels:\n  - input: a.onnx\n    output: b.onnx\n    insert:\n      - after: 1\n        modul: SE\n');
  assert.deepEqual(
    issuesOf(() => parsePlan(file)),
    [
      { line: 1, path: 'version', message: 'expected 1, got the number 2' },
      {
        line: 7,
        path: 'models[0].insert[0].modul',
        message:
          "unknown key 'modul' (did you mean 'module'?); expected one of after, module, opts, init, seed, weights, weights-prefix, bn-eps, gate, consumers, external-data",
      },
    ],
  );
});

test('parsePlan: a missing file and a folder are usage errors naming the path', () => {
  const dir = tmpDir();
  assert.throws(() => parsePlan(path.join(dir, 'none.yaml')), {
    constructor: UsageError,
    message: `${path.join(dir, 'none.yaml')}: no such plan file; check the path (onnx-attn apply --schema prints the format)`,
  });
  assert.throws(() => parsePlan(dir), { constructor: UsageError, message: `${dir} is a folder; expected a plan file (.yaml, .yml or .json)` });
});
