/**
 * Names from scopes: which YOLO family an ultralytics/YOLOv5 export is (from its head's and body's module paths),
 * and each layer's module type (C3, C2f, SPPF, Detect, ...) from the scopes and ops inside it.
 */
import type { Node } from '../graph/graph.js';
import type { Family, Layer } from './model-structure.js';
import type { Scope } from './scope.js';

export function detectYoloFamily(layers: Layer[], scopes: Map<Node, Scope | null>, headIndex: number): Family {
  const head = layers.find((l) => l.index === headIndex);
  if (!head) return 'unknown';
  const headPaths = head.nodes.map((n) => scopes.get(n)?.path ?? '');
  if (head.nodes.some((n) => n.opType === 'GridSample') || headPaths.some((p) => /\.decoder(\.|$)/.test(p))) return 'rtdetr';
  if (headPaths.some((p) => /\.dfl(\.|$)/.test(p) || /\.cv2\.\d+/.test(p))) {
    // YOLO11: Detect's class branch starts with a DWConv Sequential (cv3.i.0.0), and C2PSA/C3k appear in the body.
    const nested = headPaths.some((p) => /\.cv3\.\d+\.\d+\.\d+/.test(p));
    const yolo11Body = layers.some((l) => l.nodes.some((n) => /\.(attn|m\.\d+\.m\.\d+)(\.|$)/.test(scopes.get(n)?.path ?? '')));
    return nested || yolo11Body ? 'yolo11' : 'yolov8';
  }
  if (headPaths.some((p) => /^model\.\d+\.m\.\d+$/.test(p))) return 'yolov5';
  return 'unknown';
}

/** Names the module type of a layer from the scopes and ops inside it. */
export function moduleType(layer: Layer, scopes: Map<Node, Scope | null>, family: Family): string {
  const rel = new Set(
    layer.nodes.map((n) => {
      const p = scopes.get(n)?.path ?? '';
      return p === layer.path ? '' : p.slice(layer.path.length + 1);
    }),
  );
  const has = (re: RegExp) => [...rel].some((p) => re.test(p));
  const ops = new Set(layer.nodes.map((n) => n.opType));
  if (layer.isHead) return family === 'rtdetr' || family === 'rtdetr-official' ? 'RTDETRDecoder' : 'Detect';
  if (family === 'rtdetr-official') {
    const last = layer.path.split('.').slice(-2).join('.');
    if (layer.path === 'postprocessor') return 'RTDETRPostProcessor';
    if (/res_layers/.test(last)) return 'Blocks';
    if (/fpn_blocks|pan_blocks/.test(last)) return 'CSPRepLayer';
    if (/^encoder\.\d+$/.test(last)) return 'TransformerEncoder';
  }
  if (has(/^stem\d/)) return 'HGStem';
  if (has(/^ec(\.|$)/) && has(/^sc(\.|$)/)) return 'HGBlock';
  if (has(/^attn(\.|$)/) || has(/\.attn(\.|$)/)) return 'C2PSA';
  if (ops.has('MatMul') && ops.has('Softmax')) return 'AIFI';
  if (has(/^cv3(\.|$)/) && has(/^m\.\d+/)) return 'C3';
  if (has(/^m(_\d+)?$/) && ops.has('MaxPool')) return 'SPPF';
  if (has(/^m\.\d+\.m\.\d+/) || (family === 'yolo11' && has(/^m\.\d+/) && ops.has('Split'))) return 'C3k2';
  if (has(/^cv1(\.|$)/) && has(/^m\.\d+/) && (ops.has('Split') || ops.has('Slice'))) return 'C2f';
  if (has(/^cv1(\.|$)/) && has(/^m\.\d+/) && ops.has('Add')) return 'RepC3';
  if (layer.nodes.length === 1 || ops.size === 1) {
    const op = layer.nodes.find((n) => n.opType !== 'Constant')?.opType ?? 'Constant';
    if (op === 'Resize' || op === 'Upsample') return 'Upsample';
    if (op === 'Concat') return 'Concat';
    if (op === 'Conv') {
      const c = layer.nodes.find((n) => n.opType === 'Conv')!;
      return c.attrInt('group', 1) > 1 ? 'DWConv' : 'Conv';
    }
    return `op:${op}`;
  }
  if (ops.has('Resize') && [...ops].every((o) => o === 'Resize' || o === 'Constant')) return 'Upsample';
  if (ops.has('Conv') && [...ops].every((o) => ['Conv', 'Sigmoid', 'Mul', 'Relu'].includes(o))) {
    const c = layer.nodes.find((n) => n.opType === 'Conv')!;
    return c.attrInt('group', 1) > 1 ? 'DWConv' : 'Conv';
  }
  return 'Module';
}
