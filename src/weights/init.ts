import type { ParamSpec } from '../modules/types.js';
import { numel } from './tensor.js';

/**
 * Module weights when no file is given (`--init torch|random`): a seeded generator and PyTorch's default
 * initialisation schemes per `InitRule`.
 */

/**
 * xoshiro128** (Blackman and Vigna, 2018): a small, fast 32-bit generator with a 2^128 − 1 period, seeded through
 * splitmix32. It does NOT reproduce torch's RNG stream: `--init torch` gives values from the same distributions as
 * PyTorch's default initialisation, not the same values as `torch.manual_seed(seed)` would.
 */
export class Xoshiro128 {
  private s: Uint32Array;

  /** State from splitmix32, with each seed word folded into the splitmix counter in turn. */
  constructor(...seeds: number[]) {
    let x = 0;
    const splitmix32 = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (const s of seeds) x = (splitmix32() ^ s) | 0;
    this.s = new Uint32Array([splitmix32(), splitmix32(), splitmix32(), splitmix32()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** The next 32 random bits. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller, one value per call). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a of a string, so each key gets its own stream (values do not shift when params are added or reordered). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The two 32-bit halves of a (safe-integer) seed. */
function seedWords(seed: number): [number, number] {
  const s = Math.trunc(seed);
  return [s >>> 0, Math.floor(s / 4294967296) >>> 0];
}

/**
 * Weights when no file is given. `torch`: PyTorch's default initialisation per `InitRule` (BN γ=1, β=0, mean 0,
 * var 1; Conv/Linear weights kaiming_uniform(a=√5) = U(±1/√fan_in), biases U(±1/√fan_in)). `random`: the same
 * Conv/Linear draws, but BN affine parameters and statistics randomized (γ ~ ±U(0.5, 1.5) with random signs,
 * β ~ N(0, 0.1), running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5)) so that the module is not identity-like.
 * `num_batches_tracked` (`count`) is skipped. Each key draws from its own stream seeded by (seed, key), so the same
 * seed always gives the same values. For several points use a different seed per point (e.g. seed + k).
 */
export function initWeights(params: readonly ParamSpec[], init: 'torch' | 'random', seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const [lo, hi] = seedWords(seed);
  for (const p of params) {
    const rule = p.init;
    if (rule.kind === 'count') continue;
    const n = numel(p.shape);
    const v = new Float32Array(n);
    const rng = new Xoshiro128(lo, hi, fnv1a(p.key));
    const leaf = p.key.slice(p.key.lastIndexOf('.') + 1);
    switch (rule.kind) {
      case 'kaiming':
      case 'bias': {
        const bound = 1 / Math.sqrt(rule.fanIn);
        // Float32 rounding can land a value just inside the bound on it, never past it.
        for (let i = 0; i < n; i++) v[i] = rng.uniform(-bound, bound);
        break;
      }
      case 'ones':
        if (init === 'torch') v.fill(1);
        else if (leaf === 'running_var') for (let i = 0; i < n; i++) v[i] = rng.uniform(0.5, 1.5);
        else for (let i = 0; i < n; i++) v[i] = rng.uniform(0.5, 1.5) * (rng.next() < 0.5 ? -1 : 1);
        break;
      case 'zeros':
        if (init === 'random') for (let i = 0; i < n; i++) v[i] = 0.1 * rng.normal();
        break;
    }
    out.set(p.key, v);
  }
  return out;
}
