import type { CompareResult } from '../compare.js';
import type { ValidateResult } from '../validate.js';
import { accuracyMarkdown, compareAccuracyMarkdown } from './accuracy.js';
import { count, DETECTION_AGREEMENT_HEADER, detectionAgreementRow, detectionSummary, ms, num, overheadText, pct, shape, timingText } from './format.js';

/** Markdown for a CI step summary or a pull-request comment: verdict first, then the tables. */

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const row = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
function table(header: string[], rows: string[][]): string {
  return [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n');
}
const verdict = (pass: boolean) => (pass ? '✅ **pass**' : '❌ **fail**');
const epLine = (e: { requested: string[]; used: string[]; fallbackReason: string | null; runtime?: string; opencv?: string | null }) =>
  `${e.runtime ? `runtime ${e.runtime === 'opencv' ? `OpenCV.js ${e.opencv ?? ''}`.trim() : e.runtime}, ` : ''}requested ${e.requested.join(', ')}, used ${e.used.join(', ')}${e.fallbackReason ? ` (**fallback**: ${e.fallbackReason})` : ''}`;

function insertions(list: Record<string, unknown>[]): string[] {
  if (list.length === 0) return [];
  return [
    '',
    '### Insertions',
    '',
    table(
      ['k', 'module', 'variant', 'point', 'tensor', 'params', 'MACs', 'init', 'gate'],
      list.map((p) => [
        String(p['k'] ?? ''),
        String(p['module'] ?? ''),
        String(p['variant'] ?? ''),
        String(p['point'] ?? ''),
        String(p['tensor'] ?? ''),
        count(p['params'] as number),
        count(p['macs'] as number | null),
        String(p['init'] ?? ''),
        String(p['gate'] ?? ''),
      ]),
    ),
  ];
}

export function validateMarkdown(r: ValidateResult): string {
  const lines = [
    `## onnx-attn validate: ${verdict(r.pass)}`,
    '',
    `- model: \`${r.model}\` (${r.family})`,
    `- execution provider: ${epLine(r.ep)}`,
    `- inputs: ${r.inputs.source}, ${r.inputs.sets} set(s): ${r.inputs.tensors.map((t) => `${t.name} ${t.dtype} ${shape(t.shape)}`).join(', ')}`,
    `- latency: p50 ${ms(r.latencyMs.p50)}, p90 ${ms(r.latencyMs.p90)}, p99 ${ms(r.latencyMs.p99)}, mean ${ms(r.latencyMs.mean)} (${r.latencyMs.n} runs)`,
    '',
    '### Outputs',
    '',
    table(
      ['output', 'dtype', 'shape', 'finite', 'min', 'max'],
      r.outputs.map((o) => [o.name, o.dtype, shape(o.shape), o.finite ? 'yes' : `**no** (${o.nonFinite})`, num(o.min), num(o.max)]),
    ),
  ];
  if (r.detections) {
    const d = r.detections;
    lines.push('', '### Detections', '', detectionSummary(d));
    if (d.perInput.length > 1)
      lines.push(
        '',
        table(
          ['input set', 'boxes'],
          d.perInput.map((n, i) => [String(i + 1), String(n)]),
        ),
      );
  }
  if (r.accuracy) lines.push(...accuracyMarkdown(r.accuracy, r.mapGate));
  if (r.placement) {
    lines.push(
      '',
      '### Placement',
      '',
      table(
        ['provider', 'nodes', 'nodes %', 'time %'],
        r.placement.providers.map((p) => [p.ep, String(p.nodes), pct(p.nodesPct), pct(p.timePct)]),
      ),
    );
    if (r.placementCheck)
      lines.push(
        '',
        r.placementCheck.pass
          ? `All ${r.placementCheck.checked} checked nodes ran on ${r.placementCheck.required}.`
          : `**${r.placementCheck.offProvider.length} node(s) ran off ${r.placementCheck.required}**: ${r.placementCheck.offProvider.map((n) => `\`${n.node}\` (${n.ep})`).join(', ')}`,
      );
  }
  lines.push(...insertions(r.insertions));
  if (r.problems.length > 0) lines.push('', '### Problems', '', ...r.problems.map((p) => `- ${p}`));
  return lines.join('\n') + '\n';
}

export function compareMarkdown(r: CompareResult): string {
  const lines = [
    `## onnx-attn compare: ${verdict(r.pass)}`,
    '',
    `- a (reference): \`${r.a.path}\` on ${epLine(r.a.ep)}`,
    `- b: \`${r.b.path}\` on ${epLine(r.b.ep)}`,
    `- inputs: ${r.inputs.source}, ${r.inputs.sets} set(s)`,
    `- added: ${count(r.added.params)} parameters, ${count(r.added.macs)} MACs, ${r.added.nodes} nodes (from ${r.added.source})`,
    `- latency p50: a ${ms(r.latencyMs.a.p50)}, b ${ms(r.latencyMs.b.p50)}; overhead ${overheadText(r.latencyMs.overhead)}, ${timingText(r.latencyMs.overhead)}`,
    '',
    '### Outputs',
    '',
    table(
      ['output', 'shape', 'max abs', 'mean abs', 'rel L2', 'cosine', 'tolerance', 'within', 'pass'],
      // A known detector's parts (boxes, objectness, scores) as rows under their output.
      r.outputs.flatMap((o) => [
        [
          o.name,
          shape(o.shape),
          num(o.maxAbs),
          num(o.meanAbs),
          num(o.relL2),
          num(o.cosine, 6),
          `${o.tolerance.name} (atol ${o.tolerance.atol}, rtol ${o.tolerance.rtol})`,
          pct(o.withinPct, 2),
          o.pass ? '✅' : '❌',
        ],
        ...(o.parts ?? []).map((p) => [`↳ ${p.part}`, '', num(p.maxAbs), '', num(p.relL2), num(p.cosine, 6), '', '', '']),
      ]),
    ),
  ];
  if (r.detections) {
    const d = r.detections;
    lines.push('', '### Detections', '', table(DETECTION_AGREEMENT_HEADER, [detectionAgreementRow(d)]));
  }
  if (r.a.accuracy && r.b.accuracy) lines.push(...compareAccuracyMarkdown(r.a.accuracy, r.b.accuracy, r.mapDrop, r.mapGate));
  lines.push(
    '',
    '### Latency',
    '',
    table(
      ['model', 'p50', 'p90', 'p99', 'mean', 'runs'],
      [
        ['a', ms(r.latencyMs.a.p50), ms(r.latencyMs.a.p90), ms(r.latencyMs.a.p99), ms(r.latencyMs.a.mean), String(r.latencyMs.a.n)],
        ['b', ms(r.latencyMs.b.p50), ms(r.latencyMs.b.p90), ms(r.latencyMs.b.p99), ms(r.latencyMs.b.mean), String(r.latencyMs.b.n)],
      ],
    ),
  );
  lines.push(...insertions(r.insertions));
  if (r.problems.length > 0) lines.push('', '### Problems', '', ...r.problems.map((p) => `- ${p}`));
  return lines.join('\n') + '\n';
}
