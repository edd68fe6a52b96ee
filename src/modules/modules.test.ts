import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../test/helpers.js';
import { decodeModel } from '../onnx/load.js';
import { BuildError, UsageError } from '../errors.js';
import { ModuleBuilder } from './builder.js';
import { ecaKernel } from './eca.js';
import { describeModules, findModule, MODULES, resolveOptions } from './index.js';
import type { ModuleContext } from './types.js';
import { initWeights } from '../weights/init.js';

function context(name: string, opts: Record<string, string> = {}, over: Partial<ModuleContext> = {}): ModuleContext {
  const m = findModule(name);
  return { channels: 64, height: 20, width: 20, opset: 17, bnEps: 1e-3, options: resolveOptions(m, opts), ...over };
}

function built(name: string, opts: Record<string, string> = {}, over: Partial<ModuleContext> = {}) {
  const m = findModule(name);
  const ctx = context(name, opts, over);
  m.validate(ctx);
  const tape = new ModuleBuilder(ctx.opset);
  m.build(tape, tape.input, initWeights(m.params(ctx), 'torch', 0), ctx);
  const total = Object.values(tape.opCounts()).reduce((a, b) => a + b, 0);
  const trainable = m
    .params(ctx)
    .filter((p) => p.trainable)
    .reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  return { tape, total, trainable, ctx, m };
}

describe('module op counts (attention-modules.md minimal forms)', () => {
  const cases: [string, Record<string, string>, Partial<ModuleContext>, number][] = [
    ['NAM', {}, {}, 3],
    ['NAM', { spatial: 'pixel' }, {}, 8],
    ['NAM', {}, { height: null, width: null }, 3],
    ['GAM', {}, {}, 10],
    ['GAM', { variant: 'plain' }, {}, 9],
    ['GAM', { variant: 'grouped' }, {}, 12],
    ['GAM', { variant: 'grouped' }, { height: null, width: null }, 13],
    ['SimAM', {}, {}, 10],
    ['SimAM', {}, { height: null, width: null, opset: 14 }, 17],
    ['SimAM', {}, { height: null, width: null, opset: 17 }, 16],
    ['SE', {}, {}, 6],
    ['CBAM', {}, {}, 15],
    ['CBAM', {}, { opset: 18 }, 17],
    ['CBAM', { variant: 'ultralytics' }, {}, 10],
    ['CBAM', { variant: 'ultralytics' }, { opset: 18 }, 12],
    ['ECA', {}, {}, 6],
    ['CA', {}, { opset: 14 }, 12],
    ['CA', {}, { opset: 13 }, 14],
    ['CA', {}, { opset: 18, height: null, width: null }, 12],
  ];
  for (const [name, opts, over, expected] of cases) {
    it(`${name} ${JSON.stringify(opts)} ${JSON.stringify(over)} → ${expected} ops, as ops() declares`, () => {
      const { tape, total, m, ctx } = built(name, opts, over);
      assert.equal(total, expected);
      assert.deepEqual(tape.opCounts(), { ...m.ops(ctx) });
    });
  }
});

describe('opset forms', () => {
  const attrAxes = (tape: ModuleBuilder, op: string) =>
    tape.nodes.filter((n) => n.opType === op).map((n) => [n.inputs.length, n.attributes.some((a) => a.name === 'axes')]);
  it('ReduceSum takes axes as an attribute up to opset 12 and as an input from 13', () => {
    const reduceSum = (opset: number) => {
      const b = new ModuleBuilder(opset);
      b.reduce('ReduceSum', b.input, [2, 3]);
      return attrAxes(b, 'ReduceSum');
    };
    assert.deepEqual(reduceSum(12), [[1, true]]);
    assert.deepEqual(reduceSum(13), [[2, false]]);
  });
  it('ReduceMean (CA with dynamic H, W) takes axes as an attribute up to opset 17 and as an input from 18', () => {
    assert.deepEqual(attrAxes(built('CA', {}, { opset: 17, height: null, width: null }).tape, 'ReduceMean'), [
      [1, true],
      [1, true],
    ]);
    assert.deepEqual(attrAxes(built('CA', {}, { opset: 18, height: null, width: null }).tape, 'ReduceMean'), [
      [2, false],
      [2, false],
    ]);
  });
  it('with a static H, W no module emits a Reduce op whose axes are an input, at any opset (OpenCV 4.6 misreads or refuses them)', () => {
    for (const m of MODULES) {
      const vo = m.options.find((o) => o.kind === 'choice');
      for (const value of vo ? vo.choices! : [undefined]) {
        for (let opset = 11; opset <= 21; opset++) {
          const { tape } = built(m.name, vo && value ? { [vo.key]: value } : {}, { opset });
          const inputAxes = tape.nodes.filter((n) => n.opType.startsWith('Reduce') && n.inputs.length > 1);
          assert.deepEqual(
            inputAxes.map((n) => n.opType),
            [],
            `${m.name} ${value ?? ''} at opset ${opset}`,
          );
        }
      }
    }
  });
  it("CBAM's channel max is ReduceMax up to opset 17 and Transpose → MaxPool(C×1) → Transpose from 18", () => {
    const ops = (opset: number) =>
      built('CBAM', {}, { opset })
        .tape.nodes.map((n) => n.opType)
        .filter((o) => /^(ReduceMax|Transpose|MaxPool)$/.test(o));
    assert.deepEqual(ops(17), ['ReduceMax']);
    assert.deepEqual(ops(18), ['Transpose', 'MaxPool', 'Transpose']);
    const pool = built('CBAM', {}, { opset: 18 }).tape.nodes.find((n) => n.opType === 'MaxPool')!;
    assert.deepEqual(pool.attributes.find((a) => a.name === 'kernel_shape')!.ints, [64n, 1n]);
  });
  it('CA uses HardSwish from opset 14, z·HardSigmoid(z) below', () => {
    assert.equal(built('CA', {}, { opset: 14 }).tape.opCounts()['HardSwish'], 2);
    assert.equal(built('CA', {}, { opset: 13 }).tape.opCounts()['HardSigmoid'], 2);
    assert.equal(built('CA', {}, { opset: 13 }).tape.opCounts()['HardSwish'], undefined);
  });
  it('SimAM measures H·W with Shape(start, end) from opset 15', () => {
    assert.equal(built('SimAM', {}, { height: null, width: null, opset: 15 }).tape.opCounts()['Slice'], undefined);
    assert.equal(built('SimAM', {}, { height: null, width: null, opset: 14 }).tape.opCounts()['Slice'], 1);
  });
});

