import type { ApplyEntryResult, ApplyResult } from '../../apply.js';
import { insertionTable } from './insert.js';
import { countText, statText } from './text.js';

/** One entry of `apply`: its verdict and output, then (dry run) the insertions it would make, or its checks. */
export function formatApplyEntry(e: ApplyEntryResult, mode: ApplyResult['mode']): string {
  const lines: string[] = [];
  const params = e.insertions.reduce((a, i) => a + i.params, 0);
  const what = `${e.insertions.length} insertion(s), ${countText(params)} parameters`;
  if (mode === 'check') {
    lines.push(e.upToDate ? `up to date  ${e.name}  ${e.output}` : `STALE       ${e.name}  ${e.problems[e.problems.length - 1] ?? `${e.output} differs`}`);
    return lines.join('\n');
  }
  if (mode === 'dry-run') {
    lines.push(`${e.name}: ${e.input} -> ${e.output} (${e.upToDate ? 'up to date' : 'would write'}; ${what})`);
    lines.push(
      insertionTable(e.insertions)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    const then = [e.planned.validate ? 'validate' : '', e.planned.compare ? `compare (${e.planned.tolerance?.join(', ')})` : ''].filter(Boolean);
    lines.push(`  then: ${then.length ? then.join(', ') : 'nothing (validate and compare are off)'}`);
    return lines.join('\n');
  }
  const step = (name: string, planned: boolean, r: { pass: boolean } | null) =>
    !planned ? `${name} skipped` : r ? `${name} ${r.pass ? 'pass' : 'FAIL'}` : `${name} not run`;
  const state = e.written ? 'written' : e.upToDate ? 'unchanged' : 'not written';
  lines.push(
    `${e.pass ? 'PASS' : 'FAIL'}  ${e.name}  ${e.output} ${state} (${what})  ${step('validate', e.planned.validate, e.validate)}  ${step('compare', e.planned.compare, e.compare)}`,
  );
  if (e.compare) {
    for (const o of e.compare.outputs) {
      const parts = (o.parts ?? []).map((p) => `${p.part} rel L2 ${statText(p.relL2)}`).join(', ');
      lines.push(
        `      ${o.name}: max abs ${statText(o.maxAbs)}, cosine ${o.cosine.toFixed(6)}, ${o.withinPct}% within ${o.tolerance.name}${parts ? ` (${parts})` : ''}${o.pass ? '' : '  FAIL'}`,
      );
    }
  }
  for (const p of e.problems) lines.push(`      problem: ${p}`);
  return lines.join('\n');
}

/** The last lines of `apply`: the verdict, and what was written or would be. */
export function formatApplySummary(r: ApplyResult): string {
  const n = r.entries.length;
  if (r.mode === 'check') {
    return r.stale.length === 0 ? `all ${n} output(s) up to date with ${r.plan}` : `${r.stale.length} of ${n} output(s) stale: ${r.stale.join(', ')}`;
  }
  if (r.mode === 'dry-run') return `dry run: nothing written (${n} entr${n === 1 ? 'y' : 'ies'}, ${r.entries.filter((e) => !e.upToDate).length} would change)`;
  const failed = r.entries.filter((e) => !e.pass).map((e) => e.name);
  const lines = [
    failed.length === 0
      ? `PASS  ${n} entr${n === 1 ? 'y' : 'ies'}: ${r.entries.filter((e) => e.written).length} written, ${r.entries.filter((e) => !e.written && e.upToDate).length} unchanged`
      : `FAIL  ${failed.length} of ${n} entr${n === 1 ? 'y' : 'ies'} failed: ${failed.join(', ')} (exit ${r.exitCode})`,
  ];
  if (r.reports.length > 0) lines.push(`reports: ${r.reports.join(', ')}`);
  return lines.join('\n');
}
