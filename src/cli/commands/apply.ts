import { UsageError } from '../../errors.js';
import type { CommandRegistration } from '../context.js';

export const applyCommand: CommandRegistration = (cli, ctx) =>
  cli.command(
    'apply [plan]',
    'Run a patch plan (YAML or JSON): insert, save, validate and compare every entry; --check for CI',
    (y) =>
      y
        .positional('plan', { type: 'string', describe: 'Plan file (.yaml, .yml or .json); the paths in it are relative to it' })
        .option('only', { type: 'string', array: true, describe: 'Run only the entries with these names (repeatable)' })
        .option('check', {
          type: 'boolean',
          default: false,
          describe: 'Write nothing; exit 1 when an output is missing or not byte-identical to what apply would write',
        })
        .option('dry-run', { type: 'boolean', default: false, describe: 'Print what would be done (points, tensors, parameters); write nothing' })
        .option('report', { type: 'string', array: true, describe: 'Also write a report of every entry: .json, .md, .html or .xml (JUnit); repeatable' })
        .option('schema', { type: 'boolean', default: false, describe: "Print the plan's JSON Schema and exit" })
        .option('allow-outside', {
          type: 'boolean',
          default: false,
          describe: "Let the plan's outputs and reports lie outside its folder (refused by default: exit 2)",
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON (cli-contract "apply")' }),
    async (args) => {
      const { out, io, state } = ctx;
      if (args.schema) {
        if (args.plan) throw new UsageError(`--schema takes no plan (${args.plan}); run onnx-attn apply --schema alone, or drop --schema to run the plan`);
        const extra = (['only', 'check', 'dry-run', 'report', 'allow-outside'] as const).filter((f) => ctx.given.has(f));
        if (extra.length > 0) throw new UsageError(`--schema takes no other option (--${extra.join(', --')}); run onnx-attn apply --schema alone`);
        const { planSchema } = await import('../../plan/schema.js');
        out(JSON.stringify(planSchema(), null, 2));
        return;
      }
      if (!args.plan) throw new UsageError("apply needs a plan file (onnx-attn apply plan.yaml), or --schema to print the plan's format");
      const { apply } = await import('../../apply.js');
      const { applyReportWriter } = await import('../../report/apply.js');
      const { progressBar } = await import('../progress.js');
      const { formatApplyEntry, formatApplySummary } = await import('../format/apply.js');
      const human = !args.json && !args.quiet;
      const result = await apply(args.plan, {
        ...(args.only ? { only: args.only } : {}),
        check: args.check,
        dryRun: args.dryRun,
        allowOutside: args.allowOutside,
        ...(args.report ? { reports: args.report } : {}),
        reportWriter: applyReportWriter,
        progress: (label) => progressBar(`apply ${label}`, human),
        onEntry: (e) => {
          if (!args.json && (human || args.dryRun || !e.pass)) out(formatApplyEntry(e, args.check ? 'check' : args.dryRun ? 'dry-run' : 'apply'));
        },
      });
      if (args.json) out(JSON.stringify(result, null, 2));
      else if (human || args.dryRun || !result.pass) out(formatApplySummary(result));
      if (result.stale.length > 0)
        io.stderr(`onnx-attn: ${result.stale.length} stale output(s): ${result.stale.join(', ')}; run onnx-attn apply ${args.plan} to update them\n`);
      state.exitCode = result.exitCode;
    },
  );
