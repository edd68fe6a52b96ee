import { LocateError } from '../errors.js';
import type { ModelStructure } from './structure.js';

/**
 * `backbone`, `neck` and `all-layers` (sweep only): every layer of that part of the model, each as its own SPEC.
 * The parts follow the upstream model configs: the backbone is layers 0–9 of YOLOv5, YOLOv8 and RT-DETR-l and 0–10
 * of YOLO11 (C2PSA closes it); the neck runs from there to the layer before the head. In the official RT-DETR the
 * backbone is `/model/backbone`'s `res_layers.N` and the neck is the encoder's blocks.
 */
export const PARTS = ['backbone', 'neck', 'all-layers'] as const;
export type Part = (typeof PARTS)[number];

export function isPart(spec: string): spec is Part {
  return (PARTS as readonly string[]).includes(spec);
}

const BACKBONE_END: Partial<Record<string, number>> = { yolov5: 9, yolov8: 9, rtdetr: 9, yolo11: 10 };

export function partSpecs(s: ModelStructure, part: Part): string[] {
  if (s.family === 'rtdetr-official') {
    const backbone = s.layers.filter((l) => /^model\/backbone\/res_layers\.\d+$/.test(l.scope)).map((l) => l.scope);
    const neck = s.layers.filter((l) => /^model\/encoder\/[^/]+$/.test(l.scope) && !l.isHead).map((l) => l.scope);
    return part === 'backbone' ? backbone : part === 'neck' ? neck : [...backbone, ...neck];
  }
  const end = BACKBONE_END[s.family];
  if (end === undefined) {
    throw new LocateError(
      `'${part}' needs a recognised YOLOv5, YOLOv8, YOLO11 or RT-DETR model; this one is '${s.family}': list the points instead (layer indexes, scopes, node:, tensor:, head)`,
    );
  }
  const body = s.layers.filter((l) => l.index !== null && !l.isHead).map((l) => l.index!);
  const pick = part === 'backbone' ? body.filter((i) => i <= end) : part === 'neck' ? body.filter((i) => i > end) : body;
  return pick.sort((a, b) => a - b).map(String);
}
