import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixture, listFiles, tmpDir } from '../test/helpers.js';
import { apply as applyPlan, type ApplyReportWriter } from './apply.js';
import { PlanError, UsageError } from './errors.js';
import { apply } from './index.js';

/** A plan in a fresh folder: one entry on a real model, its `reports:` as given. */
function planWith(reports: string[]): { dir: string; file: string } {
  const dir = tmpDir();
  const file = path.join(dir, 'plan.yaml');
  const lines = ['version: 1', 'models:', `  - input: ${fixture('yolov5-op12.onnx')}`, '    output: out.onnx', '    insert: [{after: 2, module: SE}]'];
  if (reports.length > 0) lines.push(`reports: [${reports.join(', ')}]`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return { dir, file };
}

/** A writer that records its calls and stops apply (a sentinel) once the plan has been checked. */
function recordingWriter(calls: string[]): ApplyReportWriter {
  return {
    checkPaths: (files) => void calls.push(`checkPaths ${files.join(',')}`),
    checkAgainstPlan: (plan, files) => {
      calls.push(`checkAgainstPlan ${path.basename(plan.file)} [${plan.reports.map((r) => path.basename(r)).join(',')}] ${files.join(',')}`);
      throw new Error('stop');
    },
    write: (file) => void calls.push(`write ${file}`),
  };
}

test('apply: reports asked for without a reportWriter are a bug of the caller, found before the plan is read', async () => {
  const missing = path.join(tmpDir(), 'none.yaml');
  await assert.rejects(applyPlan(missing, { reports: ['r.json'] }), (e: Error) => {
    assert.ok(!(e instanceof UsageError));
    assert.match(e.message, /^apply: reports were asked for but no reportWriter was given/);
    return true;
  });
  // The plan's own reports: found once it is read.
  const { file } = planWith(['r.md']);
  await assert.rejects(applyPlan(file, { dryRun: true }), /no reportWriter was given/);
  // No reports, no writer needed: a plan error is the plan's.
  await assert.rejects(applyPlan(missing), { constructor: UsageError });
});

test("apply: the writer checks the caller's report paths before the plan is read, then all reports against the plan", async () => {
  const calls: string[] = [];
  const missing = path.join(tmpDir(), 'none.yaml');
  await assert.rejects(applyPlan(missing, { reports: ['r.json'], reportWriter: recordingWriter(calls) }), { constructor: UsageError });
  assert.deepEqual(calls, ['checkPaths r.json']);
  calls.length = 0;
  const { file } = planWith(['r.md', 'sub/r.xml']);
  await assert.rejects(applyPlan(file, { reports: ['x.html'], reportWriter: recordingWriter(calls) }), /^Error: stop$/);
  assert.deepEqual(calls, ['checkPaths x.html', 'checkAgainstPlan plan.yaml [r.md,r.xml] x.html']);
});

test("the public index's apply checks reports with report/apply.ts's writer: a report over the plan is refused, nothing written", async () => {
  const { dir, file } = planWith([]);
  // The same file by another name (a report has a report's extension): told by device and inode.
  const alias = path.join(dir, 'r.json');
  fs.symlinkSync(file, alias);
  await assert.rejects(apply(file, { reports: [alias] }), {
    constructor: UsageError,
    message: `--report ${alias}: that is the plan (${file}), which this command reads; a report there would replace it; choose another report path`,
  });
  const bad = planWith(['r.md']);
  fs.symlinkSync(bad.file, path.join(bad.dir, 'r.md'));
  await assert.rejects(apply(bad.file), {
    constructor: UsageError,
    message: `${bad.file}: reports[0] ${path.relative(process.cwd(), path.join(bad.dir, 'r.md'))}: that is the plan (${bad.file}), which this command reads; a report there would replace it; choose another report path`,
  });
  await assert.rejects(apply(file, { reports: ['r.txt'] }), { constructor: UsageError, message: /^--report r\.txt: unknown format '\.txt'/ });
  assert.deepEqual(listFiles(dir), ['plan.yaml', 'r.json']);
  assert.deepEqual(listFiles(bad.dir), ['plan.yaml', 'r.md']);
  // A plan problem still comes as a PlanError.
  const broken = path.join(dir, 'broken.yaml');
  fs.writeFileSync(broken, 'version: 2\n');
  await assert.rejects(apply(broken), { constructor: PlanError });
});
