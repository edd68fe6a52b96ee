import type { CommandRegistration } from '../context.js';

export const doctorCommand: CommandRegistration = (cli, { out }) =>
  cli.command(
    'doctor',
    'Show onnxruntime-node, which execution providers are bundled and loadable, and how to fix the rest',
    (y) => y.option('json', { type: 'boolean', default: false }),
    async (args) => {
      const { doctor } = await import('../../doctor.js');
      const report = await doctor();
      if (args.json) out(JSON.stringify(report, null, 2));
      else {
        const { formatDoctor } = await import('../format/doctor.js');
        out(formatDoctor(report));
      }
    },
  );
