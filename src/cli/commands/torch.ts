import type { CommandRegistration } from '../context.js';
import { optsFrom } from '../../insert/options.js';

export const torchCommand: CommandRegistration = (cli, { out }) =>
  cli.command(
    'torch <module>',
    'Print the module as PyTorch code (the reference maths and state_dict keys), and how to add it to a YOLO YAML',
    (y) =>
      y
        .positional('module', { type: 'string', demandOption: true, describe: 'NAM, GAM, SimAM, SE, CBAM, ECA, CA' })
        .option('opt', { type: 'string', array: true, describe: 'Module option key=value (repeatable), as in insert' })
        .option('layer', { type: 'number', describe: 'With --family: the YAML layer the module goes after (it becomes layer N+1)' })
        .option('family', {
          choices: ['yolov5', 'ultralytics'] as const,
          describe: 'Whose YAML --layer counts in: yolov5 (yolov5s.yaml) or ultralytics (yolov8.yaml)',
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print {module, className, options, code, yaml}' }),
    async (args) => {
      const { torchCode } = await import('../../torch-code.js');
      const r = torchCode(args.module, {
        opts: optsFrom(args.opt ?? []),
        ...(args.layer !== undefined ? { layer: args.layer } : {}),
        ...(args.family !== undefined ? { family: args.family } : {}),
      });
      out(args.json ? JSON.stringify(r, null, 2) : r.code);
    },
  );
