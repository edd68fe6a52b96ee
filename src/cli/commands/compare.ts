import { verdictExitCode } from '../../errors.js';
import type { CommandRegistration } from '../context.js';
import { ACCURACY_OPTIONS, runtimeOptions, toAccuracy, toRuntime } from '../flags.js';
import { reported } from '../reported.js';

export const compareCommand: CommandRegistration = (cli, { out, state }) =>
  cli.command(
    'compare <a> [b]',
    'Run two models (or one model on two providers) on the same inputs and compare outputs, detections and latency',
    (y) =>
      runtimeOptions(
        y
          .positional('a', { type: 'string', demandOption: true, describe: 'Reference model (the original)' })
          .positional('b', { type: 'string', describe: 'Model to check (the patched one); omit with --ep-pair' }),
      )
        .option('ep-pair', { type: 'string', describe: 'One model on two providers, e.g. cuda,cpu (the second is the reference)' })
        .option('runtime-pair', { type: 'string', describe: 'a on the first runtime (the reference), b (or a again) on the second: onnxruntime,opencv' })
        .options(ACCURACY_OPTIONS)
        .option('max-map-drop', {
          type: 'number',
          describe: 'With --dataset: fail (exit 1) when b loses more than this fraction of mAP@0.5:0.95 (0.01 = one point)',
        })
        .option('tolerance', { type: 'string', array: true, describe: 'exact, fp32, tf32, fp16, atol=..,rtol=.., or per output NAME:spec' })
        .option('detections', { choices: ['auto', 'off'] as const, default: 'auto' as const, describe: 'Decode detector outputs and match boxes by IoU' })
        .option('conf', { type: 'number', default: 0.25, describe: 'Detection score threshold (ultralytics predict 0.25, val 0.001)' })
        .option('iou', { type: 'number', default: 0.45, describe: 'NMS IoU threshold' })
        .option('precision', {
          type: 'string',
          describe: "Time pairs past --iters until the overhead's 95% interval is this narrow (half-width, % of a's median), e.g. 2%",
        })
        .option('budget', { type: 'string', describe: 'Stop timing after this long, e.g. 60s, 2m (60s with --precision unless given)' }),
    async (args) => {
      const { compare } = await import('../../compare.js');
      const { formatCompare } = await import('../format/compare.js');
      const label = `compare ${args.a} ${args.b ?? ''}`.trim();
      const runtime = await toRuntime(args);
      const result = await reported(
        args,
        label,
        (onProgress) =>
          compare(args.a, args.b ?? null, {
            ...runtime,
            ...(args['ep-pair'] ? { epPair: args['ep-pair'] } : {}),
            ...(args['runtime-pair'] !== undefined ? { runtimePair: args['runtime-pair'] } : {}),
            ...toAccuracy(args),
            ...(args.tolerance ? { tolerance: args.tolerance } : {}),
            detections: args.detections,
            conf: args.conf,
            iou: args.iou,
            ...(args.precision !== undefined ? { precision: args.precision } : {}),
            ...(args.budget !== undefined ? { budget: args.budget } : {}),
            onProgress,
          }),
        (result) => ({ kind: 'compare', result }),
        formatCompare,
        out,
      );
      state.exitCode = verdictExitCode(result);
    },
  );
