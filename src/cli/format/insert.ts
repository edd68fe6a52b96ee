import type { Insertion, InsertResult } from '../../insert.js';
import { countText, shapeText, table } from './text.js';

/** One row per insertion: what `insert`, `insert --dry-run` and `apply --dry-run` show. */
export function insertionTable(insertions: readonly Insertion[]): string {
  const rows = insertions.map((i) => [
    String(i.k),
    i.point,
    i.tensor,
    shapeText(i.shape),
    `${i.module}(${i.variant})${i.gate === 'zero' ? ' gate=0' : ''}`,
    countText(i.params),
    countText(i.macs),
    Object.values(i.ops)
      .reduce((a, b) => a + b, 0)
      .toString(),
    i.rewired.join(', ') || '-',
  ]);
  return table(['k', 'point', 'tensor', 'shape', 'module', 'params', 'MACs', 'ops', 'rewired consumers'], rows);
}

/** `insert` and `insert --dry-run`: one row per insertion point, then what was written and checked. */
export function formatInsert(r: InsertResult): string {
  const lines: string[] = [];
  lines.push(insertionTable(r.insertions));
  const params = r.insertions.reduce((a, i) => a + i.params, 0);
  const macs = r.insertions.some((i) => i.macs === null) ? null : r.insertions.reduce((a, i) => a + (i.macs ?? 0), 0);
  lines.push(`total: ${r.insertions.length} insertion(s), ${countText(params)} parameters, ${countText(macs)} MACs added`);
  // Weights cut out of a checkpoint: say which module of it each point took.
  const picked = r.insertions.filter((i) => i.weightsPrefix !== undefined);
  if (picked.length > 0) lines.push(`weights: ${picked.map((i) => `${i.point} <- ${i.weights} ${i.weightsPrefix || '(the whole state_dict)'}`).join(', ')}`);
  if (r.dryRun) {
    lines.push(`dry run: nothing written (would write ${r.output})`);
    return lines.join('\n');
  }
  if (r.check?.run) {
    const run = r.check.run;
    lines.push(
      `checked: structure ok; onnxruntime CPU run ok (${run.outputs.map((o) => `${o.name} ${o.dtype} [${o.shape}]`).join(', ')}); ` +
        (run.identical ? 'outputs bit-identical to the original' : `outputs differ from the original by up to ${run.maxAbsDiff.toPrecision(3)}`),
    );
  } else if (r.check) lines.push('checked: structure ok (run skipped: --no-check)');
  lines.push(`wrote ${r.output}`);
  return lines.join('\n');
}
