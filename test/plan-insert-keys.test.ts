import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readTensorFile } from '../src/weights/read.js';
import { assertRefused, fixture, listFiles, runMain, tmpDir } from './helpers.js';

/**
 * An insert item of a plan that fails while it is built points at the key it is about (its line), as the error
 * names that option (src/insert/: `OnnxAttnError.option`), not by reading the message: after, weights,
 * weights-prefix, consumers; an error about none of them points at the item. In the plan's words (no `--`).
 */
test('apply: an insert item that fails when built is reported at the key it is about', async () => {
  const dir = tmpDir('onnx-attn-plan-keys-');
  fs.copyFileSync(fixture('yolov5-op12.onnx'), path.join(dir, 'model.onnx'));
  fs.copyFileSync(fixture('checkpoints/yolov5-nam.pt'), path.join(dir, 'nam.pt'));
  // NAM's reference keys for C=16 (the golden also holds the input and output).
  const golden = readTensorFile(fixture('goldens/nam-channel-c16-8x8.safetensors'));
  const state = Object.fromEntries(
    [...golden.tensors]
      .filter(([k]) => k.startsWith('Channel_Att.'))
      .map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.data as Float32Array, Number) }]),
  );
  fs.writeFileSync(path.join(dir, 'nam16.json'), JSON.stringify(state));
  const plan = (item: string) =>
    `version: 1\nmodels:\n  - input: model.onnx\n    output: out/a.onnx\n    insert:\n      - {after: "20", module: SimAM}\n${item}`;
  const cases: [string, string, number, RegExp][] = [
    [
      'weights of another shape',
      '      - after: "23"\n        module: NAM\n        weights: nam16.json\n',
      2,
      /^plan\.yaml:9: models\[0\]\.insert\[1\]\.weights: .*nam16\.json: Channel_Att\.bn2\.weight has shape \[16\], expected \[32\]/,
    ],
    [
      'a prefix the checkpoint does not hold',
      '      - after: "20"\n        module: NAM\n        weights: nam.pt\n        weights-prefix: model.99.\n',
      2,
      /^plan\.yaml:10: models\[0\]\.insert\[1\]\.weights-prefix: .*nam\.pt.* has no tensor under weights-prefix 'model\.99\.'/,
    ],
    [
      'two points on one tensor',
      '      - after: ["17", model.17]\n        module: SE\n',
      2,
      /^plan\.yaml:7: models\[0\]\.insert\[1\]\.after: 'model\.17' and '17' both resolve to tensor .*; insert once per tensor$/,
    ],
    [
      'a consumer that does not read the point',
      '      - after: "23"\n        module: SE\n        consumers: [nope]\n',
      2,
      /^plan\.yaml:9: models\[0\]\.insert\[1\]\.consumers: node 'nope' does not read \/model\.23\/[^ ]+; its consumers are /,
    ],
    [
      'a module that cannot be built there (about no one key)',
      '      - after: "17"\n        module: GAM\n        opts: {variant: grouped}\n',
      2,
      /^plan\.yaml:7: models\[0\]\.insert\[1\]: model\.17 .*C=8\): GAM variant=grouped needs C divisible by r² = 16/,
    ],
  ];
  const before = listFiles(dir);
  for (const [what, item, code, re] of cases) {
    fs.writeFileSync(path.join(dir, 'plan.yaml'), plan(item));
    const r = await runMain(['apply', path.join(dir, 'plan.yaml')]);
    assert.equal(r.code, code, `${what}: ${r.stderr}`);
    assertRefused(r, dir, before, re, what, ['plan.yaml']);
  }
});
