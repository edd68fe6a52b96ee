import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixture, tmpDir } from '../../test/helpers.js';
import { InsertItemError } from '../errors.js';
import { loadModel } from '../onnx/load.js';
import { readProvenance } from '../provenance.js';
import { readTensorFile } from '../weights/read.js';
import { applyInsertItems } from './items.js';
import type { InsertOptions } from './options.js';

/**
 * Insert items applied in a row (what a plan entry does), and the error of a failing item: its index, its exit
 * code, and the insert option it is about, which a plan turns into the key its message points at.
 */

const NAM16 = fixture('goldens/nam-channel-c16-8x8.safetensors');

/** NAM's reference keys only (the golden also holds the input and output), as a .json state_dict: fits C=16. */
function nam16Json(): string {
  const golden = readTensorFile(NAM16);
  const state = Object.fromEntries(
    [...golden.tensors]
      .filter(([k]) => k.startsWith('Channel_Att.'))
      .map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.data as Float32Array, Number) }]),
  );
  const file = path.join(tmpDir(), 'nam16.json');
  fs.writeFileSync(file, JSON.stringify(state));
  return file;
}

async function failure(items: InsertOptions[]): Promise<InsertItemError> {
  const model = await loadModel(fixture('yolov5-op12.onnx'));
  try {
    await applyInsertItems(model, items);
  } catch (e) {
    assert.ok(e instanceof InsertItemError, `not an InsertItemError: ${String(e)}`);
    return e;
  }
  assert.fail('expected the items to fail');
}

test('items apply in order, each planned on the model the previous one left: the second stacks behind the first', async () => {
  const model = await loadModel(fixture('yolov5-op12.onnx'));
  const done = await applyInsertItems(
    model,
    [
      { after: '20', module: 'SimAM' },
      { after: '20', module: 'SE', gate: 'zero' },
    ],
    { extraProvenance: { entry: 'e' } },
  );
  assert.deepEqual(
    done.map((d) => [d.k, d.module, d.gate, d.point]),
    [
      [0, 'SimAM', 'none', 'model.20'],
      [1, 'SE', 'zero', 'model.20'],
    ],
  );
  // "After 20" in the patched model is after the SimAM already there: SE reads its output.
  assert.equal(done[1]!.moduleInput, done[0]!.moduleOutput);
  assert.deepEqual(
    (readProvenance(model.proto.metadataProps) as Record<string, unknown>[]).map((p) => [p['k'], p['module'], p['entry']]),
    [
      [0, 'SimAM', 'e'],
      [1, 'SE', 'e'],
    ],
  );
});

test('a failing item: its index, the exit code of its cause, and the option its error is about', async () => {
  const nam16 = nam16Json();
  const ok: InsertOptions = { after: '20', module: 'SimAM' };
  const cases: [InsertOptions, string | undefined, number, RegExp][] = [
    [{ after: '99', module: 'SE' }, 'after', 4, /layer 99 not found/],
    [{ after: ' , ', module: 'SE' }, 'after', 2, /^--after needs at least one insertion point \(SPEC\)$/],
    [{ after: ['20', 'model.20'], module: 'SE' }, 'after', 2, /both resolve to tensor .*; insert once per tensor$/],
    [{ after: '23', module: 'SE', consumers: ['nope'] }, 'consumers', 4, /^--consumers: node 'nope' does not read /],
    [{ after: '23', module: 'SE', consumers: [''] }, 'consumers', 2, /^--consumers needs node names/],
    [{ after: '23', module: 'NAM', weights: nam16 }, 'weights', 4, /nam16\.json: Channel_Att\.bn2\.weight has shape \[16\], expected \[32\]/],
    [{ after: '20', module: 'NAM', weights: [nam16, nam16] }, 'weights', 2, /^--weights names 2 files for 1 insertion points/],
    [{ after: '20', module: 'NAM', weights: nam16, seed: 1 }, 'weights', 2, /^--weights gives the module's weights, so --seed would be ignored/],
    [{ after: '20', module: 'NAM', weights: path.join(tmpDir(), 'none.npz') }, 'weights', 2, /none\.npz: no such file$/],
    [
      { after: '20', module: 'NAM', weights: fixture('checkpoints/yolov5-nam.pt'), weightsPrefix: 'model.99.' },
      'weights-prefix',
      2,
      /yolov5-nam\.pt.* has no tensor under --weights-prefix 'model\.99\.'/,
    ],
    [{ after: '20', module: 'NAM', weightsPrefix: 'model.24.' }, 'weights-prefix', 2, /^--weights-prefix names a module inside a --weights file/],
    [{ after: '20', module: 'NAM', weights: nam16, weightsPrefix: ['a.', 'b.'] }, 'weights-prefix', 2, /^--weights-prefix names 2 prefixes for 1/],
    // Not about one option: at the item itself.
    [{ after: '23', module: 'ECA', opts: { k: '4' } }, undefined, 2, /ECA k must be odd/],
    [{ after: '17', module: 'GAM', opts: { variant: 'grouped' } }, undefined, 4, /GAM variant=grouped needs C divisible by r² = 16/],
  ];
  for (const [item, option, exitCode, message] of cases) {
    const e = await failure([ok, item]);
    const what = JSON.stringify(item);
    assert.equal(e.index, 1, what);
    assert.equal(e.option, option, `${what}: ${e.message}`);
    assert.equal(e.cause.option, option, what);
    assert.equal(e.exitCode, exitCode, `${what}: ${e.message}`);
    assert.equal(e.name, e.cause.name, what);
    assert.match(e.message, message, what);
  }
});
