/** Rules for ops that grow or shrink axes: Pad, Resize, Upsample. */
import type { Rule, RuleContext, RuleOutput } from '../context.js';
import { cleanDim, isNum, normAxis, unknownDims } from '../dims.js';

export const RESIZE_RULES: Record<string, Rule> = {
  Pad: (c) => {
    const s = c.shape(0);
    if (!s) return { elemType: c.elem(0), shape: null };
    const pads = c.opset >= 11 || (c.opset === 0 && c.present(1)) ? c.data(1) : (c.node.attrInts('pads') ?? c.node.attrInts('paddings'));
    const axes = c.present(3) ? c.ints(3) : s.map((_, i) => i);
    if (!pads || !axes || pads.length !== 2 * axes.length) return { elemType: c.elem(0), shape: unknownDims(s) };
    const shape = s.slice();
    axes.forEach((a, j) => {
      const ax = normAxis(a, s.length);
      const pb = pads[j];
      const pe = pads[j + axes.length];
      if (ax === null) return;
      shape[ax] = !isNum(pb) || !isNum(pe) ? null : isNum(s[ax]) ? cleanDim(s[ax] + pb + pe) : pb === 0 && pe === 0 ? s[ax]! : null;
    });
    return { elemType: c.elem(0), shape };
  },
  Resize: (c) => resize(c, c.opset === 10 ? 1 : 2, c.opset === 10 ? -1 : 3),
  Upsample: (c) => resize(c, c.opset >= 9 || (c.opset === 0 && c.present(1)) ? 1 : -1, -1),
};

/** Resize (scales at input `si`, sizes at `zi`; -1: the `scales` attribute of old Upsample). */
function resize(c: RuleContext, si: number, zi: number): RuleOutput {
  const s = c.shape(0);
  const elem = c.elem(0);
  if (!s) return { elemType: elem, shape: null };
  const axes = (c.opset >= 18 ? c.node.attrInts('axes') : null)?.map((a) => normAxis(a, s.length)) ?? s.map((_, i) => i);
  const sizes = zi >= 0 && c.present(zi) ? c.data(zi) : null;
  const scales = si >= 0 ? (c.present(si) ? c.data(si) : null) : c.floats('scales');
  const shape = s.slice();
  const policy = c.node.attrString('keep_aspect_ratio_policy') ?? 'stretch';
  if (zi >= 0 && c.present(zi) && (!sizes || sizes.length > 0)) {
    // Sizes given (their values may still be unknown); aspect-ratio policies other than stretch are not modelled.
    axes.forEach((ax, j) => ax !== null && (shape[ax] = sizes && policy === 'stretch' ? cleanDim(sizes[j]) : null));
  } else if (scales && scales.length === axes.length) {
    axes.forEach((ax, j) => {
      if (ax === null) return;
      const d = s[ax]!;
      const f = scales[j];
      // onnxruntime multiplies in float32 and truncates.
      shape[ax] = !isNum(f) ? null : isNum(d) ? cleanDim(Math.floor(Math.fround(d * Math.fround(f)))) : f === 1 ? d : null;
    });
  } else return { elemType: elem, shape: unknownDims(s) };
  return { elemType: elem, shape };
}
