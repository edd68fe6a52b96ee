import { BuildError } from '../errors.js';
import { convMacs, convParams, get, optionNumber, pixels } from './common.js';
import type { AttentionModule, ModuleContext } from './types.js';

/**
 * SE (arXiv 1709.01507; moskomule/senet.pytorch SELayer, yoloair SEAttention: Linear layers without bias).
 *
 *   6 ops: GlobalAveragePool → Conv1x1(W₁) → Relu → Conv1x1(W₂) → Sigmoid → Mul(x)
 */
const hidden = (ctx: ModuleContext) => Math.floor(ctx.channels / optionNumber(ctx, 'reduction'));

export const SE: AttentionModule = {
  name: 'SE',
  title: 'Squeeze-and-Excitation',
  reference: 'arXiv 1709.01507; github.com/moskomule/senet.pytorch senet/se_module.py (SELayer)',
  options: [{ key: 'reduction', kind: 'int', default: 16, describe: 'r: the hidden width is C // r' }],
  paramsFormula: '2·C·(C//r)',
  variant: () => 'default',
  validate(ctx) {
    if (hidden(ctx) < 1)
      throw new BuildError(
        `SE reduction=${optionNumber(ctx, 'reduction')} leaves C // r = 0 hidden units at C=${ctx.channels}; use reduction ≤ ${ctx.channels}`,
      );
  },
  params: (ctx) => [...convParams('fc.0', hidden(ctx), ctx.channels, [], false), ...convParams('fc.2', ctx.channels, hidden(ctx), [], false)],
  ops: () => ({ GlobalAveragePool: 1, Conv: 2, Relu: 1, Sigmoid: 1, Mul: 1 }),
  macs(ctx) {
    const p = pixels(ctx);
    return p === null ? null : 2 * convMacs(hidden(ctx), ctx.channels, 1, 1) + ctx.channels * p;
  },
  build(b, x, w, ctx) {
    const c = ctx.channels;
    const h = hidden(ctx);
    let s = b.op('GlobalAveragePool', [x]);
    s = b.op('Relu', [b.conv(s, b.floats('fc.0.weight', [h, c, 1, 1], get(w, 'fc.0.weight')), null, [1, 1])]);
    s = b.op('Sigmoid', [b.conv(s, b.floats('fc.2.weight', [c, h, 1, 1], get(w, 'fc.2.weight')), null, [1, 1])]);
    return b.op('Mul', [x, s]);
  },
};
