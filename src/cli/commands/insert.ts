import { UsageError } from '../../errors.js';
import type { CommandRegistration } from '../context.js';
import { insertOptionsFrom, shapesFrom } from '../../insert/options.js';

export const insertCommand: CommandRegistration = (cli, ctx) =>
  cli.command(
    'insert <model>',
    'Insert an attention module after one or more points, check the result, and save it',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
        .option('after', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'Insertion points: 23, model.23/cv3, node:NAME[#k], tensor:NAME, head, head:i (comma list or repeated)',
        })
        .option('module', { type: 'string', demandOption: true, describe: 'NAM, GAM, SimAM, SE, CBAM, ECA, CA' })
        .option('opt', { type: 'string', array: true, describe: 'Module option key=value (repeatable), e.g. variant=paper, rate=4, lambda=1e-4' })
        .option('init', { choices: ['torch', 'random'] as const, default: 'torch' as const, describe: 'Weights when no --weights file is given' })
        .option('seed', { type: 'number', default: 0, describe: 'Seed of --init' })
        .option('weights', {
          type: 'string',
          array: true,
          describe: 'Reference state_dict: .safetensors, .npz, .json, or a PyTorch checkpoint .pt/.pth (one per point, or one file)',
        })
        .option('weights-prefix', {
          type: 'string',
          array: true,
          describe: "The module's key prefix in a --weights checkpoint (.pt), e.g. model.24. (one per point; default: found)",
        })
        .option('bn-eps', { type: 'number', describe: 'BatchNorm epsilon (default 1e-3 for YOLO/ultralytics exports, 1e-5 otherwise)' })
        .option('gate', {
          choices: ['zero', 'none'] as const,
          default: 'none' as const,
          describe: 'zero: y = x + 0·(attention(x) − x), an exact identity until the gate is set to 1',
        })
        .option('consumers', { type: 'string', array: true, describe: 'Rewire only these consumer nodes (e.g. a residual Add)' })
        .option('output', { alias: 'o', type: 'string', describe: 'Output file (default <stem>-<module>.onnx beside the input)' })
        .option('force', { type: 'boolean', default: false, describe: 'Replace an existing output' })
        .option('in-place', { type: 'boolean', default: false, describe: 'Write over the input model' })
        .option('external-data', { choices: ['auto', 'always', 'never'] as const, default: 'auto' as const })
        .option('dry-run', {
          type: 'boolean',
          default: false,
          describe: 'Print the plan (points, tensors, shapes, consumers, params, MACs); write nothing',
        })
        .option('check', {
          type: 'boolean',
          default: true,
          describe: 'Run original and patched once in onnxruntime (CPU) before saving (--no-check to skip)',
        })
        .option('shape', { type: 'string', array: true, describe: 'Size of dynamic inputs, NAME=1x3x640x640' })
        .option('json', { type: 'boolean', default: false }),
    async (args) => {
      const { insertIntoFile } = await import('../../insert.js');
      // --shape first, as ever: of several mistakes the first in this order is the one reported.
      shapesFrom(args.shape);
      if (args.output && args.inPlace) throw new UsageError('--output and --in-place contradict each other; pass one');
      const result = await insertIntoFile(args.model, {
        ...insertOptionsFrom(args, ctx.given),
        ...(args.output ? { output: args.output } : {}),
        force: args.force,
        inPlace: args.inPlace,
        externalData: args.externalData,
        dryRun: args.dryRun,
        check: args.check,
      });
      if (args.json) ctx.out(JSON.stringify(result, null, 2));
      else if (!args.quiet || args.dryRun) {
        const { formatInsert } = await import('../format/insert.js');
        ctx.out(formatInsert(result));
      }
    },
  );
