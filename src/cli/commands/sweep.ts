import type { CommandRegistration } from '../context.js';
import { optsFrom } from '../../insert/options.js';
import { ACCURACY_OPTIONS, runtimeOptions, toAccuracy, toRuntime } from '../flags.js';
import { reported } from '../reported.js';

export const sweepCommand: CommandRegistration = (cli, { out }) =>
  cli.command(
    'sweep <model>',
    'Try every module at every point (each alone) and rank them by cost and output change',
    (y) =>
      runtimeOptions(y.positional('model', { type: 'string', demandOption: true, describe: 'ONNX model' }))
        .option('modules', { type: 'string', array: true, demandOption: true, describe: 'Modules to try: NAM,GAM,SimAM,SE,CBAM,ECA,CA' })
        .option('after', { type: 'string', array: true, demandOption: true, describe: 'Points: SPECs as in insert, or backbone, neck, all-layers' })
        .option('opt', { type: 'string', array: true, describe: 'Module option key=value for every candidate (as in insert)' })
        .option('init', { choices: ['torch', 'random'] as const, default: 'torch' as const, describe: 'Weights of the inserted modules' })
        .option('combine', { type: 'boolean', default: false, describe: 'One row per module with all the points at once' })
        .option('rank-by', {
          choices: ['score-change', 'overhead', 'params', 'macs', 'change', 'cosine', 'detections', 'map-drop'] as const,
          default: 'score-change' as const,
          describe:
            "Ranking, best first: score-change = the scores part's relative L2 (whole outputs for unknown models); overhead counts an overhead within noise as 0; map-drop (with --dataset) = mAP@0.5:0.95 lost",
        })
        .options(ACCURACY_OPTIONS)
        .option('detections', { choices: ['auto', 'off'] as const, default: 'auto' as const, describe: 'Decode detector outputs and match boxes by IoU' })
        .option('conf', { type: 'number', default: 0.25, describe: 'Detection score threshold' })
        .option('iou', { type: 'number', default: 0.45, describe: 'NMS IoU threshold' })
        .option('precision', {
          type: 'string',
          describe: "Time each candidate past --iters until its overhead's 95% interval is this narrow (half-width, % of the original's median), e.g. 2%",
        })
        .option('budget', { type: 'string', describe: "The whole sweep's timing budget, e.g. 60s, 5m (60s with --precision unless given)" }),
    async (args) => {
      const { sweep } = await import('../../sweep.js');
      const { formatSweep } = await import('../format/sweep.js');
      const { SWEEP_FORMATS } = await import('../../report/index.js');
      const runtime = await toRuntime(args);
      await reported(
        args,
        `sweep ${args.model}`,
        (onCandidate) =>
          sweep(args.model, {
            ...runtime,
            modules: args.modules,
            after: args.after,
            opts: optsFrom(args.opt ?? []),
            init: args.init,
            combine: args.combine,
            rankBy: args['rank-by'],
            ...toAccuracy(args),
            detections: args.detections,
            conf: args.conf,
            iou: args.iou,
            ...(args.precision !== undefined ? { precision: args.precision } : {}),
            ...(args.budget !== undefined ? { budget: args.budget } : {}),
            onCandidate,
          }),
        (result) => ({ kind: 'sweep', result }),
        formatSweep,
        out,
        { formats: SWEEP_FORMATS, unit: 'candidates', alwaysPrint: true },
      );
    },
  );
