import { BuildError } from '../errors.js';
import { ints } from './builder.js';
import { bnParams, convMacs, convParams, foldConvBn, get, optionNumber, optionString, pixels } from './common.js';
import type { AttentionModule, ModuleContext } from './types.js';

/**
 * GAM (arXiv 2112.05561). No official code: `paper` is the paper's figure (channel MLP then sigmoid, as
 * objectdetection_script's GAM_Attention), `plain` the widely copied CSDN GAM_Attention (no channel sigmoid),
 * `grouped` iscyy/yoloair GAMAttention(group=True): groups=r 7x7 convs and channel_shuffle(·, 4), no channel sigmoid.
 *
 *   Conv1x1(W₁,b₁) → Relu → Conv1x1(W₂,b₂) → [Sigmoid] → Mul(x) → Conv7x7(BN folded) → Relu → Conv7x7(BN folded)
 *   → Sigmoid → [Reshape → Transpose → Reshape(+Shape when H, W are dynamic)] → Mul(x₁)
 *   paper 10 ops, plain 9, grouped 12 (static) or 13 (dynamic).
 */

/** channel_shuffle(·, 4) is hard-coded upstream, whatever the rate. */
const SHUFFLE_GROUPS = 4;

/** `int(c1 / rate)`, as upstream (not c1 // rate: they differ only in float rounding for huge C). */
const hidden = (ctx: ModuleContext) => Math.trunc(ctx.channels / optionNumber(ctx, 'rate'));
const grouped = (ctx: ModuleContext) => optionString(ctx, 'variant') === 'grouped';
const groups = (ctx: ModuleContext) => (grouped(ctx) ? optionNumber(ctx, 'rate') : 1);

export const GAM: AttentionModule = {
  name: 'GAM',
  title: 'Global Attention Mechanism',
  reference:
    'arXiv 2112.05561; variants: paper figure / objectdetection_script GAM_Attention, CSDN GAM_Attention (plain), iscyy/yoloair GAMAttention (grouped)',
  options: [
    {
      key: 'variant',
      kind: 'choice',
      choices: ['paper', 'plain', 'grouped'],
      default: 'paper',
      describe: 'paper: channel MLP with sigmoid; plain: without it; grouped: groups=r 7x7 convs + channel shuffle of 4 (yoloair)',
    },
    { key: 'rate', kind: 'int', default: 4, describe: "reduction r of the channel MLP and the 7x7 convs (c' = C/r)" },
  ],
  paramsFormula: "plain/paper: 100·C·c' + 4c' + 4C; grouped: 2·C·c' + 98·C·c'/r + 4c' + 4C (c' = C/r)",
  variant: (ctx) => optionString(ctx, 'variant'),
  validate(ctx) {
    const r = optionNumber(ctx, 'rate');
    if (hidden(ctx) < 1) throw new BuildError(`GAM rate=${r} leaves int(C/r) = 0 hidden channels at C=${ctx.channels}; use a rate ≤ ${ctx.channels}`);
    if (grouped(ctx)) {
      if (ctx.channels % (r * r) !== 0)
        throw new BuildError(
          `GAM variant=grouped needs C divisible by r² = ${r * r} (its 7x7 convs have ${r} groups over C and C/r channels); C=${ctx.channels}`,
        );
      if (ctx.channels % SHUFFLE_GROUPS !== 0)
        throw new BuildError(`GAM variant=grouped shuffles channels in groups of 4, so C must be divisible by 4; C=${ctx.channels}`);
    }
  },
  params(ctx) {
    const c = ctx.channels;
    const h = hidden(ctx);
    const g = groups(ctx);
    return [
      ...convParams('channel_attention.0', h, c, [], true),
      ...convParams('channel_attention.2', c, h, [], true),
      ...convParams('spatial_attention.0', h, c / g, [7, 7], true),
      ...bnParams('spatial_attention.1', h),
      ...convParams('spatial_attention.3', c, h / g, [7, 7], true),
      ...bnParams('spatial_attention.4', c),
    ];
  },
  ops(ctx) {
    const ops: Record<string, number> = { Conv: 4, Relu: 2, Sigmoid: 1, Mul: 2 };
    if (optionString(ctx, 'variant') === 'paper') ops['Sigmoid'] = 2;
    if (grouped(ctx)) {
      ops['Reshape'] = 2;
      ops['Transpose'] = 1;
      if (pixels(ctx) === null) ops['Shape'] = 1;
    }
    return ops;
  },
  macs(ctx) {
    const p = pixels(ctx);
    if (p === null) return null;
    const c = ctx.channels;
    const h = hidden(ctx);
    const g = groups(ctx);
    return convMacs(h, c, 1, p) + convMacs(c, h, 1, p) + convMacs(h, c / g, 49, p) + convMacs(c, h / g, 49, p) + 2 * c * p;
  },
  build(b, x, w, ctx) {
    const c = ctx.channels;
    const h = hidden(ctx);
    const g = groups(ctx);
    // The Linear layers act per pixel over channels: a 1x1 Conv on NCHW needs no Transpose or Reshape.
    let a = b.conv(
      x,
      b.floats('channel_attention.0.weight', [h, c, 1, 1], get(w, 'channel_attention.0.weight')),
      b.floats('channel_attention.0.bias', [h], get(w, 'channel_attention.0.bias')),
      [1, 1],
    );
    a = b.op('Relu', [a]);
    a = b.conv(
      a,
      b.floats('channel_attention.2.weight', [c, h, 1, 1], get(w, 'channel_attention.2.weight')),
      b.floats('channel_attention.2.bias', [c], get(w, 'channel_attention.2.bias')),
      [1, 1],
    );
    if (optionString(ctx, 'variant') === 'paper') a = b.op('Sigmoid', [a]);
    const x1 = b.op('Mul', [x, a]);

    const conv7 = (input: typeof x, conv: string, bn: string, out: number, inPerGroup: number) => {
      const f = foldConvBn(w, conv, bn, ctx.bnEps);
      return b.conv(input, b.floats(`${conv}.folded_weight`, [out, inPerGroup, 7, 7], f.weight), b.floats(`${conv}.folded_bias`, [out], f.bias), [7, 7], {
        pads: [3, 3, 3, 3],
        group: g,
      });
    };
    let s = conv7(x1, 'spatial_attention.0', 'spatial_attention.1', h, c / g);
    s = b.op('Relu', [s]);
    s = conv7(s, 'spatial_attention.3', 'spatial_attention.4', c, h / g);
    s = b.op('Sigmoid', [s]);
    if (grouped(ctx)) {
      // channel_shuffle(s, 4) in 4-D: [N,4,C/4,HW] → swap axes 1, 2 → back to [N,C,H,W].
      s = b.reshape(s, b.int64s('shuffle_shape', [0, SHUFFLE_GROUPS, c / SHUFFLE_GROUPS, -1]));
      s = b.op('Transpose', [s], { perm: ints([0, 2, 1, 3]) });
      const back = pixels(ctx) === null ? b.op('Shape', [x]) : b.int64s('unshuffle_shape', [0, c, ctx.height!, ctx.width!]);
      s = b.reshape(s, back);
    }
    return b.op('Mul', [x1, s]);
  },
};
