import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { isBuiltin } from 'node:module';
import * as path from 'node:path';
import { test } from 'node:test';
import { BUNDLE_DIR, BUNDLE_EXTERNALS } from '../scripts/bundle.js';
import { ROOT, runBin, tmpDir } from './helpers.js';

// `npm test` builds the bundle (npm run build); these pin what it is and when the bin uses it.

const MODULE_LOG_HOOK = new URL('./module-log-hook.js', import.meta.url).href;

/** Runs a bin with the arguments and says what it loaded: the bundle (dist/bin/cli.js) or the modules (dist/src). */
function runAndSayLoaded(bin: string, args: string[], cwd: string): { stderr: string; code: number | null; loaded: string[] } {
  const log = path.join(tmpDir(), 'modules.txt');
  const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(MODULE_LOG_HOOK)})`;
  const r = spawnSync(process.execPath, ['--import', register, bin, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ONNX_ATTN_MODULE_LOG: log },
  });
  const urls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n') : [];
  const loaded = [
    ...(urls.some((u) => u.endsWith('/dist/bin/cli.js')) ? ['bin'] : []),
    ...(urls.some((u) => u.endsWith('/dist/src/cli/main.js')) ? ['src'] : []),
  ];
  return { stderr: r.stderr, code: r.status, loaded };
}

const FAILING_INSERT = ['insert', 'no-such-model.onnx', '--after', '23', '--module', 'NAM'];

test('the real bin runs the bundled CLI that npm run build made', () => {
  const r = runAndSayLoaded(path.join(ROOT, 'dist/src/cli/bin.js'), FAILING_INSERT, ROOT);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stderr, 'onnx-attn: no-such-model.onnx: no such file; check the path\n');
  assert.deepEqual(r.loaded, ['bin']);
});

test("--debug's stack trace from the bundle names the TypeScript source's file and line (source maps)", () => {
  const r = runBin([...FAILING_INSERT, '--debug']);
  assert.equal(r.code, 4, r.stderr);
  const frames = r.stderr.split('\n').filter((l) => l.trimStart().startsWith('at '));
  assert.match(frames[0] ?? '', /^ {4}at modelSource \(.*\/src\/onnx\/load\.ts:\d+:\d+\)$/, r.stderr);
  assert.ok(!r.stderr.includes('/dist/bin/'), r.stderr);
});

test('the bundle imports only its own chunks, node built-ins and the packages it leaves outside', () => {
  const files = fs.readdirSync(BUNDLE_DIR);
  assert.ok(files.includes('cli.js') && files.includes('opencv-worker.js'), files.join(', '));
  const outside = new Set<string>();
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const text = fs.readFileSync(path.join(BUNDLE_DIR, file), 'utf8');
    // esbuild writes module specifiers in double quotes: static imports, import() and bundled CommonJS's __require().
    for (const m of text.matchAll(/(?:^import\s[^;]*?\bfrom\s*|^import\s*|\bimport\(|\b__require\()"([^"\s]+)"/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('./')) assert.ok(files.includes(spec.slice(2)), `${file} imports missing ${spec}`);
      else if (!spec.startsWith('node:') && !isBuiltin(spec)) outside.add(`${file}: ${spec}`);
    }
  }
  const packages = new Set([...outside].map((s) => s.split(': ')[1]!));
  assert.deepEqual(
    [...outside].filter((s) => !BUNDLE_EXTERNALS.includes(s.split(': ')[1]!)),
    [],
    'only the declared externals are left outside',
  );
  // The native runtimes really are loaded from node_modules (OpenCV's is loaded by its worker through createRequire).
  assert.ok(packages.has('onnxruntime-node') && packages.has('sharp'), [...packages].join(', '));
});

test('without a bundle newer than its modules, the bin runs the modules (a bare tsc never runs a stale bundle)', () => {
  // A copy of the package's runtime files: the bin resolves the bundle beside itself, so the real dist stays untouched.
  const root = tmpDir('onnx-attn-bundle-');
  try {
    fs.cpSync(path.join(ROOT, 'dist/src'), path.join(root, 'dist/src'), {
      recursive: true,
      filter: (p) => !/\.(test\.js|map|d\.ts)$/.test(p),
    });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
    const run = () => {
      const r = runAndSayLoaded(path.join(root, 'dist/src/cli/bin.js'), FAILING_INSERT, root);
      assert.equal(r.code, 4, r.stderr);
      return r.loaded;
    };
    assert.deepEqual(run(), ['src'], 'no bundle: the modules');

    fs.cpSync(BUNDLE_DIR, path.join(root, 'dist/bin'), { recursive: true });
    const mainJs = path.join(root, 'dist/src/cli/main.js');
    const built = fs.statSync(mainJs).mtime;
    fs.utimesSync(path.join(root, 'dist/bin/cli.js'), built, new Date(built.getTime() - 60_000));
    assert.deepEqual(run(), ['src'], 'a bundle older than main.js: stale, the modules');

    fs.utimesSync(path.join(root, 'dist/bin/cli.js'), built, new Date(built.getTime() + 60_000));
    assert.deepEqual(run(), ['bin'], 'a bundle built after main.js: the bundle');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("yargs' own messages are in English like every other line, whatever LANG says", () => {
  const r = runBin(['insert', '--after', '23'], { env: { LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' } });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "onnx-attn: Not enough non-option arguments: got 0, need at least 1 (see 'onnx-attn --help')\n");
});

test("the bundled CLI looks for yargs' settings from onnx-attn's root up, as unbundled, never from the working directory", () => {
  const cwd = tmpDir();
  const log = path.join(tmpDir(), 'readdir.txt');
  // Every fs.readdirSync of the child, the ES module bindings included, goes to the log.
  const preload = [
    "import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module';",
    'const readdirSync = fs.readdirSync;',
    'fs.readdirSync = function (p, ...rest) { fs.appendFileSync(process.env.ONNX_ATTN_READDIR_LOG, String(p) + "\\n"); return readdirSync.call(this, p, ...rest); };',
    'syncBuiltinESMExports();',
  ].join('\n');
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(preload)}`, path.join(ROOT, 'dist/src/cli/bin.js'), ...FAILING_INSERT],
    {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, ONNX_ATTN_READDIR_LOG: log },
    },
  );
  assert.equal(r.status, 4, r.stderr);
  const listed = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
  assert.ok(listed.length > 0, 'the log sees yargs look for its package.json');
  // yargs walks up from onnx-attn's root (from its parent where the root's name has a dot, as a mktemp clone's
  // /tmp/tmp.X has: yargs takes such a name for a file's); the working directory is never where it starts.
  const rootOrAbove = (dir: string) => !path.relative(path.resolve(dir), ROOT).startsWith('..');
  assert.deepEqual(
    listed.filter((dir) => !rootOrAbove(dir) || path.resolve(dir) === cwd),
    [],
    `listed: ${listed.join(', ')}`,
  );
});
