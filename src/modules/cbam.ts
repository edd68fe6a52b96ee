import { BuildError, UsageError } from '../errors.js';
import { int } from './builder.js';
import { bnParams, convMacs, convParams, foldConvBn, get, optionNumber, optionString, pixels } from './common.js';
import type { AttentionModule, ModuleContext } from './types.js';

/**
 * CBAM (arXiv 1807.06521).
 *
 *   official (Jongchan/attention-module MODELS/cbam.py), 15 ops (17 from opset 18):
 *     GlobalAveragePool, GlobalMaxPool → Concat(axis 3) → Conv(W₁,b₁) → Relu → GlobalAveragePool → Conv(2W₂, 2b₂)
 *     → Sigmoid → Mul(x);  channel max, channel mean → Concat → Conv7x7(BN folded) → Sigmoid → Mul
 *     (MLP(a) + MLP(m) = W₂(relu(W₁a+b₁) + relu(W₁m+b₁)) + 2b₂ = 2W₂·mean(relu(·)) + 2b₂: one MLP over both pools)
 *   ultralytics (nn/modules/conv.py CBAM), 10 ops (12 from opset 18):
 *     GlobalAveragePool → Conv1x1(C→C, bias) → Sigmoid → Mul(x);  channel mean, channel max → Concat → Conv k×k
 *     → Sigmoid → Mul
 *   The channel mean is a 1×1 Conv with weights 1/C; the channel max is ReduceMax up to opset 17 and
 *   Transpose → MaxPool → Transpose from 18 (ModuleBuilder.channelMax says why).
 */
const ultralytics = (ctx: ModuleContext) => optionString(ctx, 'variant') === 'ultralytics';
const hidden = (ctx: ModuleContext) => Math.floor(ctx.channels / optionNumber(ctx, 'reduction'));
const kernel = (ctx: ModuleContext) => (ultralytics(ctx) ? optionNumber(ctx, 'kernel') : 7);

