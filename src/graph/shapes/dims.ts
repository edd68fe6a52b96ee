/**
 * The dimension algebra of shape inference. A `Dim` is a size (a non-negative safe integer), a symbol (a named
 * dim such as 'batch') or null (unknown); these functions keep symbols where the arithmetic allows and give null
 * rather than a guess.
 */
import type { Dim } from '../graph.js';

/** Highest rank taken as a shape; a longer one is unknown (null). */
export const MAX_RANK = 32;

/** A known size (symbols are strings, unknowns null). */
export const isNum = (d: unknown): d is number => typeof d === 'number';

/** Any value as a Dim: a non-negative safe integer, a non-empty symbol, else null. */
export function cleanDim(d: unknown): Dim {
  if (typeof d === 'bigint') d = Number(d);
  if (typeof d === 'number') return Number.isSafeInteger(d) && d >= 0 ? d : null;
  return typeof d === 'string' && d !== '' ? d : null;
}

/** Any value as a shape: an array of at most MAX_RANK dims, else null. */
export function cleanShape(s: unknown): Dim[] | null {
  return Array.isArray(s) && s.length <= MAX_RANK ? s.map(cleanDim) : null;
}

/** Element count, when every dim is a known size and the product is safe. */
export function numel(s: readonly Dim[] | null | undefined): number | null {
  if (!s) return null;
  let n = 1;
  for (const d of s) {
    if (!isNum(d)) return null;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : null;
}

/** A possibly negative axis in [0, rank), or null when out of range. */
export function normAxis(a: number | undefined, rank: number): number | null {
  if (a === undefined || !Number.isInteger(a)) return null;
  const x = a < 0 ? a + rank : a;
  return x >= 0 && x < rank ? x : null;
}

/** Product of dims: a number, one symbol times 1s, 0 if any is 0, else null. */
export function mulDims(ds: readonly Dim[]): Dim {
  if (ds.some((d) => d === 0)) return 0;
  let n = 1;
  const syms: Dim[] = [];
  for (const d of ds) {
    if (isNum(d)) n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return cleanDim(n);
  return syms.length === 1 && n === 1 ? syms[0]! : null;
}

/** Numpy broadcasting. A size > 1 wins over 1, symbols and unknowns (a valid model must agree with it). */
export function broadcast(shapes: readonly (readonly Dim[] | null)[]): Dim[] | null {
  if (shapes.length === 0 || shapes.some((s) => !s)) return null;
  const rank = Math.max(...shapes.map((s) => s!.length));
  if (rank > MAX_RANK) return null;
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    const ds: Dim[] = shapes.map((s) => (k - rank + s!.length >= 0 ? s![k - rank + s!.length]! : 1));
    const sizes = new Set(ds.filter((d): d is number => isNum(d) && d !== 1));
    const syms = new Set(ds.filter((d): d is string => typeof d === 'string'));
    if (sizes.size > 1) out.push(null);
    else if (sizes.size === 1) out.push([...sizes][0]!);
    else if (ds.includes(null) || syms.size > 1) out.push(null);
    else out.push(syms.size === 1 ? [...syms][0]! : 1);
  }
  return out;
}

/** The same rank, every dim unknown. */
export const unknownDims = (s: readonly Dim[] | null): Dim[] | null => (s ? s.map(() => null) : null);

/** The -1 of a Reshape: input elements over the other target dims, cancelling symbols that appear on both sides. */
export function inferDim(input: Dim[] | null, others: Dim[]): Dim {
  if (!input || input.includes(null) || others.includes(null)) return null;
  const syms = input.filter((d): d is string => typeof d === 'string');
  let num = 1;
  let den = 1;
  for (const d of input) if (isNum(d)) num *= d;
  for (const d of others) {
    if (isNum(d)) den *= d;
    else {
      const at = syms.indexOf(d as string);
      if (at < 0) return null;
      syms.splice(at, 1);
    }
  }
  if (den === 0) return null;
  if (syms.length === 0) return num % den === 0 ? cleanDim(num / den) : null;
  return syms.length === 1 && num === den ? syms[0]! : null;
}
