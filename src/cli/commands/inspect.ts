import type { CommandRegistration } from '../context.js';
import { shapesFrom } from '../../insert/options.js';

export const inspectCommand: CommandRegistration = (cli, { out }) =>
  cli.command(
    'inspect <model>',
    'Show family, opsets, I/O, the layer table and the detection head',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON (cli-contract "inspect")' })
        .option('probe', {
          type: 'boolean',
          default: true,
          describe: 'Measure shapes static inference cannot reach with one onnxruntime run (--no-probe to skip)',
        })
        .option('shape', { type: 'string', array: true, describe: 'Size of dynamic inputs, NAME=1x3x640x640' })
        .option('at', { type: 'string', array: true, describe: 'Resolve insertion points (SPEC[,SPEC]) as insert --after would' }),
    async (args) => {
      const { inspect } = await import('../../inspect.js');
      const shapes = shapesFrom(args.shape);
      const result = await inspect(args.model, {
        probe: args.probe,
        ...(shapes ? { inputShapes: shapes } : {}),
        ...(args.at ? { at: args.at } : {}),
      });
      if (args.json) out(JSON.stringify(result, null, 2));
      else {
        const { formatInspect } = await import('../format/inspect.js');
        out(formatInspect(result));
      }
    },
  );
