import { loadModel } from './onnx/load.js';
import { saveModel, type SaveOptions, type SaveResult } from './onnx/save.js';

export type ConvertOptions = SaveOptions;

/**
 * Re-saves a model, inline or with external data. With no option it reproduces the input byte for byte
 * (inline stays inline; external data keeps its layout when the output has the input's file name).
 */
export async function convert(input: string, output: string, options: ConvertOptions = {}): Promise<SaveResult> {
  return saveModel(await loadModel(input), output, options);
}
