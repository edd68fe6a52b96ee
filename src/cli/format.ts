import type { Dim } from '../graph/graph.js';
import type { InspectResult } from '../inspect.js';

export function shapeText(shape: Dim[] | null): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Left-aligned columns, two spaces apart; the last column is never padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The human form of `inspect`: model facts, the layer table, then the head inputs. */
export function formatInspect(r: InspectResult): string {
  const out: string[] = [];
  const opsets = Object.entries(r.opsets)
    .map(([d, v]) => `${d} ${v}`)
    .join(', ');
  out.push(`model     ${r.path ?? '(memory)'}`);
  out.push(`family    ${r.family}   opset ${opsets}   IR ${r.irVersion}   ${r.nodeCount} nodes   ${r.initializerCount} initializers${r.externalData ? '   external data' : ''}`);
  if (r.producer) out.push(`producer  ${r.producer}`);
  for (const i of r.inputs) out.push(`input     ${i.name}  ${i.dtype}  ${shapeText(i.shape)}`);
  for (const o of r.outputs) out.push(`output    ${o.name}  ${o.dtype}  ${shapeText(o.shape)}`);
  if (r.metadataKeys.length) out.push(`metadata  ${r.metadataKeys.join(', ')}`);
  out.push('');
  if (r.layers.length === 0) {
    out.push('No module scopes in this model: use node:NAME, tensor:NAME or head as insertion points.');
  } else {
    const rows = r.layers.map((l) => [
      l.index !== null ? String(l.index) : l.scope,
      l.type,
      l.from.join(',') || '-',
      l.boundary.length === 1 ? l.boundary[0]! : l.boundary.length === 0 ? '(none)' : `${l.boundary[0]} (+${l.boundary.length - 1} more)`,
      shapeText(l.shape),
      (l.isHead ? 'HEAD ' : '') + (l.consumers.join(',') || '-'),
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
  if (r.shapeSource === 'probe') out.push('\n(some shapes were measured by one onnxruntime run: static inference could not reach them)');
  return out.join('\n');
}
