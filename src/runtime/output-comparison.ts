/**
 * Per-output error of one run against a reference run (compare, sweep): max and mean abs, relative L2, cosine and
 * the share within tolerance, with the problems that make an output unmeasurable; and whether two models' declared
 * outputs can be compared at all.
 */
import type { Dim } from '../graph/graph.js';
import { compareTensors, type NumericArray, type Tolerance, withinTolerance } from './metrics.js';
import type { PartMetrics } from './parts.js';
import type { OutputTensor } from './session.js';

export interface OutputComparison {
  name: string;
  shape: number[];
  shapeB: number[];
  maxAbs: number;
  meanAbs: number;
  relL2: number;
  cosine: number;
  tolerance: Tolerance;
  /** Share of elements within tolerance, in %. */
  withinPct: number;
  /** NaN and infinity counts in the reference (a) and the other (b): any makes the metrics NaN and fails. */
  nonFinite: { a: number; b: number };
  pass: boolean;
  /** The output's parts (boxes, objectness, scores, labels) for a known detector family; empty otherwise. */
  parts: PartMetrics[];
}

const FLOATS = new Set(['float32', 'float64', 'float16']);

const round = (x: number, digits = 4) => Number(x.toFixed(digits));

/**
 * Per-output error of b against the reference a, over every input set: max and mean abs, relative L2 and cosine
 * (accumulated across sets), and the share within tolerance. Outputs are matched by name.
 *
 * An output whose shapes differ (a dynamic output can), or that holds a NaN or an infinity on either side, fails
 * with NaN metrics (null in JSON): there is no error to measure, and it must never read as a perfect match.
 */
export function compareOutputs(
  a: OutputTensor[][],
  b: OutputTensor[][],
  tolerance: (name: string) => Tolerance,
  labelA = 'a',
  labelB = 'b',
): { outputs: OutputComparison[]; problems: string[] } {
  const problems: string[] = [];
  const outputs: OutputComparison[] = [];
  const namesB = new Set(b[0]!.map((o) => o.name));
  for (const [i, oa] of a[0]!.entries()) {
    if (!namesB.has(oa.name)) {
      problems.push(`output '${oa.name}' is missing from ${labelB}`);
      continue;
    }
    const tol = tolerance(oa.name);
    let maxAbs = 0,
      absSum = 0,
      count = 0,
      within = 0,
      sqDiff = 0,
      sqRef = 0,
      dot = 0,
      sqB = 0;
    let nonFiniteA = 0,
      nonFiniteB = 0;
    let shapeB: number[] = [];
    let shapesMatch = true;
    for (let s = 0; s < a.length; s++) {
      const x = a[s]![i]!;
      const y = b[s]!.find((o) => o.name === oa.name)!;
      shapeB = y.dims;
      if (JSON.stringify(x.dims) !== JSON.stringify(y.dims)) {
        shapesMatch = false;
        continue;
      }
      const c = compareTensors(x.data as NumericArray, y.data as NumericArray);
      const w = withinTolerance(y.data as NumericArray, x.data as NumericArray, tol);
      nonFiniteA += c.nonFiniteA;
      nonFiniteB += c.nonFiniteB;
      maxAbs = Math.max(maxAbs, c.maxAbs);
      absSum += c.meanAbs * c.count;
      count += c.count;
      within += c.count - w.violations;
      // L2 norms and the dot product accumulate across input sets.
      for (let k = 0; k < x.data.length; k++) {
        const p = Number(x.data[k]),
          q = Number(y.data[k]);
        sqRef += p * p;
        sqB += q * q;
        dot += p * q;
        sqDiff += (p - q) * (p - q);
      }
    }
    const measured = shapesMatch && nonFiniteA === 0 && nonFiniteB === 0;
    if (!shapesMatch) problems.push(`output '${oa.name}' has shape [${shapeB}] in ${labelB}, [${oa.dims}] in ${labelA}`);
    if (nonFiniteA > 0 || nonFiniteB > 0) {
      const where = [nonFiniteB > 0 ? `${nonFiniteB} in ${labelB}` : '', nonFiniteA > 0 ? `${nonFiniteA} in ${labelA}` : ''].filter(Boolean).join(', ');
      problems.push(`output '${oa.name}' has non-finite values (NaN or infinity: ${where}); its error cannot be measured`);
    }
    const relL2 = !measured ? NaN : sqRef > 0 ? Math.sqrt(sqDiff / sqRef) : sqDiff > 0 ? Infinity : 0;
    const cosine = !measured ? NaN : sqRef > 0 && sqB > 0 ? dot / Math.sqrt(sqRef * sqB) : sqRef === 0 && sqB === 0 ? 1 : 0;
    const withinPct = measured && count > 0 ? (100 * within) / count : 0;
    const pass = measured && within === count && (FLOATS.has(oa.type) || maxAbs === 0);
    outputs.push({
      name: oa.name,
      shape: oa.dims,
      shapeB,
      maxAbs: measured ? maxAbs : NaN,
      meanAbs: measured ? (count ? absSum / count : 0) : NaN,
      relL2,
      cosine: round(cosine, 8),
      tolerance: tol,
      withinPct: round(withinPct),
      nonFinite: { a: nonFiniteA, b: nonFiniteB },
      pass,
      parts: [],
    });
  }
  for (const n of namesB) if (!a[0]!.some((o) => o.name === n)) problems.push(`${labelB} has an extra output '${n}'`);
  return { outputs, problems };
}

const dimText = (shape: Dim[] | null) => (shape ? `[${shape.map((d) => d ?? '?').join(',')}]` : '[?]');

/**
 * Two models give comparable outputs when they have the same output names and no static dim differs (dynamic
 * dims are checked on the outputs themselves). Returns the difference in words, or null.
 */
export function outputMismatch(a: { name: string; shape: Dim[] | null }[], b: { name: string; shape: Dim[] | null }[]): string | null {
  const namesA = a.map((o) => o.name).sort();
  const namesB = b.map((o) => o.name).sort();
  const list = (outs: typeof a) => outs.map((o) => `${o.name} ${dimText(o.shape)}`).join(', ');
  if (JSON.stringify(namesA) !== JSON.stringify(namesB)) return `${list(a)} vs ${list(b)}`;
  const differ = a.filter((oa) => {
    const sb = b.find((o) => o.name === oa.name)!.shape;
    const sa = oa.shape;
    if (!sa || !sb) return false;
    return sa.length !== sb.length || sa.some((d, k) => typeof d === 'number' && d > 0 && typeof sb[k] === 'number' && sb[k] > 0 && d !== sb[k]);
  });
  if (differ.length === 0) return null;
  return differ.map((oa) => `${oa.name} ${dimText(oa.shape)} vs ${dimText(b.find((o) => o.name === oa.name)!.shape)}`).join(', ');
}
