import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * Start-up is a measured goal (issue #15): every command file is loaded when the CLI starts, so a command must load
 * its library verb with `await import(...)` in its handler. This follows the static imports (not `import type`, not
 * `await import`) from cli/main.ts and lists every library file they reach.
 */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

const STATIC_IMPORT = /^import\s+(?!type\s)[^;]*?\sfrom\s+'(\.[^']+)'|^import\s+'(\.[^']+)'/gm;

function staticClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    for (const m of text.matchAll(STATIC_IMPORT)) {
      visit(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1] ?? m[2]!)).replace(/\.js$/, '.ts'));
    }
  };
  visit(entry);
  return [...seen].sort();
}

test('the CLI loads at start-up only its own files and the few library files its flag tables need', () => {
  const library = staticClosure('cli/main.ts').filter((f) => !f.startsWith('cli/'));
  assert.deepEqual(library, ['effects.ts', 'errors.ts', 'insert/options.ts', 'options.ts', 'package-files.ts', 'runtime/limits.ts', 'version.ts']);
});

test('the closure follows static imports and skips type-only and lazy ones', () => {
  // A command file reaches its verb only through await import(): it is not in the start-up closure.
  const insert = staticClosure('cli/commands/insert.ts');
  assert.ok(insert.includes('insert/options.ts'));
  assert.ok(!insert.includes('insert.ts'), insert.join(', '));
  assert.ok(!staticClosure('cli/main.ts').includes('cli/context.ts'), 'context.ts is imported for types only');
});