export const CBAM: AttentionModule = {
  name: 'CBAM',
  title: 'Convolutional Block Attention Module',
  reference: 'arXiv 1807.06521; github.com/Jongchan/attention-module MODELS/cbam.py (official); ultralytics nn/modules/conv.py CBAM (ultralytics)',
  options: [
    {
      key: 'variant',
      kind: 'choice',
      choices: ['official', 'ultralytics'],
      default: 'official',
      describe: 'official: avg+max MLP and a [max, mean] 7x7 conv with BN; ultralytics: GAP conv1x1 gate and a [mean, max] k×k conv',
    },
    { key: 'reduction', kind: 'int', default: 16, describe: 'official: r of the channel MLP (C → C//r → C)' },
    { key: 'kernel', kind: 'int', default: 7, describe: 'ultralytics: the spatial conv kernel size, 3 or 7' },
  ],
  paramsFormula: 'official: 2·C·(C//r) + C//r + C + 98 + 2; ultralytics: C² + C + 2k²',
  variant: (ctx) => optionString(ctx, 'variant'),
  validate(ctx) {
    if (ultralytics(ctx) && ![3, 7].includes(kernel(ctx)))
      throw new UsageError(`CBAM variant=ultralytics takes kernel=3 or kernel=7 (as its SpatialAttention asserts), got ${kernel(ctx)}`);
    if (!ultralytics(ctx) && optionNumber(ctx, 'kernel') !== 7) {
      throw new UsageError(
        `CBAM kernel=${optionNumber(ctx, 'kernel')} applies to variant=ultralytics; the official SpatialGate's kernel is 7 (add --opt variant=ultralytics)`,
      );
    }
    if (!ultralytics(ctx) && hidden(ctx) < 1) {
      throw new BuildError(
        `CBAM reduction=${optionNumber(ctx, 'reduction')} leaves C // r = 0 hidden units at C=${ctx.channels}; use reduction ≤ ${ctx.channels}`,
      );
    }
  },
  params(ctx) {
    const c = ctx.channels;
    if (ultralytics(ctx)) {
      const k = kernel(ctx);
      return [...convParams('channel_attention.fc', c, c, [1, 1], true), ...convParams('spatial_attention.cv1', 1, 2, [k, k], false)];
    }
    const h = hidden(ctx);
    return [
      ...convParams('ChannelGate.mlp.1', h, c, [], true),
      ...convParams('ChannelGate.mlp.3', c, h, [], true),
      ...convParams('SpatialGate.spatial.conv', 1, 2, [7, 7], false),
      ...bnParams('SpatialGate.spatial.bn', 1),
    ];
  },
  ops(ctx): Record<string, number> {
    const ops: Record<string, number> = ultralytics(ctx)
      ? { GlobalAveragePool: 1, Conv: 3, Sigmoid: 2, Mul: 2, Concat: 1 }
      : { GlobalAveragePool: 2, GlobalMaxPool: 1, Concat: 2, Conv: 4, Relu: 1, Sigmoid: 2, Mul: 2 };
    if (ctx.opset >= 18) Object.assign(ops, { Transpose: 2, MaxPool: 1 });
    else ops['ReduceMax'] = 1;
    return ops;
  },
  macs(ctx) {
    const p = pixels(ctx);
    if (p === null) return null;
    const c = ctx.channels;
    const k = kernel(ctx);
    const channel = ultralytics(ctx) ? convMacs(c, c, 1, 1) : convMacs(hidden(ctx), c, 1, 2) + convMacs(c, hidden(ctx), 1, 1);
    return channel + convMacs(1, 2, k * k, p) + 2 * c * p;
  },
  build(b, x, w, ctx) {
    const c = ctx.channels;
    if (ultralytics(ctx)) {
      const k = kernel(ctx);
      const gate = b.op('Sigmoid', [
        b.conv(
          b.op('GlobalAveragePool', [x]),
          b.floats('channel_attention.fc.weight', [c, c, 1, 1], get(w, 'channel_attention.fc.weight')),
          b.floats('channel_attention.fc.bias', [c], get(w, 'channel_attention.fc.bias')),
          [1, 1],
        ),
      ]);
      const x1 = b.op('Mul', [x, gate]);
      const pooled = b.op('Concat', [b.channelMean(x1, c), b.channelMax(x1, c)], { axis: int(1) });
      const conv = b.conv(pooled, b.floats('spatial_attention.cv1.weight', [1, 2, k, k], get(w, 'spatial_attention.cv1.weight')), null, [k, k], {
        pads: Array(4).fill((k - 1) / 2),
      });
      return b.op('Mul', [x1, b.op('Sigmoid', [conv])]);
    }
    const h = hidden(ctx);
    // Both pools side by side on the last axis, one MLP pass, then the sum: the MLP's second layer is linear.
    const pools = b.op('Concat', [b.op('GlobalAveragePool', [x]), b.op('GlobalMaxPool', [x])], { axis: int(3) });
    let m = b.conv(
      pools,
      b.floats('ChannelGate.mlp.1.weight', [h, c, 1, 1], get(w, 'ChannelGate.mlp.1.weight')),
      b.floats('ChannelGate.mlp.1.bias', [h], get(w, 'ChannelGate.mlp.1.bias')),
      [1, 1],
    );
    // The sum of the two pools' hidden vectors is twice their mean (GlobalAveragePool over the pair): 2 folds into W₂.
    m = b.op('GlobalAveragePool', [b.op('Relu', [m])]);
    const w2 = get(w, 'ChannelGate.mlp.3.weight');
    const b2 = get(w, 'ChannelGate.mlp.3.bias');
    m = b.conv(
      m,
      b.floats(
        'ChannelGate.mlp.3.doubled_weight',
        [c, h, 1, 1],
        Array.from(w2, (v) => 2 * v),
      ),
      b.floats(
        'ChannelGate.mlp.3.doubled_bias',
        [c],
        Array.from(b2, (v) => 2 * v),
      ),
      [1, 1],
    );
    const x1 = b.op('Mul', [x, b.op('Sigmoid', [m])]);
    // ChannelPool is [max, mean] (the reverse of ultralytics).
    const pooled = b.op('Concat', [b.channelMax(x1, c), b.channelMean(x1, c)], { axis: int(1) });
    const f = foldConvBn(w, 'SpatialGate.spatial.conv', 'SpatialGate.spatial.bn', ctx.bnEps);
    const conv = b.conv(
      pooled,
      b.floats('SpatialGate.spatial.conv.folded_weight', [1, 2, 7, 7], f.weight),
      b.floats('SpatialGate.spatial.conv.folded_bias', [1], f.bias),
      [7, 7],
      { pads: [3, 3, 3, 3] },
    );
    return b.op('Mul', [x1, b.op('Sigmoid', [conv])]);
  },
};
