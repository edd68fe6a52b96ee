import { BuildError } from '../errors.js';
import { absNormalized, bnParams, get, optionString, pixels } from './common.js';
import type { AttentionModule, ModuleContext } from './types.js';

/**
 * NAM (arXiv 2111.12419; Christian-lyc/NAM MODELS/attention.py HEAD, yoloair NAMAttention).
 *
 *   channel (default), 3 ops:  BatchNormalization(scale=w·γ, B=w·β) → Sigmoid → Mul(x),  w = |γ|/Σ|γ|
 *   pixel,             +5 ops: Reshape[-1,HW,1,1] → BatchNormalization(λγ, λβ) → Reshape[-1,C,H,W] → Sigmoid
 *                              → Mul: the initial commit's per-pixel BatchNorm1d(H·W) (static H, W only), with
 *                              the pixels as the BN's feature axis. (Mul and Add by [1,1,H,W] constants would be
 *                              one op fewer, but OpenCV 4.6 refuses constants that broadcast over channels.)
 */

/** The initial commit's Spatial_Att is a BatchNorm1d, which YOLO's initialize_weights leaves at PyTorch's 1e-5. */
const BN1D_EPS = 1e-5;

export const NAM: AttentionModule = {
  name: 'NAM',
  title: 'Normalization-based Attention Module',
  reference: 'arXiv 2111.12419; github.com/Christian-lyc/NAM MODELS/attention.py (Channel_Att; Spatial_Att from commit d135ad4)',
  options: [
    {
      key: 'spatial',
      kind: 'choice',
      choices: ['channel', 'pixel'],
      default: 'channel',
      describe: 'channel: official HEAD (channel only); pixel: also the per-pixel BatchNorm1d(H·W) of the initial commit (static H, W)',
    },
  ],
  paramsFormula: '2C (channel); 2C + 2HW (pixel)',
  variant: (ctx) => optionString(ctx, 'spatial'),
  validate(ctx) {
    if (optionString(ctx, 'spatial') !== 'pixel') return;
    const p = pixels(ctx);
    if (p === null)
      throw new BuildError(
        'NAM spatial=pixel needs a static H and W (its BatchNorm1d has one feature per pixel); this point has a dynamic spatial size (use spatial=channel, or export with static shapes)',
      );
    if (p === 1)
      throw new BuildError('NAM spatial=pixel on a 1x1 map: the per-pixel weight normalisation is trivially 1 and meaningless here; use spatial=channel');
  },
  params(ctx) {
    const specs = bnParams('Channel_Att.bn2', ctx.channels);
    if (optionString(ctx, 'spatial') === 'pixel') specs.push(...bnParams('Spatial_Att.bn', pixels(ctx)!));
    return specs;
  },
  ops: (ctx): Record<string, number> =>
    optionString(ctx, 'spatial') === 'pixel' ? { BatchNormalization: 2, Sigmoid: 2, Mul: 2, Reshape: 2 } : { BatchNormalization: 1, Sigmoid: 1, Mul: 1 },
  macs(ctx: ModuleContext) {
    const p = pixels(ctx);
    if (p === null) return null;
    // BN (one multiply-add) and the gating Mul per element; pixel adds Mul(A) and the second gate.
    return ctx.channels * p * (optionString(ctx, 'spatial') === 'pixel' ? 4 : 2);
  },
  build(b, x, w, ctx) {
    const c = 'Channel_Att.bn2';
    const gamma = get(w, `${c}.weight`);
    const beta = get(w, `${c}.bias`);
    const norm = absNormalized(gamma, `${c}.weight`);
    // y = x·σ(w_c·BN(x)_c): w folds into the BN's affine part, mean, var and eps stay as they are.
    const bn = b.batchNorm(
      [
        x,
        b.floats(
          `${c}.folded_scale`,
          [ctx.channels],
          Array.from(gamma, (g, i) => g * norm[i]!),
        ),
        b.floats(
          `${c}.folded_bias`,
          [ctx.channels],
          Array.from(beta, (v, i) => v * norm[i]!),
        ),
        b.floats(`${c}.running_mean`, [ctx.channels], get(w, `${c}.running_mean`)),
        b.floats(`${c}.running_var`, [ctx.channels], get(w, `${c}.running_var`)),
      ],
      ctx.bnEps,
    );
    let y = b.op('Mul', [x, b.op('Sigmoid', [bn])]);
    if (optionString(ctx, 'spatial') !== 'pixel') return y;

    // Per pixel p (row-major h·W + w): λ_p·BN1d(x)_p, λ = |γ_s|/Σ|γ_s| folded into the BN's affine part. Each
    // (image, channel) row of H·W pixels becomes one sample, so the pixels are the BN's feature axis (axis 1).
    const s = 'Spatial_Att.bn';
    const p = pixels(ctx)!;
    const sGamma = get(w, `${s}.weight`);
    const sBeta = get(w, `${s}.bias`);
    const lambda = absNormalized(sGamma, `${s}.weight`);
    const rows = b.reshape(y, b.int64s('pixels_as_features', [-1, p, 1, 1]));
    const bn1d = b.batchNorm(
      [
        rows,
        b.floats(
          `${s}.folded_scale`,
          [p],
          Array.from(sGamma, (g, i) => g * lambda[i]!),
        ),
        b.floats(
          `${s}.folded_bias`,
          [p],
          Array.from(sBeta, (v, i) => v * lambda[i]!),
        ),
        b.floats(`${s}.running_mean`, [p], get(w, `${s}.running_mean`)),
        b.floats(`${s}.running_var`, [p], get(w, `${s}.running_var`)),
      ],
      BN1D_EPS,
    );
    const gate = b.op('Sigmoid', [b.reshape(bn1d, b.int64s('features_as_pixels', [-1, ctx.channels, ctx.height!, ctx.width!]))]);
    y = b.op('Mul', [y, gate]);
    return y;
  },
};
