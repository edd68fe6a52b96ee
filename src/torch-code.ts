import { UsageError } from './errors.js';
import { findModule, resolveOptions } from './modules/index.js';
import type { OptionValue } from './modules/types.js';
import { BN_NOTE, moduleSource, PRELUDE } from './torch/module-sources.js';
import { CONFIGS, layerShifts, type LayerShift } from './torch/yolo-configs.js';

export { layerShifts, type LayerShift };

/**
 * `onnx-attn torch MODULE`: the module as a self-contained PyTorch `nn.Module`, with the reference code's maths and
 * state_dict keys (scripts/reference_modules.py, from the upstream code named in attention-modules.md), so that a
 * model trained with it gives a checkpoint `--weights best.pt` reads back. With `--layer N --family`, also the YAML
 * line that adds it after layer N of a YOLOv5 or ultralytics model, the parse_model branch that gives it its
 * channels, and the layer indexes that shift.
 */

export interface TorchCodeOptions {
  /** Module options as `--opt` gives them (`{variant: 'grouped', rate: '4'}`). */
  opts?: Readonly<Record<string, string>>;
  /** Insert after this layer of the model YAML (the new module becomes layer + 1). */
  layer?: number;
  family?: 'yolov5' | 'ultralytics';
}

export interface TorchCode {
  module: string;
  /** The class name to use in a YAML (`NAM`). */
  className: string;
  options: Record<string, OptionValue>;
  /** Python source: imports, the classes, and (with --layer) the YAML line and shifts as comments. */
  code: string;
  yaml: { family: 'yolov5' | 'ultralytics'; layer: number; line: string; shifts: LayerShift[] } | null;
}

const fmtFrom = (v: number | number[]) => (Array.isArray(v) ? `[${v.join(', ')}]` : String(v));

/**
 * The PyTorch code (and, with a layer and family, the YAML line and shifts) for a module and its options.
 *
 * Raises: UsageError for an unknown module or option, `--layer` without `--family` (or the reverse), or a layer
 * outside the config's backbone and neck.
 */
export function torchCode(moduleName: string, options: TorchCodeOptions = {}): TorchCode {
  const module = findModule(moduleName);
  const resolved = resolveOptions(module, { ...(options.opts ?? {}) });
  // Option values that are wrong at any point (ECA k=4) are refused as insert refuses them; constraints that depend
  // on the channel count (GAM grouped: C % r² = 0) are checked where the module is inserted.
  try {
    module.validate({ channels: 1024, height: 16, width: 16, opset: 17, bnEps: 1e-3, options: resolved });
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  if ((options.layer === undefined) !== (options.family === undefined)) {
    throw new UsageError(
      options.layer === undefined
        ? '--family needs --layer N (the layer the module goes after)'
        : '--layer needs --family yolov5|ultralytics (whose YAML the indexes are)',
    );
  }
  const name = module.name;
  const parts = [
    `"""${name} as a PyTorch module, printed by onnx-attn ${'torch'} ${name}${Object.entries(options.opts ?? {})
      .map(([k, v]) => ` --opt ${k}=${v}`)
      .join('')}.

Its state_dict keys are the reference code's, so a checkpoint trained with it patches an ONNX export with
    onnx-attn insert model.onnx --after SPEC --module ${name}${Object.entries(options.opts ?? {})
      .map(([k, v]) => ` --opt ${k}=${v}`)
      .join('')} --weights best.pt
"""`,
    PRELUDE,
    BN_NOTE,
    '',
    moduleSource(name, resolved),
  ];
  let yaml: TorchCode['yaml'] = null;
  if (options.layer !== undefined && options.family !== undefined) {
    const config = CONFIGS[options.family];
    const last = config.layers.length - 2; // the layer before Detect
    if (!Number.isInteger(options.layer) || options.layer < 0 || options.layer > last) {
      throw new UsageError(`--layer ${options.layer}: ${config.file} has layers 0 to ${last} before Detect (${last + 1}); give one of them`);
    }
    const pixel = name === 'NAM' && resolved['spatial'] === 'pixel';
    const line = pixel ? `[-1, 1, ${name}, ['pixel', H, W]]  # ${options.layer + 1}` : `[-1, 1, ${name}, []]  # ${options.layer + 1}`;
    const shifts = layerShifts(options.family, options.layer);
    yaml = { family: options.family, layer: options.layer, line, shifts };
    const where = options.family === 'yolov5' ? 'models/yolo.py' : 'ultralytics/nn/tasks.py';
    const classes = options.family === 'yolov5' ? 'models/common.py' : 'ultralytics/nn/modules/conv.py (and import it in tasks.py)';
    const comment = [
      `# --- Adding it to ${config.file} after layer ${options.layer} (it becomes layer ${options.layer + 1}) ---`,
      `# 1. Put the classes above in ${classes}.`,
      `# 2. In parse_model (${where}), before the final else, give it the input's channels:`,
      `#        elif m is ${name}:`,
      `#            c2 = ch[f]`,
      `#            args = [c2, *args]`,
      `# 3. In the YAML, after layer ${options.layer}:`,
      `#        ${yaml.line}${pixel ? '   (H, W: the feature map size at that layer)' : ''}`,
      `# 4. Every later layer moves down one; absolute \`from\` indexes at or past ${options.layer} follow it:`,
      ...shifts
        .filter((s) => JSON.stringify(s.inputs) !== JSON.stringify(s.newInputs))
        .map((s) => `#        layer ${s.from} -> ${s.to} ${s.type}: from ${fmtFrom(s.inputs[0]!)} -> ${fmtFrom(s.newInputs[0]!)}`),
      `#    (layers ${options.layer + 1} to ${config.layers.length - 1} are now ${options.layer + 2} to ${config.layers.length}; the module's checkpoint keys are model.${options.layer + 1}.*)`,
    ];
    parts.push('', comment.join('\n'));
  }
  return { module: name, className: name, options: resolved, code: `${parts.join('\n').trimEnd()}\n`, yaml };
}
