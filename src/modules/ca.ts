import { UsageError } from '../errors.js';
import { bnParams, convMacs, convParams, foldConvBn, get, optionNumber, pixels } from './common.js';
import type { AttentionModule, ModuleContext } from './types.js';

/**
 * Coordinate Attention (arXiv 2103.02907; houqb/CoordAttention coordatt.py CoordAtt). conv1, bn1 and h_swish
 * are pointwise, so each pooled direction runs them alone: no Concat, no Split, no Transpose.
 *
 *   branch h: mean over W → Conv(conv1+bn1 folded) → HardSwish → Conv_h → Sigmoid
 *   branch w: mean over H → Conv(the same)          → HardSwish → Conv_w → Sigmoid
 *   then Mul(x, a_w), Mul(·, a_h): 12 ops from opset 14; below it HardSwish is z·HardSigmoid(z): 14 ops.
 *   With a static H, W the means are AveragePool(1×W) and AveragePool(H×1), as the exporter writes
 *   AdaptiveAvgPool2d, at every opset; with a dynamic one they are ReduceMean (axes an input from opset 18).
 */
const mip = (ctx: ModuleContext) => Math.max(8, Math.floor(ctx.channels / optionNumber(ctx, 'reduction')));

export const CA: AttentionModule = {
  name: 'CA',
  title: 'Coordinate Attention',
  reference: 'arXiv 2103.02907; github.com/houqb/CoordAttention coordatt.py (CoordAtt)',
  options: [{ key: 'reduction', kind: 'int', default: 32, describe: 'r: the hidden width is mip = max(8, C // r)' }],
  paramsFormula: '3·C·mip + 3·mip + 2C, mip = max(8, C//r)',
  variant: () => 'default',
  validate(ctx) {
    if (optionNumber(ctx, 'reduction') < 1) throw new UsageError('CA reduction must be ≥ 1');
  },
  params(ctx) {
    const c = ctx.channels;
    const m = mip(ctx);
    return [
      ...convParams('conv1', m, c, [1, 1], true),
      ...bnParams('bn1', m),
      ...convParams('conv_h', c, m, [1, 1], true),
      ...convParams('conv_w', c, m, [1, 1], true),
    ];
  },
  ops(ctx) {
    const ops: Record<string, number> = { Conv: 4, Sigmoid: 2, Mul: 2 };
    ops[pixels(ctx) === null ? 'ReduceMean' : 'AveragePool'] = 2;
    if (ctx.opset >= 14) ops['HardSwish'] = 2;
    else {
      ops['HardSigmoid'] = 2;
      ops['Mul'] = 4;
    }
    return ops;
  },
  macs(ctx) {
    if (pixels(ctx) === null) return null;
    const c = ctx.channels;
    const m = mip(ctx);
    const lines = ctx.height! + ctx.width!;
    return convMacs(m, c, 1, lines) + convMacs(c, m, 1, lines) + 2 * c * pixels(ctx)!;
  },
  build(b, x, w, ctx) {
    const c = ctx.channels;
    const m = mip(ctx);
    const f = foldConvBn(w, 'conv1', 'bn1', ctx.bnEps);
    const w1 = b.floats('conv1.folded_weight', [m, c, 1, 1], f.weight);
    const b1 = b.floats('conv1.folded_bias', [m], f.bias);
    const mean = (axis: 2 | 3) => {
      if (pixels(ctx) === null) return b.reduce('ReduceMean', x, [axis]);
      const kernel: [number, number] = axis === 3 ? [1, ctx.width!] : [ctx.height!, 1];
      return b.pool('AveragePool', x, kernel, kernel);
    };
    const branch = (axis: 2 | 3, conv: string) => {
      const u = b.hardSwish(b.conv(mean(axis), w1, b1, [1, 1]));
      return b.op('Sigmoid', [
        b.conv(u, b.floats(`${conv}.weight`, [c, m, 1, 1], get(w, `${conv}.weight`)), b.floats(`${conv}.bias`, [c], get(w, `${conv}.bias`)), [1, 1]),
      ]);
    };
    const aH = branch(3, 'conv_h');
    const aW = branch(2, 'conv_w');
    // identity * a_w * a_h, in the reference's order.
    return b.op('Mul', [b.op('Mul', [x, aW]), aH]);
  },
};
