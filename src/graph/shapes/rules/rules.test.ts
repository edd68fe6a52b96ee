import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RULE_FAMILIES, RULES } from './index.js';

/** Every op with a shape rule when the rules were one table in graph/shapes.ts (issue 14 split them by kind). */
const OPS_WITH_RULES = `
  Abs Acos Add And ArgMax ArgMin Asin Atan AveragePool BatchNormalization BitShift Cast CastLike Ceil
  Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum Div Dropout Elu Equal Erf
  Exp Expand Flatten Floor Gather GatherElements Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
  Greater GreaterOrEqual GridSample GroupNormalization HardSigmoid HardSwish Hardmax Identity
  InstanceNormalization IsInf IsNaN LRN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax
  LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg
  NonMaxSuppression NonZero Not Or PRelu Pad Pow Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum
  ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize
  ReverseSequence Round ScatterElements ScatterND Selu Shape Sigmoid Sign Sin Sinh Size Slice Softmax
  Softplus Softsign Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
  Unsqueeze Upsample Where Xor
`
  .trim()
  .split(/\s+/);

test('the rule table holds a rule for every op it held before the split, and no other', () => {
  assert.equal(OPS_WITH_RULES.length, 123);
  assert.deepEqual(Object.keys(RULES).sort(), [...OPS_WITH_RULES].sort());
  for (const op of OPS_WITH_RULES) assert.equal(typeof RULES[op], 'function', op);
});

test('each op has its rule in exactly one rule file', () => {
  const owners = new Map<string, string[]>();
  for (const [family, rules] of Object.entries(RULE_FAMILIES)) {
    for (const op of Object.keys(rules)) owners.set(op, [...(owners.get(op) ?? []), family]);
  }
  const shared = [...owners].filter(([, families]) => families.length > 1).map(([op, families]) => `${op}: ${families.join(', ')}`);
  assert.deepEqual(shared, []);
  assert.equal(owners.size, OPS_WITH_RULES.length);
  for (const [family, rules] of Object.entries(RULE_FAMILIES)) {
    for (const [op, rule] of Object.entries(rules)) assert.equal(RULES[op], rule, `${op} from ${family}`);
  }
});
