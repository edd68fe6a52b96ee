import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers.js';

/**
 * The import layering of ARCHITECTURE.md, checked on the sources: every relative import of src/**\/*.ts (type-only
 * and dynamic included; *.test.ts files excluded, tests may reach across stages) must go to a stage its own stage
 * may import, and no two files may import each other through a chain. Today's breaches are listed below, each with
 * the issue-14 item that removes it: a new breach fails, and so does a listed one that no longer exists (delete it
 * from the list in the commit that fixes it).
 */

interface Stage {
  name: string;
  /** Files of the stage: a path relative to src/, or a folder ending in '/'. */
  files: string[];
  /** Stages this one may import (itself too, unless `isolated`). */
  mayImport: string[];
  /** Its files may not import each other (commands: shared code belongs in an earlier stage). */
  isolated?: boolean;
}

// In pipeline order; ARCHITECTURE.md says what each stage is for.
const STAGES: Stage[] = [
  { name: 'base', files: ['errors.ts', 'limits.ts', 'options.ts', 'version.ts', 'nearest.ts', 'effects.ts', 'package-files.ts'], mayImport: [] },
  {
    name: 'onnx',
    files: [
      'onnx/proto.ts',
      'onnx/dtype.ts',
      'onnx/float16.ts',
      'onnx/load.ts',
      'onnx/read.ts',
      'onnx/external.ts',
      'onnx/node-bytes.ts',
      'onnx/tensor.ts',
      'provenance.ts',
    ],
    mayImport: ['base'],
  },
  {
    name: 'graph',
    files: ['graph/graph.ts', 'graph/order.ts', 'graph/types.ts', 'graph/shapes.ts', 'graph/shapes/', 'graph/inserted.ts'],
    mayImport: ['base', 'onnx'],
  },
  { name: 'locate', files: ['locate/'], mayImport: ['base', 'onnx', 'graph'] },
  // A module is built from NodeProto pieces, never from the graph it will go into.
  { name: 'build', files: ['modules/', 'weights/', 'torch/'], mayImport: ['base', 'onnx'] },
  { name: 'splice', files: ['graph/splice.ts'], mayImport: ['base', 'onnx', 'graph', 'build'] },
  // The structural check of a patched graph; running the patched model is the runtime's.
  { name: 'check', files: ['check.ts'], mayImport: ['base', 'onnx', 'graph', 'locate', 'build', 'splice'] },
  { name: 'save', files: ['onnx/save.ts', 'onnx/chunks.ts', 'onnx/write.ts'], mayImport: ['base', 'onnx'] },
  { name: 'runtime', files: ['runtime/', 'accuracy/'], mayImport: ['base', 'onnx', 'graph', 'save'] },
  // analyzeModel: a model indexed, typed and its structure found, probing onnxruntime for shapes inference cannot reach;
  // prepareModel: a model made ready to run (its family found by locate) for validate and compare.
  { name: 'analysis', files: ['analysis.ts', 'prepare.ts'], mayImport: ['base', 'onnx', 'graph', 'locate', 'save', 'runtime'] },
  // The insert pipeline's parts (flag mapping, planning, the gate, applying items, the patched-model check) that the
  // insert command, sweep, apply and plans share.
  { name: 'insertion', files: ['insert/'], mayImport: ['base', 'onnx', 'graph', 'locate', 'build', 'splice', 'check', 'save', 'runtime', 'analysis'] },
  // One verb each; a command does not import another command (shared code gets a home in an earlier stage).
  {
    name: 'command',
    files: ['inspect.ts', 'convert.ts', 'insert.ts', 'validate.ts', 'compare.ts', 'doctor.ts', 'torch-code.ts'],
    mayImport: ['base', 'onnx', 'graph', 'locate', 'build', 'splice', 'check', 'save', 'runtime', 'analysis', 'insertion'],
    isolated: true,
  },
  // Verbs made of verbs: sweep (insert + compare), apply and plans (insert + validate + compare).
  {
    name: 'composite',
    files: ['sweep.ts', 'sweep/', 'apply.ts', 'plan/'],
    mayImport: ['base', 'onnx', 'graph', 'locate', 'build', 'splice', 'check', 'save', 'runtime', 'analysis', 'insertion', 'command'],
  },
  // Reports render the results of commands (their types) into files.
  {
    name: 'report',
    files: ['report/'],
    mayImport: ['base', 'onnx', 'graph', 'locate', 'build', 'save', 'runtime', 'analysis', 'insertion', 'command', 'composite'],
  },
  // The edge: the public index and the CLI may import everything.
  {
    name: 'edge',
    files: ['index.ts', 'cli/'],
    mayImport: ['base', 'onnx', 'graph', 'locate', 'build', 'splice', 'check', 'save', 'runtime', 'analysis', 'insertion', 'command', 'composite', 'report'],
  },
];

/**
 * Imports that break the layering today ('from -> to', paths under src/). Each names the issue-14 item that
 * removes it; remove the line in the same commit.
 */
