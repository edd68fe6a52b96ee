import type { CompareResult } from '../compare.js';
import type { ValidateResult } from '../validate.js';
import type { SweepResult } from '../sweep.js';
import type { ModuleDescription } from '../modules/index.js';
import type { Dim } from '../graph/graph.js';
import type { InspectResult } from '../inspect.js';
import type { Insertion, InsertResult } from '../insert.js';
import type { DoctorReport } from '../doctor.js';
import { escapeControl } from './escape.js';
import { overheadInterval, overheadText, timingText } from '../report/format.js';
import { accuracyText, compareAccuracyText, sweepAccuracyText } from '../report/accuracy-text.js';

export function shapeText(shape: Dim[] | null): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Left-aligned columns, two spaces apart; the last column is never padded. */
export function table(header: string[], rowsAsGiven: string[][]): string {
  // Escaped before measuring, so a name with control characters keeps its column aligned.
  const rows = rowsAsGiven.map((r) => r.map(escapeControl));
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

function count(n: number | null): string {
  if (n === null) return 'dynamic';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** One row per insertion: what `insert`, `insert --dry-run` and `apply --dry-run` show. */
function insertionTable(insertions: readonly Insertion[]): string {
  const rows = insertions.map((i) => [
    String(i.k),
    i.point,
    i.tensor,
    shapeText(i.shape),
    `${i.module}(${i.variant})${i.gate === 'zero' ? ' gate=0' : ''}`,
    count(i.params),
    count(i.macs),
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
  lines.push(`total: ${r.insertions.length} insertion(s), ${count(params)} parameters, ${count(macs)} MACs added`);
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

export function formatDoctor(r: DoctorReport): string {
  const lines = [`onnxruntime-node ${r.onnxruntimeNode}  (${r.platform}, node ${r.node})`, `libraries in ${r.binaryDir}`, ''];
  lines.push(
    table(
      ['provider', 'listed', 'bundled', 'loadable', 'why not'],
      r.providers.map((p) => [p.name, p.listed ? 'yes' : 'no', p.bundled ? 'yes' : 'no', p.loadable ? 'yes' : 'no', p.reason ?? '']),
    ),
  );
  if (r.installScript.skippedBy) lines.push('', `CUDA download skipped by ${r.installScript.skippedBy}`);
  if (r.problems.length > 0) {
    lines.push('', 'To fix:');
    for (const p of r.problems) lines.push(`- ${p.what}`, `  fix: ${p.fix}`);
  }
  return lines.join('\n');
}

/** `modules`: one block per module, its options, and op counts measured by building it. */
export function formatModules(modules: ModuleDescription[]): string {
  const blocks = modules.map((m) => {
    const lines = [`${m.name}: ${m.title}`, `  reference: ${m.reference}`, `  params: ${m.paramsFormula}`];
    for (const o of m.options) {
      const values = o.choices ? o.choices.join('|') : o.kind;
      lines.push(`  --opt ${o.key}=${values} (default ${o.default}): ${o.describe}`);
    }
    if (m.options.length === 0) lines.push('  no options');
    const rows = m.examples.map((e) => [
      e.context,
      e.variant,
      count(e.params),
      count(e.macs),
      String(e.opCount),
      Object.entries(e.ops)
        .map(([k, v]) => (v > 1 ? `${k}×${v}` : k))
        .join(' '),
    ]);
    lines.push(
      table(['example', 'variant', 'params', 'MACs', 'ops', 'op types'], rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    return lines.join('\n');
  });
  return blocks.join('\n\n');
}

const fmt = (x: number | null) => (x === null ? '-' : x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5 ? x.toExponential(2) : x.toPrecision(4));
const epLine = (e: { requested: string[]; used: string[]; fallbackReason: string | null; runtime?: string; opencv?: string | null }) =>
  `${e.runtime ? `${e.runtime === 'opencv' ? `OpenCV.js ${e.opencv ?? ''}`.trim() : e.runtime} ` : ''}${e.used.join(', ')}${e.fallbackReason ? ` (fallback from ${e.requested.join(', ')}: ${e.fallbackReason})` : ''}`;

export function formatValidate(r: ValidateResult): string {
  const lines = [`${r.pass ? 'PASS' : 'FAIL'}  ${r.model} (${r.family}) on ${epLine(r.ep)}`, ''];
  lines.push(
    table(
      ['output', 'dtype', 'shape', 'finite', 'min', 'max'],
      r.outputs.map((o) => [o.name, o.dtype, `[${o.shape}]`, o.finite ? 'yes' : `NO (${o.nonFinite})`, fmt(o.min), fmt(o.max)]),
    ),
  );
  const l = r.latencyMs;
  lines.push('', `latency: p50 ${l.p50.toFixed(3)} ms, p90 ${l.p90.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, mean ${l.mean.toFixed(3)} ms over ${l.n} runs`);
  if (r.detections) {
    const d = r.detections;
    const counts = d.perInput.length === 1 ? `${d.perInput[0]} box(es)` : `${d.perInput.join(', ')} box(es) in ${d.perInput.length} input sets`;
    lines.push(`detections (${d.format}, conf ${d.conf}, iou ${d.iou}, ${d.images} image(s)): ${counts}`);
  }
  if (r.accuracy) lines.push(...accuracyText(r.accuracy, r.mapGate));
  if (r.placement) lines.push(`placement: ${r.placement.providers.map((p) => `${p.ep} ${p.nodes} nodes (${p.nodesPct}%), ${p.timePct}% of time`).join('; ')}`);
  if (r.placementCheck)
    lines.push(
      r.placementCheck.pass
        ? `every checked node ran on ${r.placementCheck.required}`
        : `${r.placementCheck.offProvider.length} node(s) ran off ${r.placementCheck.required}: ${r.placementCheck.offProvider.map((n) => `${n.node} (${n.ep})`).join(', ')}`,
    );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}

export function formatCompare(r: CompareResult): string {
  const lines = [`${r.pass ? 'PASS' : 'FAIL'}  a=${r.a.path} on ${epLine(r.a.ep)}  b=${r.b.path} on ${epLine(r.b.ep)}`, ''];
  lines.push(
    table(
      ['output', 'shape', 'max abs', 'mean abs', 'rel L2', 'cosine', 'tolerance', 'within', ''],
      // Each part of a known detector's output on its own line under the output (boxes, objectness, scores).
      r.outputs.flatMap((o) => [
        [o.name, `[${o.shape}]`, fmt(o.maxAbs), fmt(o.meanAbs), fmt(o.relL2), o.cosine.toFixed(6), o.tolerance.name, `${o.withinPct}%`, o.pass ? 'ok' : 'FAIL'],
        ...(o.parts ?? []).map((p) => [`  ${p.part}`, '', fmt(p.maxAbs), '', fmt(p.relL2), p.cosine.toFixed(6), '', '', '']),
      ]),
    ),
  );
  if (r.detections) {
    const d = r.detections;
    lines.push(
      '',
      `detections (${d.format}, ${d.images} image(s)): ${d.matchedPct}% of ${d.refCount} matched, class agreement ${d.classAgreement === null ? '-' : `${(100 * d.classAgreement).toFixed(1)}%`}, mean IoU ${fmt(d.meanIoU)}, missing ${d.missing}, extra ${d.extra}`,
    );
  }
  if (r.a.accuracy && r.b.accuracy) lines.push(...compareAccuracyText(r.a.accuracy, r.b.accuracy, r.mapDrop, r.mapGate));
  lines.push(
    `latency p50: a ${r.latencyMs.a.p50.toFixed(3)} ms, b ${r.latencyMs.b.p50.toFixed(3)} ms; overhead ${overheadText(r.latencyMs.overhead)}, ${timingText(r.latencyMs.overhead)}`,
    `added: ${count(r.added.params)} parameters, ${count(r.added.macs)} MACs, ${r.added.nodes} nodes`,
  );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}

/** `20 pairs each`, or `12..340 pairs` when a precision target or budget made them differ. */
function pairsText(r: SweepResult): string {
  const pairs = r.rows.filter((x) => x.sameAs === null).map((x) => x.latencyMs.overhead.pairs);
  const lo = pairs.length > 0 ? Math.min(...pairs) : 0,
    hi = pairs.length > 0 ? Math.max(...pairs) : 0;
  const timed = r.rows.filter((x) => x.sameAs === null);
  const target =
    r.timing.precisionPct !== null
      ? `, precision ±${r.timing.precisionPct}% reached by ${timed.filter((x) => x.latencyMs.overhead.precisionReached).length} of ${timed.length}`
      : '';
  const budget = r.timing.budgetS !== null ? `, budget ${r.timing.budgetS} s` : '';
  return `${lo === hi ? `${lo} pairs each` : `${lo}..${hi} pairs`}${target}${budget}`;
}

export function formatSweep(r: SweepResult): string {
  const signed = (x: number, d: number) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
  const lines = [
    `sweep ${r.model} (${r.family}) on ${r.ep.used.join(', ')}${r.ep.fallbackReason ? ` (fallback: ${r.ep.fallbackReason})` : ''}: ${r.rows.length} candidate(s), ranked by ${r.rankBy}`,
    '',
    table(
      ['#', 'module', 'point', 'params', 'MACs', 'p50 ms', 'overhead (95% interval)', 'cosine', 'rel L2', 'scores rel L2', 'boxes kept', 'on EP'],
      r.rows.map((x) => [
        String(x.rank),
        `${x.module}(${x.variant})`,
        x.point,
        count(x.params),
        count(x.macs),
        x.latencyMs.p50.toFixed(3),
        // An overhead whose interval holds 0 is not a number to rank by: it says so instead.
        x.latencyMs.overhead.withinNoise
          ? `within noise (${overheadInterval(x.latencyMs.overhead)})`
          : `${signed(x.overheadMs, 3)} ms (${signed(x.overheadPct, 1)}%, ${overheadInterval(x.latencyMs.overhead)})`,
        x.cosine.toFixed(6),
        fmt(x.relL2),
        fmt(x.scoreChange),
        x.detections ? `${x.detections.matchedPct.toFixed(1)}%` : '-',
        x.onRequestedEp === null ? '?' : x.onRequestedEp ? 'yes' : 'NO',
      ]),
    ),
    '',
    `latency: each candidate timed alternately with the original (its p50 drifted ${r.baseline.driftPct}% over the sweep); overhead = median of the paired differences (${pairsText(r)}) with its 95% interval, "within noise" when that holds 0`,
  ];
  lines.push(...sweepAccuracyText(r));
  for (const s of r.skipped) lines.push(`skipped: ${s.module} at ${s.point}: ${s.reason}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- apply

import type { ApplyEntryResult, ApplyResult } from '../apply.js';

/** One entry of `apply`: its verdict and output, then (dry run) the insertions it would make, or its checks. */
export function formatApplyEntry(e: ApplyEntryResult, mode: ApplyResult['mode']): string {
  const lines: string[] = [];
  const params = e.insertions.reduce((a, i) => a + i.params, 0);
  const what = `${e.insertions.length} insertion(s), ${count(params)} parameters`;
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
      const parts = (o.parts ?? []).map((p) => `${p.part} rel L2 ${fmt(p.relL2)}`).join(', ');
      lines.push(
        `      ${o.name}: max abs ${fmt(o.maxAbs)}, cosine ${o.cosine.toFixed(6)}, ${o.withinPct}% within ${o.tolerance.name}${parts ? ` (${parts})` : ''}${o.pass ? '' : '  FAIL'}`,
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

/** The whole human form of an `apply` result: every entry, then the summary. */
export function formatApply(r: ApplyResult): string {
  return [...r.entries.map((e) => formatApplyEntry(e, r.mode)), formatApplySummary(r)].join('\n');
}
