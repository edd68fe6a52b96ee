/**
 * The layer lists of the stock YOLOv5 and ultralytics YAML configs, and how their indexes shift when a module is
 * added after a layer: what `onnx-attn torch --layer N --family` tells the user to edit.
 */

export interface LayerShift {
  /** The layer's index before and after the insertion. */
  from: number;
  to: number;
  type: string;
  /** Its `from` field before and after (absolute indexes at or past the insertion point move by one). */
  inputs: (number | number[])[];
  newInputs: (number | number[])[];
}

/** `from` fields of the stock configs: models/yolov5s.yaml (v7.0) and ultralytics cfg/models/v8/yolov8.yaml. */
export const CONFIGS: Record<'yolov5' | 'ultralytics', { file: string; layers: [string, number | number[]][] }> = {
  yolov5: {
    file: 'models/yolov5s.yaml',
    layers: [
      ['Conv', -1],
      ['Conv', -1],
      ['C3', -1],
      ['Conv', -1],
      ['C3', -1],
      ['Conv', -1],
      ['C3', -1],
      ['Conv', -1],
      ['C3', -1],
      ['SPPF', -1],
      ['Conv', -1],
      ['nn.Upsample', -1],
      ['Concat', [-1, 6]],
      ['C3', -1],
      ['Conv', -1],
      ['nn.Upsample', -1],
      ['Concat', [-1, 4]],
      ['C3', -1],
      ['Conv', -1],
      ['Concat', [-1, 14]],
      ['C3', -1],
      ['Conv', -1],
      ['Concat', [-1, 10]],
      ['C3', -1],
      ['Detect', [17, 20, 23]],
    ],
  },
  ultralytics: {
    file: 'ultralytics/cfg/models/v8/yolov8.yaml',
    layers: [
      ['Conv', -1],
      ['Conv', -1],
      ['C2f', -1],
      ['Conv', -1],
      ['C2f', -1],
      ['Conv', -1],
      ['C2f', -1],
      ['Conv', -1],
      ['C2f', -1],
      ['SPPF', -1],
      ['nn.Upsample', -1],
      ['Concat', [-1, 6]],
      ['C2f', -1],
      ['nn.Upsample', -1],
      ['Concat', [-1, 4]],
      ['C2f', -1],
      ['Conv', -1],
      ['Concat', [-1, 12]],
      ['C2f', -1],
      ['Conv', -1],
      ['Concat', [-1, 9]],
      ['C2f', -1],
      ['Detect', [15, 18, 21]],
    ],
  },
};

/** Layers after `layer` move down one; absolute inputs at or past `layer` follow (consumers of `layer` now read the module). */
export function layerShifts(family: 'yolov5' | 'ultralytics', layer: number): LayerShift[] {
  const { layers } = CONFIGS[family];
  const shift = (f: number) => (f >= layer ? f + 1 : f);
  const out: LayerShift[] = [];
  layers.forEach(([type, from], i) => {
    if (i <= layer) return;
    const inputs = Array.isArray(from) ? from : [from];
    const newInputs = inputs.map((f) => (f < 0 ? f : shift(f)));
    out.push({ from: i, to: i + 1, type, inputs: [from], newInputs: [Array.isArray(from) ? newInputs : newInputs[0]!] });
  });
  return out;
}
