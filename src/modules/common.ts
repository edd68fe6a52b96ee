import { BuildError } from '../errors.js';
import type { ModuleContext, ParamSpec, Weights } from './types.js';

/**
 * What several modules share: the reference state_dict entries of a BatchNorm and a Conv, and the eval-mode
 * algebra that folds them. Folding runs in float64 and rounds once, so a folded constant is as close to the
 * unfused PyTorch eval as float32 allows.
 */

/** `<prefix>.{weight,bias,running_mean,running_var,num_batches_tracked}` of a BatchNorm over `n` features. */
export function bnParams(prefix: string, n: number): ParamSpec[] {
  return [
    { key: `${prefix}.weight`, shape: [n], init: { kind: 'ones' }, trainable: true },
    { key: `${prefix}.bias`, shape: [n], init: { kind: 'zeros' }, trainable: true },
    { key: `${prefix}.running_mean`, shape: [n], init: { kind: 'zeros' }, trainable: false },
    { key: `${prefix}.running_var`, shape: [n], init: { kind: 'ones' }, trainable: false },
    { key: `${prefix}.num_batches_tracked`, shape: [], init: { kind: 'count' }, trainable: false },
  ];
}

/** `<prefix>.weight` [out, in/groups, ...kernel] and, with `bias`, `<prefix>.bias` [out], PyTorch-initialised. */
export function convParams(prefix: string, out: number, inPerGroup: number, kernel: readonly number[], bias: boolean): ParamSpec[] {
  const fanIn = inPerGroup * kernel.reduce((a, b) => a * b, 1);
  const specs: ParamSpec[] = [{ key: `${prefix}.weight`, shape: [out, inPerGroup, ...kernel], init: { kind: 'kaiming', fanIn }, trainable: true }];
  if (bias) specs.push({ key: `${prefix}.bias`, shape: [out], init: { kind: 'bias', fanIn }, trainable: true });
  return specs;
}

/** A weight by key; a missing one is a bug in the module's `params`, not the user's input. */
export function get(w: Weights, key: string): Float32Array {
  const v = w.get(key);
  if (!v) throw new Error(`weights lack '${key}'`);
  return v;
}

/** BN in eval as y = scale·x + shift, per feature. */
export function bnAffine(w: Weights, prefix: string, eps: number): { scale: Float64Array; shift: Float64Array } {
  const gamma = get(w, `${prefix}.weight`);
  const beta = get(w, `${prefix}.bias`);
  const mean = get(w, `${prefix}.running_mean`);
  const variance = get(w, `${prefix}.running_var`);
  const n = gamma.length;
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = gamma[i]! / Math.sqrt(variance[i]! + eps);
    if (!Number.isFinite(s)) throw new BuildError(`${prefix}: running_var ${variance[i]} + eps ${eps} gives a non-finite scale at ${i}`);
    scale[i] = s;
    shift[i] = beta[i]! - mean[i]! * s;
  }
  return { scale, shift };
}

/** Conv (+ optional bias) followed by BN, as one Conv: W' = W·s per output channel, b' = b·s + shift. */
export function foldConvBn(w: Weights, conv: string, bn: string, eps: number): { weight: Float64Array; bias: Float64Array } {
  const weight = get(w, `${conv}.weight`);
  const bias = w.get(`${conv}.bias`);
  const { scale, shift } = bnAffine(w, bn, eps);
  const out = scale.length;
  const per = weight.length / out;
  const fw = new Float64Array(weight.length);
  for (let o = 0; o < out; o++) for (let j = 0; j < per; j++) fw[o * per + j] = weight[o * per + j]! * scale[o]!;
  const fb = new Float64Array(out);
  for (let o = 0; o < out; o++) fb[o] = (bias ? bias[o]! : 0) * scale[o]! + shift[o]!;
  return { weight: fw, bias: fb };
}

/** |γ| / Σ|γ|: NAM's weight normalisation, in float64; Σ|γ| = 0 would make PyTorch output NaN, so it is refused. */
export function absNormalized(gamma: Float32Array, key: string): Float64Array {
  let sum = 0;
  for (const g of gamma) sum += Math.abs(g);
  if (!(sum > 0) || !Number.isFinite(sum)) {
    throw new BuildError(`${key}: Σ|γ| is ${sum}, so |γ|/Σ|γ| is undefined (PyTorch would output NaN); give weights with a non-zero BN weight`);
  }
  return Float64Array.from(gamma, (g) => Math.abs(g) / sum);
}

/** Spatial size H·W, or null when the host graph leaves it dynamic. */
export function pixels(ctx: ModuleContext): number | null {
  return ctx.height === null || ctx.width === null ? null : ctx.height * ctx.width;
}

/** MACs of a conv over `pixels` positions: out · in/groups · ∏k per position. */
export function convMacs(out: number, inPerGroup: number, kernelArea: number, positions: number): number {
  return out * inPerGroup * kernelArea * positions;
}

export function optionNumber(ctx: ModuleContext, key: string): number {
  const v = ctx.options[key];
  if (typeof v !== 'number') throw new Error(`option ${key} is not a number`);
  return v;
}

export function optionString(ctx: ModuleContext, key: string): string {
  return String(ctx.options[key]);
}
