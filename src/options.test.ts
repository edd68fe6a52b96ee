import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture, tmpDir } from '../test/helpers.js';
import { compare, convert, insertIntoFile, renderReport, validate, writeReports } from './index.js';
import type { ValidateResult } from './validate.js';

// Library callers get the CLI's checks: a wrong option is a UsageError naming it, never a value written into a
// model's provenance, a default taken silently, or a TypeError from deep inside.
test('library options are checked as the CLI checks its flags', async () => {
  const v5 = fixture('yolov5-op12.onnx');
  const out = `${tmpDir()}/x.onnx`;
  const usage = (re: RegExp) => (e: unknown) => e instanceof Error && e.name === 'UsageError' && re.test(e.message);
  await assert.rejects(
    insertIntoFile(v5, { after: '23', module: 'NAM', init: 'bogus' as never, output: out }),
    usage(/^init "bogus": expected one of torch, random$/),
  );
  await assert.rejects(
    insertIntoFile(v5, { after: '23', module: 'NAM', gate: 'half' as never, output: out }),
    usage(/^gate "half": expected one of zero, none$/),
  );
  await assert.rejects(insertIntoFile(v5, { after: '23', module: 'NAM', bnEps: 0, output: out }), usage(/^bnEps 0: expected a number > 0$/));
  await assert.rejects(insertIntoFile(v5, { after: '23', output: out } as never), usage(/^module: give a module name/));
  await assert.rejects(convert(v5, out, { externalData: 'sometimes' as never }), usage(/^externalData "sometimes": expected one of auto, always, never$/));
  await assert.rejects(convert(v5, out, { threshold: -5 }), usage(/^threshold -5: expected a whole number ≥ 0$/));
  await assert.rejects(validate(v5, { conf: 5 }), usage(/^conf 5: expected a number from 0 to 1$/));
  await assert.rejects(validate(v5, { fallback: 'gpu' as never }), usage(/^fallback "gpu": expected one of cpu, none$/));
  await assert.rejects(validate(v5, { tolerance: 'fp16' } as never), usage(/^tolerance applies to compare/));
  await assert.rejects(compare(v5, v5, { tolerance: 'nope' }), usage(/bad tolerance 'nope'/));
});

test('one string or a list, for the options the CLI repeats', async () => {
  const v5 = fixture('yolov5-op12.onnx');
  const one = await validate(v5, { ep: 'cpu', iters: 1, warmup: 0 });
  assert.deepEqual(one.ep.used, ['cpu']);
  const cmp = await compare(v5, v5, { tolerance: 'exact', iters: 1, warmup: 0 });
  assert.equal(cmp.outputs[0]!.tolerance.name, 'exact');
  assert.equal(cmp.pass, true);
});

test('reports: a format the kind lacks is refused and nothing is written; `md` and `.md` are one format', async () => {
  const r = await validate(fixture('yolov5-op12.onnx'), { iters: 1, warmup: 0 });
  const reportable = { kind: 'validate' as const, result: r };
  assert.equal(renderReport(reportable, 'md'), renderReport(reportable, '.MD'));
  assert.throws(() => renderReport(reportable, '.csv'), /a validate report has no format '\.csv'; use \.json, \.md, \.html, \.xml/);
  const dir = tmpDir();
  assert.throws(() => writeReports(reportable, [`${dir}/a.json`, `${dir}/b.txt`]), /no format '\.txt'/);
  assert.throws(() => writeReports(r as unknown as never, [`${dir}/a.json`]), /writeReports takes \{kind: /);
  const { readdirSync } = await import('node:fs');
  assert.deepEqual(readdirSync(dir), []);
  assert.equal((r satisfies ValidateResult).pass, true);
});

test('validate and compare take a model in memory: patch with the library, check without saving', async () => {
  const { loadModel, analyzeModel, planInsertions, applyInsertions } = await import('./index.js');
  const v5 = fixture('yolov5-op12.onnx');
  const model = await loadModel(v5);
  const analyzed = await analyzeModel(model);
  applyInsertions(analyzed, planInsertions(analyzed, { after: '23', module: 'NAM', gate: 'zero' }));
  const v = await validate(model, { iters: 1, warmup: 0 });
  assert.equal(v.pass, true);
  assert.equal(v.model, `(in memory, loaded from ${v5})`);
  assert.equal(v.inserted.length, 1);
  // A zero gate is the identity, exactly: the in-memory patched model matches the file it came from.
  const c = await compare(v5, model, { tolerance: 'exact', iters: 1, warmup: 0 });
  assert.equal(c.pass, true);
  assert.equal(c.outputs[0]!.maxAbs, 0);
  assert.equal(c.b.path, `(in memory, loaded from ${v5})`);
  assert.equal(c.added.params, 65);
});

test('sweep takes a model in memory and leaves it unchanged', async () => {
  const { loadModel, encodeModel, sweep } = await import('./index.js');
  const model = await loadModel(fixture('yolov5-op12.onnx'));
  const before = Buffer.from(encodeModel(model));
  const r = await sweep(model, { modules: 'NAM', after: '23', iters: 1, warmup: 0 });
  assert.equal(r.rows.length, 1);
  assert.equal(r.rows[0]!.params, 64);
  assert.match(r.model, /^\(in memory, loaded from .*yolov5-op12\.onnx\)$/);
  assert.ok(Buffer.from(encodeModel(model)).equals(before));
});
