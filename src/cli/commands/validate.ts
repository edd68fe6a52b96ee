import { UsageError, verdictExitCode } from '../../errors.js';
import type { CommandRegistration } from '../context.js';
import { ACCURACY_OPTIONS, runtimeOptions, toAccuracy, toRuntime } from '../flags.js';
import { reported } from '../reported.js';

export const validateCommand: CommandRegistration = (cli, { out, state }) =>
  cli.command(
    'validate <model>',
    'Run a model on the requested execution provider: finiteness, shapes, latency, placement',
    (y) =>
      runtimeOptions(y.positional('model', { type: 'string', demandOption: true, describe: 'ONNX model' }))
        .option('detections', {
          choices: ['auto', 'off'] as const,
          default: 'auto' as const,
          describe: 'Decode detector outputs and count the boxes of each input set',
        })
        .option('conf', { type: 'number', default: 0.25, describe: 'Detection score threshold (ultralytics predict 0.25, val 0.001)' })
        .option('iou', { type: 'number', default: 0.45, describe: 'NMS IoU threshold' })
        // Declared so that it gets a pointer to compare rather than "Unknown argument".
        .options(ACCURACY_OPTIONS)
        .option('min-map', { type: 'number', describe: 'With --dataset: fail (exit 1) when mAP@0.5:0.95 is below this fraction' })
        .option('runtime', {
          choices: ['onnxruntime', 'opencv'] as const,
          describe: 'Run in onnxruntime (default) or OpenCV.js (its DNN module, in a worker thread)',
        })
        .option('tolerance', { type: 'string', array: true, hidden: true }),
    async (args) => {
      if (args.tolerance) throw new UsageError('--tolerance applies to compare (validate runs one model); use onnx-attn compare');
      const { validate } = await import('../../validate.js');
      const { formatValidate } = await import('../format/validate.js');
      const runtime = await toRuntime(args);
      const result = await reported(
        args,
        `validate ${args.model}`,
        (onProgress) =>
          validate(args.model, {
            ...runtime,
            ...(args.runtime ? { runtime: args.runtime } : {}),
            ...toAccuracy(args),
            detections: args.detections,
            conf: args.conf,
            iou: args.iou,
            onProgress,
          }),
        (result) => ({ kind: 'validate', result }),
        formatValidate,
        out,
      );
      state.exitCode = verdictExitCode(result);
    },
  );
