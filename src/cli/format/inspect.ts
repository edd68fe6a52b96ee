import type { InspectResult } from '../../inspect.js';
import { shapeText, table } from './text.js';

/** The human form of `inspect`: model facts, the layer table, then the head inputs. */
export function formatInspect(r: InspectResult): string {
  const out: string[] = [];
  const opsets = Object.entries(r.opsets)
    .map(([d, v]) => `${d} ${v}`)
    .join(', ');
  out.push(`model     ${r.path ?? '(memory)'}`);
  out.push(
    `family    ${r.family}   opset ${opsets}   IR ${r.irVersion}   ${r.nodeCount} nodes   ${r.initializerCount} initializers${r.externalData ? '   external data' : ''}`,
  );
  if (r.producer) out.push(`producer  ${r.producer}`);
  for (const i of r.inputs) out.push(`input     ${i.name}  ${i.dtype}  ${shapeText(i.shape)}`);
  for (const o of r.outputs) out.push(`output    ${o.name}  ${o.dtype}  ${shapeText(o.shape)}`);
  if (r.metadataKeys.length) out.push(`metadata  ${r.metadataKeys.join(', ')}`);
  if (r.orderProblem) out.push(`INVALID   ${r.orderProblem}: nothing can be inserted`);
  out.push('');
  if (r.layers.length === 0) {
    out.push('No module scopes in this model: use node:NAME, tensor:NAME or head as insertion points.');
  } else {
    // Numbered layers read best by index in the table (`5,16`); JSON keeps the scopes.
    const indexOf = new Map(r.layers.filter((l) => l.index !== null).map((l) => [l.scope, String(l.index)]));
    const rows = r.layers.map((l) => [
      l.index !== null ? String(l.index) : l.scope,
      l.type,
      l.from.join(',') || '-',
      l.boundary.length === 1 ? l.boundary[0]! : l.boundary.length === 0 ? '(none)' : `${l.boundary[0]} (+${l.boundary.length - 1} more)`,
      shapeText(l.shape),
      (l.isHead ? 'HEAD ' : '') + (l.consumers.map((c) => indexOf.get(c) ?? c).join(',') || '-'),
    ]);
    const first = r.layers[0]!.index !== null ? 'idx' : 'scope';
    out.push(table([first, 'type', 'from', 'boundary tensor', 'shape', 'consumed by'], rows));
  }
  out.push('');
  if (r.head.length === 0) {
    out.push('head      not found');
  } else {
    out.push(`head      ${r.headScope ?? '(found by structure)'}: ${r.head.length} input(s), finest level first`);
    out.push(
      table(
        ['point', 'tensor', 'shape', 'from'],
        r.head.map((h, i) => [`head:${i}`, h.tensor, shapeText(h.shape), h.fromScope]),
      ),
    );
  }
  if (r.sites) {
    out.push('');
    out.push(
      table(
        ['spec', 'point', 'tensor', 'shape', 'rewired consumers'],
        r.sites.map((x) => [x.spec, x.point, x.tensor + (x.isGraphOutput ? ' (graph output)' : ''), shapeText(x.shape), x.consumers.join(', ') || '-']),
      ),
    );
  }
  if (r.shapeSource === 'probe') out.push('\n(some shapes were measured by one onnxruntime run: static inference could not reach them)');
  return out.join('\n');
}
