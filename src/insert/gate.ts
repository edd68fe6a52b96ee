import { ModuleBuilder, type TapeValue } from '../modules/builder.js';
import type { AttentionModule, ModuleContext, Weights } from '../modules/types.js';

/**
 * The zero gate (`--gate zero`), declared like an attention module (src/modules/*.ts): its parameters, the ops it
 * adds, its MACs and how it is recorded. y = x + g·(attention(x) − x) with g = 0 is exactly x until g is set to 1,
 * so a gated patch must reproduce the original outputs bit for bit: the proof that the splice is right.
 */
export const ZeroGate = {
  name: 'gate',
  paramsFormula: '1 (g, a scalar)',
  /** Trainable parameters: g. */
  params: 1,
  /** The ops the gate adds to its module's: Sub(y, x), Mul(·, g), Add(x, ·). `record` must add exactly these. */
  ops(): Readonly<Record<string, number>> {
    return { Sub: 1, Mul: 1, Add: 1 };
  },
  /** One multiply-accumulate per element (the Mul); null-free: an unknown H or W counts 0, as the module's MACs are then null. */
  macs(ctx: Pick<ModuleContext, 'channels' | 'height' | 'width'>): number {
    return ctx.height !== null && ctx.width !== null ? ctx.channels * ctx.height * ctx.width : 0;
  },
  /** Gates `y`, the module's output for input `x`, on the tape; returns the gated output. */
  record(tape: ModuleBuilder, x: TapeValue, y: TapeValue): TapeValue {
    // g is recorded first: the initializer `gate` comes before the gate's nodes, as in every file written so far.
    const g = tape.floats('gate', [], [0]);
    const delta = tape.op('Sub', [y, x]);
    return tape.op('Add', [x, tape.op('Mul', [delta, g])]);
  },
} as const;

export type Gate = 'zero' | 'none';

/** An attention module recorded on a fresh tape, gated when asked: what is counted at plan time and spliced later. */
export function recordGatedModule(module: AttentionModule, ctx: ModuleContext, weights: Weights, gate: Gate): { tape: ModuleBuilder; output: TapeValue } {
  const tape = new ModuleBuilder(ctx.opset, ctx.elemType);
  const x = tape.input;
  const y = module.build(tape, x, weights, ctx);
  return { tape, output: gate === 'zero' ? ZeroGate.record(tape, x, y) : y };
}
