import type { CommandRegistration } from '../context.js';

export const convertCommand: CommandRegistration = (cli, { out }) =>
  cli.command(
    'convert <input> <output>',
    'Re-save a model inline or with external data (atomic; byte-identical when nothing changes)',
    (y) =>
      y
        .positional('input', { type: 'string', demandOption: true })
        .positional('output', { type: 'string', demandOption: true })
        .option('external-data', {
          choices: ['auto', 'always', 'never'] as const,
          default: 'auto' as const,
          describe: 'auto = as the input was stored; always = tensors of --threshold bytes or more go to <output>.data',
        })
        .option('threshold', { type: 'number', default: 1024, describe: 'Smallest tensor (bytes) moved to external data' })
        .option('force', { type: 'boolean', default: false, describe: 'Replace an existing output' })
        .option('in-place', { type: 'boolean', default: false, describe: 'Allow the output to be the input (read whole first, then replaced atomically)' })
        .option('json', { type: 'boolean', default: false }),
    async (args) => {
      const { convert } = await import('../../convert.js');
      const r = await convert(args.input, args.output, {
        externalData: args.externalData,
        threshold: args.threshold,
        force: args.force,
        inPlace: args.inPlace,
      });
      if (args.json) out(JSON.stringify(r, null, 2));
      else if (!args.quiet) out(`wrote ${r.path} (${r.bytes} bytes)${r.dataPath ? ` + ${r.dataPath} (${r.externalBytes} bytes)` : ''}`);
    },
  );
