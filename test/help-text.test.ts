import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOP_HELP, TOP_HELP_WIDTH } from '../src/cli/help-text.js';
import { renderTopHelp } from './help-render.js';
import { runBin } from './helpers.js';

test('the stored top-level --help is what yargs renders now (else: node dist/scripts/make-help-text.js, then build)', async () => {
  assert.equal(TOP_HELP_WIDTH, 100);
  assert.equal(TOP_HELP, await renderTopHelp(), 'src/cli/help-text.ts is stale: run node dist/scripts/make-help-text.js and rebuild');
  assert.match(TOP_HELP, /^onnx-attn <command> \[options\]\n/);
});

test('onnx-attn --help prints the stored text, exit 0; with another flag it goes through yargs as before', () => {
  const r = runBin(['--help']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, TOP_HELP);
  assert.equal(r.stderr, '');
  const insert = runBin(['insert', '--help']);
  assert.equal(insert.code, 0);
  assert.match(insert.stdout, /--after/);
  assert.notEqual(insert.stdout, TOP_HELP);
});
