/** Rules for element-wise ops: broadcasting binaries, unaries, activations and normalizations that keep the shape. */
import { TensorProto_DataType as DT } from '../../../onnx/proto.js';
import type { Dim } from '../../graph.js';
import type { Rule } from '../context.js';
import { broadcast, isNum, normAxis, numel } from '../dims.js';
import { ADD, broadcastData, cmp, DIV, EQUAL, fix, variadic, MAX_DATA, MUL, num2, SUB, type Fn, type Tensor } from '../fold.js';

/** Same shape as input 0; `fn` maps known values; `elemType` overrides the element type. */
function unary(fn?: (x: number) => number | null, elemType?: number): Rule {
  return (c) => {
    const elem = elemType ?? c.elem(0);
    const d = fn ? c.data(0) : null;
    return { elemType: elem, shape: c.shape(0), data: d ? d.map((x) => (isNum(x) ? fix(fn!(x), elem) : null)) : null };
  };
}

/** Broadcasting ops; `fn` evaluates known values. Element type from input `from`, or `elemType`. */
function elementwise(fn?: Fn, opts: { elemType?: number; from?: number } = {}): Rule {
  return (c) => {
    const n = c.node.inputs.length;
    // Plain loops: this runs for most nodes of a real export, and iterator spreads were its largest allocation.
    const shapes: (Dim[] | null)[] = [];
    for (let i = 0; i < n; i++) shapes.push(c.shape(i));
    const shape = broadcast(shapes);
    const elem = opts.elemType ?? (c.elem(opts.from ?? 0) || c.elem(n - 1));
    let data: Dim[] | null = null;
    const size = numel(shape);
    if (fn && size !== null && size <= MAX_DATA) {
      const ts: Tensor[] = [];
      for (let i = 0; i < n; i++) {
        const t = c.tensor(i);
        if (!t) break;
        ts.push(t);
      }
      if (ts.length === n) data = broadcastData(shape!, ts, (xs) => fn(xs, elem));
    }
    return { elemType: elem, shape, data };
  };
}

const same: Rule = unary();
const toBool: Rule = unary(undefined, DT.BOOL);

export const ELEMENTWISE_RULES: Record<string, Rule> = {
  Add: elementwise(ADD),
  Sub: elementwise(SUB),
  Mul: elementwise(MUL),
  Div: elementwise(DIV),
  Pow: elementwise(num2((a, b) => a ** b)),
  Mod: (c) => elementwise(num2(c.int('fmod', 0) ? (a, b) => (b === 0 ? null : a % b) : (a, b) => (b === 0 ? null : ((a % b) + b) % b)))(c),
  // Two-argument lambdas: reduce also passes the index and the array, which Math.max would read as NaN.
  Max: elementwise(variadic((a, b) => Math.max(a, b))),
  Min: elementwise(variadic((a, b) => Math.min(a, b))),
  Sum: elementwise(variadic((a, b) => a + b)),
  Mean: elementwise(),
  PRelu: elementwise(),
  BitShift: elementwise(),
  Equal: elementwise(EQUAL, { elemType: DT.BOOL }),
  Greater: elementwise(
    cmp((a, b) => a > b),
    { elemType: DT.BOOL },
  ),
  Less: elementwise(
    cmp((a, b) => a < b),
    { elemType: DT.BOOL },
  ),
  GreaterOrEqual: elementwise(
    cmp((a, b) => a >= b),
    { elemType: DT.BOOL },
  ),
  LessOrEqual: elementwise(
    cmp((a, b) => a <= b),
    { elemType: DT.BOOL },
  ),
  And: elementwise(
    cmp((a, b) => !!a && !!b),
    { elemType: DT.BOOL },
  ),
  Or: elementwise(
    cmp((a, b) => !!a || !!b),
    { elemType: DT.BOOL },
  ),
  Xor: elementwise(
    cmp((a, b) => !!a !== !!b),
    { elemType: DT.BOOL },
  ),
  Where: elementwise(([cond, x = null, y = null]) => (cond === 1 ? x : cond === 0 ? y : null), { from: 1 }),
  Not: unary((x) => (x ? 0 : 1), DT.BOOL),
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => (x === 0 ? null : 1 / x)),
  IsNaN: toBool,
  IsInf: toBool,
  ...Object.fromEntries(
    [
      'Relu',
      'Sigmoid',
      'Tanh',
      'Exp',
      'Log',
      'Sin',
      'Cos',
      'Tan',
      'Erf',
      'Sign',
      'Round',
      'Softplus',
      'Softsign',
      'HardSwish',
      'HardSigmoid',
      'LeakyRelu',
      'Elu',
      'Selu',
      'Celu',
      'Gelu',
      'Mish',
      'ThresholdedRelu',
      'Clip',
      'Softmax',
      'LogSoftmax',
      'Hardmax',
      'BatchNormalization',
      'InstanceNormalization',
      'LpNormalization',
      'GroupNormalization',
      'MeanVarianceNormalization',
      'CumSum',
      'Trilu',
      'Asin',
      'Acos',
      'Atan',
      'Sinh',
      'Cosh',
      'LRN',
      'ReverseSequence',
      'ScatterElements',
      'ScatterND',
    ].map((op) => [op, same]),
  ),
  Dropout: (c) => [
    { elemType: c.elem(0), shape: c.shape(0) },
    { elemType: DT.BOOL, shape: c.shape(0) },
  ],
  LayerNormalization: (c) => {
    const s = c.shape(0);
    const axis = s ? normAxis(c.int('axis', -1), s.length) : null;
    const stats = s && axis !== null ? s.map((d, i) => (i < axis ? d : 1)) : null;
    const stash = c.int('stash_type', DT.FLOAT);
    return [
      { elemType: c.elem(0), shape: s },
      { elemType: stash, shape: stats },
      { elemType: stash, shape: stats },
    ];
  },
};
