import { BuildError, UsageError } from '../errors.js';
import { int } from './builder.js';
import { optionNumber, pixels } from './common.js';
import type { AttentionModule } from './types.js';

/**
 * SimAM (Yang et al., ICML 2021; ZjjConan/SimAM simam_module). Parameter-free: y = x·σ(d / (4(Σd/n + λ)) + 0.5),
 * d = (x − mean_HW x)², n = H·W − 1.
 *
 *   static H, W (10 ops): GlobalAveragePool → Sub → Mul(d,d) → GlobalAveragePool → Mul(4·HW/n) → Add(4λ) → Div
 *   → Add(0.5) → Sigmoid → Mul
 *   dynamic H, W (17 ops; 16 from opset 15): HW from Shape → Slice[2:4] → ReduceProd → Cast, n = Sub(1), HW/n = Div,
 *   then Mul(mean d, HW/n) → Add(λ) → Mul(4) in place of Mul(4·HW/n) → Add(4λ).
 *   Both means are GlobalAveragePool and Σd is mean(d)·HW: the same maths in ops every runtime has at every opset
 *   (ReduceSum takes its axes as an input from opset 13, which OpenCV 4.6 refuses, and ReduceMean from 18, which
 *   OpenCV 4.6 reads as "all axes").
 */
export const SimAM: AttentionModule = {
  name: 'SimAM',
  title: 'Simple, parameter-free Attention Module',
  reference: 'Yang et al., ICML 2021 (PMLR v139); github.com/ZjjConan/SimAM networks/attentions/simam_module.py',
  options: [
    {
      key: 'lambda',
      kind: 'number',
      default: 1e-4,
      describe: 'e_lambda: 1e-4 in the code, 0.1 in the README ImageNet runs; give it explicitly, SimAM(64) sets it to 64',
    },
  ],
  paramsFormula: '0 (λ is a constant)',
  variant: (ctx) => (pixels(ctx) === null ? 'dynamic' : 'default'),
  validate(ctx) {
    const lambda = optionNumber(ctx, 'lambda');
    if (!(lambda >= 0)) throw new UsageError(`SimAM lambda must be ≥ 0, got ${lambda}`);
    if (pixels(ctx) === 1) throw new BuildError('SimAM on a 1x1 map divides by n = H·W − 1 = 0, so its output is NaN; insert it where H·W > 1');
  },
  params: () => [],
  ops(ctx) {
    const ops: Record<string, number> = { GlobalAveragePool: 2, Sub: 1, Mul: 3, Add: 2, Div: 1, Sigmoid: 1 };
    if (pixels(ctx) !== null) return ops;
    ops['Shape'] = 1;
    if (ctx.opset < 15) ops['Slice'] = 1;
    ops['ReduceProd'] = 1;
    ops['Cast'] = 1;
    ops['Sub'] = 2;
    ops['Div'] = 2;
    ops['Mul'] = 4;
    return ops;
  },
  macs(ctx) {
    const p = pixels(ctx);
    // Sub, square, Div and the gating Mul per element.
    return p === null ? null : 4 * ctx.channels * p;
  },
  build(b, x, _w, ctx) {
    const lambda = optionNumber(ctx, 'lambda');
    const d0 = b.op('Sub', [x, b.op('GlobalAveragePool', [x])]);
    const d = b.op('Mul', [d0, d0]); // Mul, not Pow: cheaper, and every backend has it
    const mean = b.op('GlobalAveragePool', [d]); // Σd / HW
    const p = pixels(ctx);
    let denom;
    if (p !== null) {
      const n = p - 1;
      // 4·(Σd/n + λ) = mean·(4·HW/n) + 4λ
      denom = b.op('Add', [b.op('Mul', [mean, b.floats('four_hw_over_n', [], [(4 * p) / n])]), b.floats('four_lambda', [], [4 * lambda])]);
    } else {
      // n = H·W − 1 measured at run time, so the model stays valid for every input size.
      const hw =
        b.opset >= 15
          ? b.op('Shape', [x], { start: int(2), end: int(4) })
          : b.op('Slice', [b.op('Shape', [x]), b.int64s('hw_start', [2]), b.int64s('hw_end', [4]), b.int64s('hw_axes', [0])]);
      const count = b.op('Cast', [b.reduce('ReduceProd', hw, [0], false, 'hw_reduce_axes')], { to: int(b.floatType) });
      const n = b.op('Sub', [count, b.floats('one', [], [1])]);
      const v = b.op('Add', [b.op('Mul', [mean, b.op('Div', [count, n])]), b.floats('lambda', [], [lambda])]);
      denom = b.op('Mul', [v, b.floats('four', [], [4])]);
    }
    const e = b.op('Add', [b.op('Div', [d, denom]), b.floats('half', [], [0.5])]);
    return b.op('Mul', [x, b.op('Sigmoid', [e])]);
  },
};
