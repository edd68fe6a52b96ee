import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { register } from 'node:module';
import * as path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ROOT, tmpDir } from './helpers.js';

// The GitHub Action (action.yml) run as the runner runs a composite action: each `run:` step's `${{ }}` expressions
// substituted, its `env:` set, its script run by `bash --noprofile --norc -eo pipefail`, GITHUB_OUTPUT read back
// after it, `if:` deciding whether it runs. The runner's part is emulated here only for the expressions action.yml
// uses; anything else fails the test, so a new construct in action.yml cannot slip past it untested.
// Every step runs in a network namespace of its own (`unshare --net`): no network at all, so the Action can only
// have installed what its lockfile pins, from the npm cache that CI's own `npm ci` leaves in ~/.npm.

interface Step {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  shell?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
interface Action {
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
}

const ACTION_FILE = path.join(ROOT, 'action.yml');
const PLAN = 'examples/ci/onnx-attn.plan.yaml';
const REPORTS = ['md', 'xml', 'html', 'json'].map((ext) => `onnx-attn-report.${ext}`);
const loadAction = () => parseYaml(fs.readFileSync(ACTION_FILE, 'utf8')) as Action;

interface Context {
  inputs: Record<string, string>;
  steps: Record<string, Record<string, string>>;
}

function value(ref: string, ctx: Context): string {
  let m: RegExpExecArray | null;
  if ((m = /^inputs\.([\w-]+)$/.exec(ref))) return ctx.inputs[m[1]!] ?? '';
  if ((m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(ref))) return ctx.steps[m[1]!]?.[m[2]!] ?? '';
  throw new Error(`action.yml uses an expression this test does not emulate: ${ref}`);
}

/** GitHub's expression language, as far as action.yml uses it (string comparison ignores case, as GitHub's does). */
function evaluate(expression: string, ctx: Context): string | boolean {
  const e = expression.trim();
  let m: RegExpExecArray | null;
  if (e === 'always()') return true;
  if ((m = /^(\S+)\s*(==|!=)\s*'([^']*)'$/.exec(e))) {
    const equal = value(m[1]!, ctx).toLowerCase() === m[3]!.toLowerCase();
    return m[2] === '==' ? equal : !equal;
  }
  if ((m = /^(\S+)\s*\|\|\s*'([^']*)'$/.exec(e))) return value(m[1]!, ctx) || m[2]!;
  return value(e, ctx);
}

const substitute = (text: string, ctx: Context) => text.replace(/\$\{\{(.*?)\}\}/g, (_, e: string) => String(evaluate(e, ctx)));

/** A step's `if:` (a status function, else `success()` is implied), after the steps before it. */
function shouldRun(step: Step, failed: boolean, ctx: Context): boolean {
  if (step.if === undefined) return !failed;
  const expression = step.if.replace(/^\$\{\{(.*)\}\}$/s, '$1');
  const result = evaluate(expression, ctx) === true;
  return /\b(always|failure|cancelled|success)\(\)/.test(expression) ? result : !failed && result;
}

interface StepResult {
  name: string;
  outcome: 'success' | 'failure' | 'skipped';
  stdout: string;
  stderr: string;
}
interface ActionRun {
  steps: StepResult[];
  outputs: Record<string, string>;
  summary: string;
  failed: boolean;
}

/** The environment of the job: the test's own, less npm's per-run variables (`npm test` sets them). */
function jobEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

