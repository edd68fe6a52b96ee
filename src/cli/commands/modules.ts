import type { CommandRegistration } from '../context.js';

export const modulesCommand: CommandRegistration = (cli, { out }) =>
  cli.command(
    'modules',
    'List the attention modules: variants, options, parameter formulas, op counts',
    (y) => y.option('json', { type: 'boolean', default: false }),
    async (args) => {
      const { describeModules } = await import('../../modules/index.js');
      const modules = describeModules();
      if (args.json) out(JSON.stringify(modules, null, 2));
      else {
        const { formatModules } = await import('../format/modules.js');
        out(formatModules(modules));
      }
    },
  );
