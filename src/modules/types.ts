import type { ModuleBuilder, TapeValue } from './builder.js';

/** Everything a module needs to know about the point it goes in. */
export interface ModuleContext {
  /** Channels of the boundary tensor (dim 1 of N,C,H,W). */
  channels: number;
  /** Static spatial size, or null when the host graph leaves it dynamic. */
  height: number | null;
  width: number | null;
  /** The host model's ai.onnx opset (11..21). */
  opset: number;
  /** BatchNorm epsilon for the module's BNs (`--bn-eps`, else 1e-3 in YOLO exports, 1e-5 otherwise). */
  bnEps: number;
  /** Options after defaults and validation (see `options`). */
  options: Readonly<Record<string, OptionValue>>;
  /** The feature map's element type (TensorProto.DataType: float32, float16 or float64); the module computes in it. Default float32. */
  elemType?: number;
}

export type OptionValue = string | number;

export interface OptionSpec {
  key: string;
  /** `choice`: one of `choices`; `number`: any finite number; `int`: a positive integer; `int-or-auto`: an integer or `auto`. */
  kind: 'choice' | 'number' | 'int' | 'int-or-auto';
  choices?: readonly string[];
  default: OptionValue;
  describe: string;
}

/** How the reference PyTorch module initialises a state_dict entry (attention-modules.md section 0). */
export type InitRule =
  | { kind: 'ones' }
  | { kind: 'zeros' }
  /** Conv/Linear weight: kaiming_uniform(a=√5) = U(±1/√fan_in). */
  | { kind: 'kaiming'; fanIn: number }
  /** Conv/Linear bias: U(±1/√fan_in). */
  | { kind: 'bias'; fanIn: number }
  /** BatchNorm num_batches_tracked: an int64 scalar 0. */
  | { kind: 'count' };

export interface ParamSpec {
  /** Reference state_dict key, e.g. `Channel_Att.bn2.weight`. */
  key: string;
  shape: readonly number[];
  init: InitRule;
  /** Weights and biases are trainable; running statistics and counters are buffers. */
  trainable: boolean;
}

/** The reference module's state_dict values, by key (float32; `num_batches_tracked` may be absent). */
export type Weights = ReadonlyMap<string, Float32Array>;

/**
 * One attention module, declared in one file under src/modules: its options, its reference parameters, the ops
 * its minimal ONNX form uses, and how to build that form. `build` must record exactly `ops(ctx)`.
 */
export interface AttentionModule {
  /** Canonical name: NAM, GAM, SimAM, SE, CBAM, ECA, CA. */
  name: string;
  title: string;
  /** Paper and reference code the maths follows. */
  reference: string;
  options: readonly OptionSpec[];
  /** Trainable parameter count as a formula in C (and r, k, H, W), for `modules`. */
  paramsFormula: string;
  /** The variant that will run (`channel`, `pixel`, `paper`, `official`, ...), reported in provenance. */
  variant(ctx: ModuleContext): string;
  /** Throws BuildError when the module cannot be built for this context (C % r² ≠ 0, HW = 1, ...). */
  validate(ctx: ModuleContext): void;
  /** The reference module's state_dict entries for this context. */
  params(ctx: ModuleContext): ParamSpec[];
  /** Op-type counts of the minimal form `build` records. */
  ops(ctx: ModuleContext): Readonly<Record<string, number>>;
  /** Multiply-accumulates per image (see src/modules/README-style note in index.ts), or null with dynamic H, W. */
  macs(ctx: ModuleContext): number | null;
  /** Records the subgraph computing attention(x); returns its output. */
  build(b: ModuleBuilder, x: TapeValue, w: Weights, ctx: ModuleContext): TapeValue;
}
