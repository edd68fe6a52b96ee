import { UsageError } from '../errors.js';
import { CA } from './ca.js';
import { CBAM } from './cbam.js';
import { ECA } from './eca.js';
import { GAM } from './gam.js';
import { NAM } from './nam.js';
import { SE } from './se.js';
import { SimAM } from './simam.js';
import { ModuleBuilder } from './builder.js';
import { initWeights } from '../weights/init.js';
import { PORTABILITY, type PortabilityRow } from './portability.js';
import type { AttentionModule, ModuleContext, OptionSpec, OptionValue } from './types.js';

/**
 * The module registry. MACs (`macs`) count multiply-accumulates per image: those of every Conv, plus one per
 * element for each elementwise multiply, division or normalisation over the full feature map; activations,
 * poolings and reductions are not counted. They are for ranking points and modules, not a profiler.
 */
export const MODULES: readonly AttentionModule[] = [NAM, GAM, SimAM, SE, CBAM, ECA, CA];

export function moduleNames(): string[] {
  return MODULES.map((m) => m.name);
}

/** A module by name, case-insensitive; an unknown name is a usage error (exit 2) naming the valid ones. */
export function findModule(name: string): AttentionModule {
  const found = MODULES.find((m) => m.name.toLowerCase() === name.trim().toLowerCase());
  if (!found) throw new UsageError(`unknown module '${name}'; choose one of ${moduleNames().join(', ')} (onnx-attn modules lists them)`);
  return found;
}

function parseOption(module: AttentionModule, spec: OptionSpec, raw: string | number): OptionValue {
  const text = String(raw).trim();
  const bad = (expected: string) => new UsageError(`${module.name} option ${spec.key}=${text}: expected ${expected}`);
  switch (spec.kind) {
    case 'choice': {
      const hit = spec.choices!.find((c) => c.toLowerCase() === text.toLowerCase());
      if (!hit) throw bad(`one of ${spec.choices!.join(', ')}`);
      return hit;
    }
    case 'number': {
      const v = Number(text);
      if (text === '' || !Number.isFinite(v)) throw bad('a finite number, e.g. 1e-4');
      return v;
    }
    case 'int': {
      const v = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < 1) throw bad('a positive integer');
      return v;
    }
    case 'int-or-auto': {
      if (text.toLowerCase() === 'auto') return 'auto';
      const v = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < 1) throw bad('a positive integer or auto');
      return v;
    }
  }
}

/**
 * The one check for an option key a module does not have (`--opt` and a plan's `opts`): null when it has it, else the
 * message, naming the valid keys in the caller's words (`its options are …` on the command line, `expected one of …`
 * in a plan).
 */
export function unknownOption(module: AttentionModule, key: string, listed: (valid: string) => string): string | null {
  if (module.options.some((o) => o.key === key)) return null;
  const valid = module.options.map((o) => o.key);
  return `${module.name} has no option '${key}'; ${valid.length ? listed(valid.join(', ')) : 'it takes no options'}`;
}

/** `--opt` values checked and typed, defaults filled in; an unknown key or bad value is exit 2 naming the valid ones. */
export function resolveOptions(module: AttentionModule, raw: Readonly<Record<string, string | number>>): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const key of Object.keys(raw)) {
    const unknown = unknownOption(module, key, (valid) => `its options are ${valid}`);
    if (unknown) throw new UsageError(unknown);
  }
  for (const spec of module.options) out[spec.key] = raw[spec.key] === undefined ? spec.default : parseOption(module, spec, raw[spec.key]!);
  return out;
}

export interface ModuleExample {
  context: string;
  variant: string;
  params: number;
  macs: number | null;
  ops: Record<string, number>;
  opCount: number;
}

export interface ModuleDescription {
  name: string;
  title: string;
  reference: string;
  options: { key: string; kind: string; choices?: readonly string[]; default: OptionValue; describe: string }[];
  variants: string[];
  paramsFormula: string;
  /** Built for real at C=64, 20×20, at opsets 12 and 17, with every variant option value. */
  examples: ModuleExample[];
  /** Where each variant's form loads and agrees, per opset band and runtime (measured by test/opencv.test.ts). */
  portability: Omit<PortabilityRow, 'module'>[];
}

/** The `variant`-like option whose values give the module's variants (NAM spatial, GAM/CBAM variant). */
function variantOption(m: AttentionModule): OptionSpec | undefined {
  return m.options.find((o) => o.kind === 'choice');
}

/** What `onnx-attn modules` prints: every module's options and formulas, with op counts measured by building it. */
export function describeModules(): ModuleDescription[] {
  return MODULES.map((m) => {
    const vo = variantOption(m);
    const values = vo ? vo.choices! : [undefined];
    const examples: ModuleExample[] = [];
    for (const value of values) {
      for (const opset of [12, 17]) {
        const options = resolveOptions(m, vo && value ? { [vo.key]: value } : {});
        const ctx: ModuleContext = { channels: 64, height: 20, width: 20, opset, bnEps: 1e-3, options };
        m.validate(ctx);
        const params = m.params(ctx);
        const tape = new ModuleBuilder(opset);
        m.build(tape, tape.input, initWeights(params, 'torch', 0), ctx);
        const ops = tape.opCounts();
        examples.push({
          context: `C=64, 20x20, opset ${opset}${vo && value ? `, ${vo.key}=${value}` : ''}`,
          variant: m.variant(ctx),
          params: params.filter((p) => p.trainable).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0),
          macs: m.macs(ctx),
          ops,
          opCount: Object.values(ops).reduce((a, b) => a + b, 0),
        });
      }
    }
    return {
      name: m.name,
      title: m.title,
      reference: m.reference,
      options: m.options.map((o) => ({ key: o.key, kind: o.kind, ...(o.choices ? { choices: o.choices } : {}), default: o.default, describe: o.describe })),
      variants: [...new Set(examples.map((e) => e.variant))],
      paramsFormula: m.paramsFormula,
      examples,
      portability: PORTABILITY.filter((r) => r.module === m.name).map(({ module: _module, ...row }) => row),
    };
  });
}

export type { AttentionModule, ModuleContext } from './types.js';