describe('attributes as the exporter writes them (fixtures/torch-form: torch.onnx.export at opset 17)', () => {
  // For each op, the attribute names every exported node of that op carries.
  const exported = new Map<string, Set<string>>();
  const dir = path.join(ROOT, 'fixtures/torch-form');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.onnx'))) {
    for (const n of decodeModel(fs.readFileSync(path.join(dir, f)), f).graph!.node) {
      const names = new Set(n.attribute.map((a) => a.name));
      const seen = exported.get(n.opType);
      exported.set(n.opType, seen ? new Set([...seen].filter((k) => names.has(k))) : names);
    }
  }
  it('the torch-form fixtures give Conv its five attributes', () => {
    assert.deepEqual([...exported.get('Conv')!].sort(), ['dilations', 'group', 'kernel_shape', 'pads', 'strides']);
  });
  for (const m of MODULES) {
    const vo = m.options.find((o) => o.kind === 'choice');
    for (const value of vo ? vo.choices! : [undefined]) {
      for (const over of [{}, { height: null, width: null }] as Partial<ModuleContext>[]) {
        const opts = vo && value ? { [vo.key]: value } : {};
        if (m.name === 'NAM' && value === 'pixel' && over.height === null) continue; // static H, W only
        it(`${m.name} ${value ?? ''}${over.height === null ? ' dynamic' : ''}: every node carries the exporter's attributes`, () => {
          const { tape } = built(m.name, opts, over);
          for (const n of tape.nodes) {
            const have = new Set(n.attributes.map((a) => a.name));
            for (const k of exported.get(n.opType) ?? []) assert.ok(have.has(k), `${n.opType} lacks '${k}'`);
          }
          // And at every opset, each Conv has all five (OpenCV's importer reads kernel_shape, never the weight's shape).
          for (let opset = 11; opset <= 21; opset++) {
            for (const n of built(m.name, opts, { ...over, opset }).tape.nodes.filter((x) => x.opType === 'Conv')) {
              assert.deepEqual(n.attributes.map((a) => a.name).sort(), ['dilations', 'group', 'kernel_shape', 'pads', 'strides'], `opset ${opset}`);
            }
          }
        });
      }
    }
  }
});

describe('parameters (attention-modules.md formulas)', () => {
  it('GAM at C=64, r=4: 102,720 plain and 27,456 grouped', () => {
    assert.equal(built('GAM', { variant: 'plain' }).trainable, 102_720);
    assert.equal(built('GAM', { variant: 'grouped' }).trainable, 27_456);
  });
  it('NAM 2C, SimAM 0, SE 2C²/r, ECA k, CA 3C·mip + 3mip + 2C, CBAM ultralytics C² + C + 2k²', () => {
    assert.equal(built('NAM').trainable, 128);
    assert.equal(built('NAM', { spatial: 'pixel' }).trainable, 128 + 800);
    assert.equal(built('SimAM').trainable, 0);
    assert.equal(built('SE').trainable, (2 * 64 * 64) / 16);
    assert.equal(built('ECA').trainable, 3);
    assert.equal(built('CA').trainable, 3 * 64 * 8 + 3 * 8 + 2 * 64);
    assert.equal(built('CBAM', { variant: 'ultralytics' }).trainable, 64 * 64 + 64 + 2 * 49);
    assert.equal(built('CBAM').trainable, 2 * 64 * 4 + 4 + 64 + 98 + 2);
  });
  it('ECA adaptive k is the nearest odd of |(log₂C + 1)/2|', () => {
    assert.deepEqual([64, 128, 256, 512, 1024, 2048].map(ecaKernel), [3, 5, 5, 5, 5, 7]);
    assert.equal(built('ECA', { k: '7' }).trainable, 7);
  });
});

