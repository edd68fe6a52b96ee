/**
 * Static shape inference with constant propagation: the graph stage's public entry (the implementation is in
 * shapes/: `dims` the dimension algebra, `fold` the constant evaluator, `context` what a rule sees, `rules/` the op
 * rules by kind, `infer` the driver).
 *
 * Exporters compute Reshape/Expand/Resize/Pad/Slice parameters at run time (Shape → Gather → Unsqueeze →
 * Concat chains), so shapes alone are not enough: small integer tensors are evaluated along the way. Their
 * elements are `Dim`s too, so the value of `Shape(x)` for x = ['batch', 3, 64, 64] is ['batch', 3, 64, 64] and a
 * symbolic batch survives a round trip through Reshape.
 *
 * Inference never throws: a rule that fails leaves its outputs to the declared value_info, and a dim nobody can
 * know is null. Nothing is guessed.
 */
export { inferShapes, type InferOptions } from './shapes/infer.js';