function runAction(options: { actionPath: string; workspace: string; inputs: Record<string, string>; bin: string }): ActionRun {
  const action = loadAction();
  const ctx: Context = { inputs: {}, steps: {} };
  for (const [name, input] of Object.entries(action.inputs)) ctx.inputs[name] = options.inputs[name] ?? input.default ?? '';
  for (const name of Object.keys(options.inputs)) assert.ok(name in action.inputs, `action.yml has no input ${name}`);
  const scratch = tmpDir('onnx-attn-action-runner-');
  const summaryFile = path.join(scratch, 'step_summary');
  fs.writeFileSync(summaryFile, '');
  const results: StepResult[] = [];
  let failed = false;
  action.runs.steps.forEach((step, index) => {
    const name = step.name ?? step.id ?? String(index);
    if (!shouldRun(step, failed, ctx)) {
      results.push({ name, outcome: 'skipped', stdout: '', stderr: '' });
      return;
    }
    if (step.uses !== undefined) {
      // Node.js is already here (the test runs on it); the Action may use no other action.
      assert.match(step.uses, /^actions\/setup-node@v\d+$/, `step ${name}`);
      assert.equal(step.with?.['node-version'], '${{ inputs.node-version }}');
      results.push({ name, outcome: 'success', stdout: '', stderr: '' });
      return;
    }
    assert.equal(step.shell, 'bash', `step ${name} names its shell`);
    const script = path.join(scratch, `step-${index}.sh`);
    const outputFile = path.join(scratch, `output-${index}`);
    fs.writeFileSync(script, substitute(step.run!, ctx));
    fs.writeFileSync(outputFile, '');
    const env: Record<string, string> = {
      PATH: `${options.bin}${path.delimiter}${process.env['PATH']}`,
      GITHUB_ACTION_PATH: options.actionPath,
      GITHUB_WORKSPACE: options.workspace,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      // npm answers from its cache alone (and the namespace has no network to fall back on).
      npm_config_offline: 'true',
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = substitute(String(v), ctx);
    const r = spawnSync('unshare', ['--net', '--map-root-user', 'bash', '--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd: options.workspace,
      env: jobEnv(env),
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.error, undefined, `step ${name}: ${r.error?.message}`);
    const outputs: Record<string, string> = {};
    for (const line of fs.readFileSync(outputFile, 'utf8').split('\n').filter(Boolean)) {
      const m = /^([\w-]+)=(.*)$/.exec(line);
      assert.ok(m, `step ${name} wrote an output line this test does not read: ${line}`);
      outputs[m[1]!] = m[2]!;
    }
    if (step.id) ctx.steps[step.id] = outputs;
    const outcome = r.status === 0 ? 'success' : 'failure';
    if (outcome === 'failure') failed = true;
    results.push({ name, outcome, stdout: r.stdout, stderr: r.stderr });
  });
  const outputs: Record<string, string> = {};
  for (const [name, output] of Object.entries(action.outputs)) outputs[name] = substitute(output.value, ctx);
  return { steps: results, outputs, summary: fs.readFileSync(summaryFile, 'utf8'), failed };
}

const outcomes = (run: ActionRun) => run.steps.map((s) => s.outcome);
const log = (run: ActionRun) =>
  run.steps
    .map((s) => `--- ${s.name} (${s.outcome})\n${s.stdout}${s.stderr}`)
    .join('\n')
    .slice(-6000);

/**
 * The Action's checkout at a ref, as the runner downloads it: the files of the commit checked out here (action.yml
 * itself is read from the working tree, so that a change to it is tested before it is committed).
 */
function checkoutAtHead(dest: string): void {
  const tar = spawnSync('sh', ['-c', `git archive --format=tar HEAD | tar -x -C '${dest}'`], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
}

/** A user's repository: the example plan and the models it names, at the same places relative to it. */
function workspace(): string {
  const ws = tmpDir('onnx-attn-action-ws-');
  const plan = parseYaml(fs.readFileSync(path.join(ROOT, PLAN), 'utf8')) as { models: { input: string }[] };
  for (const f of [PLAN, ...plan.models.map((m) => path.join(path.dirname(PLAN), m.input))]) {
    fs.mkdirSync(path.dirname(path.join(ws, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(ws, f));
  }
  return ws;
}

/** Commands that must never run (npx, an onnx-attn on PATH, a decoy in the workspace): each leaves a mark. */
function decoy(file: string, marks: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\necho "$0 $*" >> '${marks}'\nexit 97\n`, { mode: 0o755 });
}

test('the Action installs and runs the onnx-attn at its own ref, without network, and reports', (t) => {
  const unshare = spawnSync('unshare', ['--net', '--map-root-user', 'true']);
  assert.equal(unshare.status, 0, 'this test needs `unshare --net` (util-linux; root or user namespaces), to run the Action without network');

  const actionPath = tmpDir('onnx-attn-action-path-');
  t.after(() => fs.rmSync(actionPath, { recursive: true, force: true })); // node_modules: 370 MB
  checkoutAtHead(actionPath);
  const ws = workspace();
  const marks = path.join(tmpDir('onnx-attn-action-marks-'), 'marks');
  const bin = path.join(path.dirname(marks), 'bin');
  for (const f of [path.join(bin, 'npx'), path.join(bin, 'onnx-attn'), path.join(ws, 'node_modules/.bin/onnx-attn')]) decoy(f, marks);

  const pinned = runAction({ actionPath, workspace: ws, inputs: { plan: PLAN }, bin });
  const installLog = pinned.steps[1]!.stdout + pinned.steps[1]!.stderr;
  assert.doesNotMatch(installLog, /ENOTCACHED/, `npm's cache (~/.npm) lacks a package of the lockfile: run npm ci first, as .ci/run does\n${installLog}`);
  assert.deepEqual(outcomes(pinned), ['success', 'success', 'success', 'success'], log(pinned));
  assert.equal(fs.existsSync(marks), false, `ran code not at the Action's ref: ${fs.existsSync(marks) && fs.readFileSync(marks, 'utf8')}`);
  assert.deepEqual(pinned.outputs, { 'exit-code': '0' });
  // The reports, in the workspace, and the Markdown one in the job summary.
  for (const f of REPORTS) assert.ok(fs.statSync(path.join(ws, f)).size > 200, f);
  const md = fs.readFileSync(path.join(ws, 'onnx-attn-report.md'), 'utf8');
  assert.equal(pinned.summary, md);
  assert.match(md, /^## onnx-attn apply: ✅ \*\*pass\*\*/);
  assert.match(md, /plan: `examples\/ci\/onnx-attn\.plan\.yaml`/);
  // Each entry's output, where the plan puts it (relative to the plan), written.
  const entries = (parseYaml(fs.readFileSync(path.join(ws, PLAN), 'utf8')) as { models: { name: string; output: string }[] }).models;
  const outputs = entries.map((m) =>
    path
      .relative(ws, path.resolve(ws, path.dirname(PLAN), m.output))
      .split(path.sep)
      .join('/'),
  );
  assert.deepEqual(
    entries.map((m) => m.name),
    ['yolov5-gate0', 'rtdetr-nam'],
  );
  entries.forEach((m, i) => assert.ok(md.includes(`| ${m.name} | \`${outputs[i]}\` (written)`), `${m.name}: ${outputs[i]}`));
  for (const f of outputs) assert.ok(fs.statSync(path.join(ws, f)).size > 10_000, f);
  const json = JSON.parse(fs.readFileSync(path.join(ws, 'onnx-attn-report.json'), 'utf8')) as { pass: boolean; entries: { name: string }[] };
  assert.equal(json.pass, true);
  assert.deepEqual(
    json.entries.map((e) => e.name),
    ['yolov5-gate0', 'rtdetr-nam'],
  );
  assert.match(fs.readFileSync(path.join(ws, 'onnx-attn-report.xml'), 'utf8'), /<testsuite [^>]*name="yolov5-gate0"/);
  // No install script ran: onnxruntime-node's would have fetched its CUDA provider. What the CLI needs loads without
  // them: onnxruntime (the run above) and sharp, whose binaries are prebuilt optional packages.
  const ort = path.join(actionPath, 'node_modules/onnxruntime-node/bin');
  assert.deepEqual(
    fs
      .readdirSync(ort, { recursive: true })
      .map(String)
      .filter((f) => /cuda|tensorrt/i.test(f)),
    [],
  );
  const sharp = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import sharp from 'sharp'; const png = await sharp({ create: { width: 3, height: 2, channels: 3, background: '#ff0000' } }).png().toBuffer(); const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true }); console.log(info.width, info.height, [...data.subarray(0, 3)].join(','))",
    ],
    { cwd: actionPath, encoding: 'utf8' },
  );
  assert.equal(sharp.status, 0, sharp.stderr);
  assert.equal(sharp.stdout.trim(), '3 2 255,0,0');

  // use-installed: true runs the workspace's own copy (here: the build above, linked as npm links a dependency's
  // bin), never the Action's (an empty folder now), and apply's failure is the step's: --check on a missing output.
  fs.rmSync(path.join(ws, 'node_modules'), { recursive: true });
  fs.mkdirSync(path.join(ws, 'node_modules/.bin'), { recursive: true });
  fs.symlinkSync(actionPath, path.join(ws, 'node_modules/onnx-attn'));
  fs.chmodSync(path.join(actionPath, 'dist/src/cli/bin.js'), 0o755);
  fs.symlinkSync('../onnx-attn/dist/src/cli/bin.js', path.join(ws, 'node_modules/.bin/onnx-attn'));
  fs.rmSync(path.join(ws, outputs[0]!));
  const emptyActionPath = tmpDir('onnx-attn-action-empty-');
  const installed = runAction({
    actionPath: emptyActionPath,
    workspace: ws,
    inputs: { plan: PLAN, args: '--check', 'use-installed': 'true' },
    bin,
  });
  assert.deepEqual(outcomes(installed), ['success', 'skipped', 'failure', 'success'], log(installed));
  assert.deepEqual(installed.outputs, { 'exit-code': '1' });
  assert.equal(fs.existsSync(marks), false);
  assert.deepEqual(fs.readdirSync(emptyActionPath), [], 'nothing installed in the Action');
  assert.match(installed.steps[2]!.stdout, /^STALE +yolov5-gate0 /m);
  // --check writes no report: the summary says so rather than show the first run's.
  assert.equal(installed.summary, 'onnx-attn apply wrote no report (exit 1); see the step log.\n');
  for (const f of REPORTS) assert.equal(fs.existsSync(path.join(ws, f)), false, f);
  assert.deepEqual(
    outputs.map((f) => fs.existsSync(path.join(ws, f))),
    [false, true],
    '--check wrote nothing',
  );
});

test('use-installed: true without an installed onnx-attn, or not a boolean, fails with exit 2 and one line', () => {
  const ws = workspace();
  const marks = path.join(tmpDir('onnx-attn-action-marks-'), 'marks');
  const bin = path.join(path.dirname(marks), 'bin');
  decoy(path.join(bin, 'npx'), marks);
  decoy(path.join(bin, 'onnx-attn'), marks);
  const actionPath = tmpDir('onnx-attn-action-empty-');
  const missing =
    /^::error title=onnx-attn::use-installed is true but .*\/node_modules\/\.bin\/onnx-attn does not exist: add onnx-attn to the repository's package\.json and run npm ci before this step, or remove use-installed to run the Action's own copy\.$/;
  for (const [use, message] of [
    ['true', missing],
    ['True', missing], // GitHub's `if:` compares strings ignoring case: so does the script
    ['yes', /^::error title=onnx-attn::use-installed must be true or false, not 'yes'\.$/],
  ] as const) {
    const run = runAction({ actionPath, workspace: ws, inputs: { plan: PLAN, 'use-installed': use }, bin });
    assert.deepEqual(outcomes(run), ['success', 'skipped', 'failure', 'success'], log(run));
    assert.deepEqual(run.outputs, { 'exit-code': '2' });
    const apply = run.steps[2]!;
    assert.equal(apply.stdout, '');
    assert.match(apply.stderr.trimEnd(), message);
    assert.equal(apply.stderr.trimEnd().split('\n').length, 1, apply.stderr);
    assert.equal(run.summary, 'onnx-attn apply wrote no report (exit 2); see the step log.\n');
  }
  assert.equal(fs.existsSync(marks), false);
  assert.deepEqual(fs.readdirSync(ws).sort(), ['examples', 'fixtures']);
  assert.deepEqual(fs.readdirSync(actionPath), []);
});

// GitHub's own validator for workflow and action files (@actions/languageservice, the one behind the GitHub Actions
// extension for VS Code): schema, expression syntax and contexts, offline (no action metadata provider given).
// Its parser imports JSON without an import attribute, which Node refuses
// (github.com/actions/languageservices/issues/387), so a load hook adds the attribute for its files.
register(
  'data:text/javascript,' +
    encodeURIComponent(
      "export async function load(url, context, next) { return next(url, url.endsWith('.json') && url.includes('/@actions/') ? { ...context, importAttributes: { ...context.importAttributes, type: 'json' } } : context); }",
    ),
);

let lints = 0;
async function lint(file: string, text = fs.readFileSync(path.join(ROOT, file), 'utf8')): Promise<string[]> {
  const { validate } = await import('@actions/languageservice');
  const { TextDocument } = await import('vscode-languageserver-textdocument');
  // A new URI each time: the validator caches parsed files by URI.
  const diagnostics = await validate(TextDocument.create(`file:///repo-${++lints}/${file}`, 'yaml', 1, text));
  return diagnostics.map(
    (d) => `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
  );
}

test("action.yml and the example workflow pass GitHub's validator, which catches what is wrong", async () => {
  assert.deepEqual(await lint('action.yml'), []);
  assert.deepEqual(await lint('examples/ci/github-workflow.yml'), []);
  // The validator is live on these very files: a step without its shell, a context that does not exist, an
  // expression that does not parse, a key that workflows do not have.
  const action = fs.readFileSync(ACTION_FILE, 'utf8');
  assert.ok(action.includes('    - name: onnx-attn apply\n      id: apply\n      shell: bash\n'));
  const noShell = await lint('action.yml', action.replace('      id: apply\n      shell: bash\n', '      id: apply\n'));
  assert.ok(
    noShell.some((d) => /^action\.yml:\d+:\d+: Required property is missing: shell$/.test(d)),
    noShell.join('\n'),
  );
  const badContext = await lint('action.yml', action.replace('${{ steps.apply.outputs.exit-code }}', '${{ step.apply.outputs.exit-code }}'));
  assert.ok(
    badContext.some((d) => /Unrecognized named-value: 'step'/.test(d)),
    badContext.join('\n'),
  );
  const badIf = await lint('action.yml', action.replace("if: inputs.use-installed == 'false'", "if: inputs.use-installed == 'false"));
  assert.ok(
    badIf.some((d) => /^action\.yml:\d+:\d+: Unexpected symbol/.test(d)),
    badIf.join('\n'),
  );
  const workflow = fs.readFileSync(path.join(ROOT, 'examples/ci/github-workflow.yml'), 'utf8');
  const badKey = await lint('examples/ci/github-workflow.yml', workflow.replace('runs-on:', 'runs_on:'));
  assert.ok(
    badKey.some((d) => /Unexpected value 'runs_on'/.test(d)),
    badKey.join('\n'),
  );
});

test('no CI example or README form runs onnx-attn by name from the registry; they show the pinned forms', () => {
  const action = loadAction();
  assert.deepEqual(Object.keys(action.inputs), ['plan', 'args', 'node-version', 'use-installed']);
  assert.equal(action.inputs['use-installed']!.default, 'false', 'the installed copy only when asked');
  const commands = (script: string) =>
    script
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n');
  for (const step of action.runs.steps) if (step.run) assert.doesNotMatch(commands(step.run), /\bnpx\b|npm (i|install|exec)\b/, step.name);
  const install = action.runs.steps.find((s) => s.run?.includes('npm ci'))!;
  assert.match(install.run!, /^cd "\$GITHUB_ACTION_PATH"$/m);
  assert.match(install.run!, /^npm ci --ignore-scripts /m);

  const gitlab = parseYaml(fs.readFileSync(path.join(ROOT, 'examples/ci/gitlab-ci.yml'), 'utf8')) as Record<string, { script?: string[] }>;
  const script = gitlab['onnx-attn']!.script!;
  assert.deepEqual(
    script.map((l) => l.split(' ')[0]),
    ['npm', 'node_modules/.bin/onnx-attn'],
  );
  assert.match(script[0]!, /^npm ci\b/);

  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const ci = readme.slice(readme.indexOf('## Use in CI\n'), readme.indexOf('\n## ', readme.indexOf('## Use in CI\n') + 5));
  assert.doesNotMatch(ci.replace(/never `npx onnx-attn`|It never runs `npx onnx-attn`/g, ''), /npx/);
  assert.match(ci, /uses: onnx-attn\/onnx-attn@v0 {8}# or @<full commit sha>/);
  assert.match(ci, /use-installed: true/);
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const pins = [...`${ci}\n${fs.readFileSync(path.join(ROOT, 'examples/ci/gitlab-ci.yml'), 'utf8')}`.matchAll(/onnx-attn@(\d[\w.-]*)/g)].map((m) => m[1]);
  assert.ok(pins.length >= 4, String(pins));
  assert.deepEqual([...new Set(pins)], [version], 'the pinned version is the current release');
});