describe('bad module names and options are usage errors (exit 2, one line)', () => {
  const misuse = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'));
  it('an unknown module lists the valid ones', () =>
    misuse(() => findModule('Transformer'), /unknown module 'Transformer'; choose one of NAM, GAM, SimAM, SE, CBAM, ECA, CA/));
  it('module names are case-insensitive', () => assert.equal(findModule('simam').name, 'SimAM'));
  it('an unknown option names the valid ones', () =>
    misuse(() => resolveOptions(findModule('GAM'), { reduction: '4' }), /GAM has no option 'reduction'; its options are variant, rate/));
  it('a bad option value says what is expected', () => {
    misuse(() => resolveOptions(findModule('GAM'), { variant: 'fancy' }), /variant=fancy: expected one of paper, plain, grouped/);
    misuse(() => resolveOptions(findModule('GAM'), { rate: '0' }), /rate=0: expected a positive integer/);
    misuse(() => resolveOptions(findModule('SimAM'), { lambda: 'abc' }), /lambda=abc: expected a finite number/);
  });
  it('ECA k must be odd, CBAM ultralytics kernel 3 or 7, SimAM lambda ≥ 0: wrong at any point', () => {
    misuse(() => built('ECA', { k: '4' }), /must be odd/);
    misuse(() => built('CBAM', { variant: 'ultralytics', kernel: '5' }), /kernel=3 or kernel=7/);
    misuse(() => built('CBAM', { kernel: '3' }), /CBAM kernel=3 applies to variant=ultralytics; the official SpatialGate's kernel is 7/);
    misuse(() => built('SimAM', { lambda: '-1' }), /lambda must be ≥ 0, got -1/);
  });
});

describe('modules that cannot be built at a point (exit 4, one line)', () => {
  const fails = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof BuildError && re.test(e.message) && !e.message.includes('\n'));
  it('GAM grouped needs C % r² = 0', () => fails(() => built('GAM', { variant: 'grouped' }, { channels: 24 }), /divisible by r² = 16.*C=24/));
  it('NAM spatial=pixel needs static H, W and more than one pixel', () => {
    fails(() => built('NAM', { spatial: 'pixel' }, { height: null, width: null }), /static H and W/);
    fails(() => built('NAM', { spatial: 'pixel' }, { height: 1, width: 1 }), /1x1/);
  });
  it('SimAM on a 1x1 map would output NaN', () => fails(() => built('SimAM', {}, { height: 1, width: 1 }), /n = H·W − 1 = 0/));
  it('SE and CBAM refuse a reduction that leaves no hidden unit', () => {
    fails(() => built('SE', { reduction: '128' }), /C \/\/ r = 0/);
    fails(() => built('CBAM', { reduction: '128' }), /C \/\/ r = 0/);
  });
  it('NAM with Σ|γ| = 0 is refused rather than built to output NaN', () => {
    const m = findModule('NAM');
    const ctx = context('NAM');
    const w = initWeights(m.params(ctx), 'torch', 0);
    w.set('Channel_Att.bn2.weight', new Float32Array(64));
    fails(() => m.build(new ModuleBuilder(17), new ModuleBuilder(17).input, w, ctx), /Σ\|γ\| is 0/);
  });
});

describe('describeModules', () => {
  it('lists every module with options, formulas and measured op counts', () => {
    const d = describeModules();
    assert.deepEqual(
      d.map((m) => m.name),
      MODULES.map((m) => m.name),
    );
    const gam = d.find((m) => m.name === 'GAM')!;
    assert.deepEqual(gam.variants, ['paper', 'plain', 'grouped']);
    assert.deepEqual(
      gam.examples.map((e) => e.opCount),
      [10, 10, 9, 9, 12, 12],
    );
    const ca = d.find((m) => m.name === 'CA')!;
    assert.deepEqual(
      ca.examples.map((e) => e.opCount),
      [14, 12],
    );
  });
  it("carries each variant's portability per opset band and runtime (onnxruntime CPU, OpenCV 4.6, TensorRT)", () => {
    for (const m of describeModules()) {
      const vo = findModule(m.name).options.find((o) => o.kind === 'choice');
      const variants = vo ? [...vo.choices!] : ['default'];
      assert.deepEqual(new Set(m.portability.map((r) => r.variant.replace(' (dynamic H, W)', ''))), new Set(variants), m.name);
      for (const v of [...new Set(m.portability.map((r) => r.variant))]) {
        assert.deepEqual(
          m.portability.filter((r) => r.variant === v).map((r) => `${r.opsets} ${r.runtime}`),
          ['11-12', '13-17', '18-21'].flatMap((b) => [`${b} onnxruntime-cpu`, `${b} opencv-4.6`, `${b} tensorrt`]),
          `${m.name} ${v}`,
        );
      }
    }
  });
});