const KNOWN_VIOLATIONS = new Set<string>([]);

/** File cycles today (sorted members joined by ' <-> '), each with the item that breaks it. */
const KNOWN_CYCLES = new Set<string>([]);

const SRC = path.join(ROOT, 'src');

function sourceFiles(): string[] {
  return fs
    .readdirSync(SRC, { recursive: true })
    .map((f) => String(f).split(path.sep).join('/'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .sort();
}

function stageOf(file: string): Stage | undefined {
  // The most specific entry wins: graph/splice.ts is its own stage inside graph/.
  let best: { stage: Stage; length: number } | undefined;
  for (const stage of STAGES) {
    for (const f of stage.files) {
      const hit = f.endsWith('/') ? file.startsWith(f) : file === f;
      if (hit && (!best || f.length > best.length)) best = { stage, length: f.length };
    }
  }
  return best?.stage;
}

/** Relative imports of a file as paths under src/, type-only, re-exports and dynamic import() included. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((i) => i.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
}

const FILES = sourceFiles();
const EDGES = new Map(FILES.map((f) => [f, [...new Set(importsOf(f))]]));

test('every src file belongs to exactly one stage, and every relative import resolves to a src file', () => {
  assert.deepEqual(
    FILES.filter((f) => !stageOf(f)),
    [],
    'add the file to a stage in STAGES and ARCHITECTURE.md',
  );
  const dangling = [...EDGES].flatMap(([from, to]) => to.filter((t) => !FILES.includes(t)).map((t) => `${from} -> ${t}`));
  assert.deepEqual(dangling, []);
});

test('imports follow the layering of ARCHITECTURE.md; the known violations are exactly the listed ones', () => {
  const found = new Set<string>();
  for (const [from, tos] of EDGES) {
    const own = stageOf(from)!;
    for (const to of tos) {
      const target = stageOf(to)!;
      const allowed = target === own ? !own.isolated : own.mayImport.includes(target.name);
      if (!allowed) found.add(`${from} -> ${to}`);
    }
  }
  const why = (v: string) => {
    const [from, to] = v.split(' -> ').map((f) => stageOf(f)!);
    return from === to ? `one ${from!.name} may not import another` : `${from!.name} may not import ${to!.name}`;
  };
  const added = [...found].filter((v) => !KNOWN_VIOLATIONS.has(v)).map((v) => `${v} (${why(v)})`);
  assert.deepEqual(added, [], 'new imports against the layering: import from an earlier stage, or move the shared code there');
  const gone = [...KNOWN_VIOLATIONS].filter((v) => !found.has(v));
  assert.deepEqual(gone, [], 'fixed: remove these from KNOWN_VIOLATIONS');
});

test('no import cycles between files, type-only included, beyond the listed ones', () => {
  // Tarjan's strongly connected components over the file graph.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of EDGES.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort().join(' <-> '));
    }
  };
  for (const f of FILES) if (!index.has(f)) visit(f);
  assert.deepEqual(
    cycles.filter((c) => !KNOWN_CYCLES.has(c)),
    [],
    'new import cycles',
  );
  assert.deepEqual(
    [...KNOWN_CYCLES].filter((c) => !cycles.includes(c)),
    [],
    'fixed: remove these from KNOWN_CYCLES',
  );
});

test('the stages themselves form no cycle: each may import only stages listed before it', () => {
  const order = STAGES.map((s) => s.name);
  for (const [i, stage] of STAGES.entries()) {
    for (const dep of stage.mayImport) assert.ok(order.indexOf(dep) >= 0 && order.indexOf(dep) < i, `${stage.name} may import ${dep}`);
  }
});

/** Files allowed past the line limit, each with its reason in ARCHITECTURE.md ("Known breaches and long files"). */
const LONG_BY_DESIGN = new Set(['graph/graph.ts', 'weights/pickle.ts']);
const MAX_LINES = 350;

test(`no src file is over ${MAX_LINES} lines unless ARCHITECTURE.md says why`, () => {
  const long = sourceFiles()
    .map((f) => ({ f, lines: fs.readFileSync(path.join(SRC, f), 'utf8').split('\n').length - 1 }))
    .filter(({ lines }) => lines > MAX_LINES);
  const unexplained = long.filter(({ f }) => !LONG_BY_DESIGN.has(f)).map(({ f, lines }) => `${f} (${lines} lines)`);
  assert.deepEqual(unexplained, [], 'split these along their jobs, or say in ARCHITECTURE.md why one is a single job (and list it here)');
  const doc = fs.readFileSync(path.join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  for (const f of LONG_BY_DESIGN) assert.ok(doc.includes(`\`${f}\``), `ARCHITECTURE.md says why ${f} is long`);
  const stale = [...LONG_BY_DESIGN].filter((f) => !long.some((l) => l.f === f));
  assert.deepEqual(stale, [], 'no longer long: remove from LONG_BY_DESIGN and ARCHITECTURE.md');
});
