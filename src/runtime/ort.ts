/**
 * The one door to onnxruntime-node. It is imported lazily, so `--help`, `inspect` of a static model and
 * `convert` never load the native binding (it costs start-up time and prints nothing useful).
 */
export type Ort = typeof import('onnxruntime-node');

let cached: Promise<Ort> | null = null;

export function loadOrt(): Promise<Ort> {
  cached ??= import('onnxruntime-node');
  return cached;
}
