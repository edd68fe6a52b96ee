import { createRequire } from 'node:module';

/**
 * fflate, the zip reader behind .npz weights and PyTorch's zip checkpoints, loaded on first use: it builds its
 * Huffman tables when loaded (10–15 ms here), and an insert without such a file never needs it. Through require, its
 * CommonJS build, so that the readers stay synchronous.
 */
type Fflate = typeof import('fflate');
let fflate: Fflate | undefined;

export function zipReader(): Fflate {
  fflate ??= createRequire(import.meta.url)('fflate') as Fflate;
  return fflate;
}
