import { UsageError } from '../errors.js';
import { convParams, get, pixels } from './common.js';
import type { AttentionModule, ModuleContext } from './types.js';

/**
 * ECA (arXiv 1910.03151; BangguWu/ECANet models/eca_module.py eca_layer): y = x·σ(Conv1d_k over the channels of
 * GAP(x)), zero padding (k−1)/2, no bias.
 *
 *   6 ops: GlobalAveragePool → Reshape[0,1,−1,1] → Conv(k×1) → Reshape[0,−1,1,1] → Sigmoid → Mul(x)
 *   (k constants, where the 4-op Toeplitz 1x1 conv would need C²)
 */

/** The paper's adaptive k: the nearest odd of |(log₂C + 1)/2| (64 → 3, 128..1024 → 5, 2048 → 7). */
export function ecaKernel(channels: number): number {
  const t = Math.trunc(Math.abs((Math.log2(channels) + 1) / 2));
  return t % 2 ? t : t + 1;
}

const kernel = (ctx: ModuleContext) => (ctx.options['k'] === 'auto' ? ecaKernel(ctx.channels) : Number(ctx.options['k']));

export const ECA: AttentionModule = {
  name: 'ECA',
  title: 'Efficient Channel Attention',
  reference: 'arXiv 1910.03151; github.com/BangguWu/ECANet models/eca_module.py (eca_layer)',
  options: [
    {
      key: 'k',
      kind: 'int-or-auto',
      default: 'auto',
      describe: "odd kernel size of the channel conv; auto = the paper's adaptive k from C (the official ResNets pass 3)",
    },
  ],
  paramsFormula: 'k (auto: nearest odd of |(log₂C + 1)/2|)',
  variant: (ctx) => `k${kernel(ctx)}${ctx.options['k'] === 'auto' ? '-adaptive' : ''}`,
  validate(ctx) {
    const k = kernel(ctx);
    if (k % 2 !== 1) throw new UsageError(`ECA k must be odd (its padding is (k−1)/2 on both sides), got ${k}`);
  },
  params: (ctx) => convParams('conv', 1, 1, [kernel(ctx)], false),
  ops: () => ({ GlobalAveragePool: 1, Reshape: 2, Conv: 1, Sigmoid: 1, Mul: 1 }),
  macs(ctx) {
    const p = pixels(ctx);
    return p === null ? null : ctx.channels * kernel(ctx) + ctx.channels * p;
  },
  build(b, x, w, ctx) {
    const k = kernel(ctx);
    const pad = (k - 1) / 2;
    // The channels become the spatial axis of a 1-channel map, so the Conv1d is a k×1 Conv.
    let s = b.reshape(b.op('GlobalAveragePool', [x]), b.int64s('channels_as_rows', [0, 1, -1, 1]));
    s = b.conv(s, b.floats('conv.weight', [1, 1, k, 1], get(w, 'conv.weight')), null, [k, 1], { pads: [pad, 0, pad, 0] });
    s = b.reshape(s, b.int64s('rows_as_channels', [0, -1, 1, 1]));
    return b.op('Mul', [x, b.op('Sigmoid', [s])]);
  },
};
