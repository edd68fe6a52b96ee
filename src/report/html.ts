import type { CompareResult } from '../compare.js';
import type { ValidateResult } from '../validate.js';
import {
  count,
  DETECTION_AGREEMENT_HEADER,
  detectionAgreementRow,
  detectionSummary,
  ms,
  num,
  overheadText,
  partLabel,
  pct,
  shape,
  timingText,
} from './format.js';
import { accuracyHtml, compareAccuracyHtml } from './accuracy.js';
import { errorChart, esc, latencyChart, siteDiagram } from './svg.js';

/**
 * A self-contained HTML page (inline CSS and SVG, no script, no network): verdict, tables, charts of the latency
 * distributions and the per-output error, and a drawing of each insertion site before and after.
 */

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:980px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:600;color:#fff}
.pass{background:#2e7d32} .fail{background:#c62828}
table{border-collapse:collapse;margin:6px 0;font-size:13px} th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#2e7d32;font-weight:600} .bad{color:#c62828;font-weight:600}
.meta{color:#555;margin:2px 0} code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
svg{max-width:100%;height:auto} svg .label{font-size:13px;fill:#222} svg .tick{font-size:11px;fill:#555} svg .node{font-size:12px;fill:#222}
ul.problems li{color:#c62828} .part{padding-left:14px;color:#555}
`;

export function table(header: string[], rows: string[][], numeric: number[] = []): string {
  const head = `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`).join('');
  return `<table>${head}${body}</table>`;
}

export function page(title: string, pass: boolean, body: string[], extraCss = ''): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}${extraCss}</style></head>
<body><h1>${esc(title)} <span class="verdict ${pass ? 'pass' : 'fail'}" data-verdict="${pass ? 'pass' : 'fail'}">${pass ? 'PASS' : 'FAIL'}</span></h1>
${body.join('\n')}
</body></html>
`;
}

const epText = (e: { requested: string[]; used: string[]; fallbackReason: string | null; runtime?: string; opencv?: string | null }) =>
  `${e.runtime ? `${esc(e.runtime === 'opencv' ? `OpenCV.js ${e.opencv ?? ''}`.trim() : e.runtime)} ` : ''}${esc(e.used.join(', '))}${e.fallbackReason ? ` <span class="bad">(fallback from ${esc(e.requested.join(', '))}: ${esc(e.fallbackReason)})</span>` : ''}`;

function insertionsSection(r: { insertions: Record<string, unknown>[] }, inserted: CompareResult['b']['inserted']): string[] {
  const out: string[] = [];
  if (r.insertions.length > 0) {
    out.push('<h2>Insertions</h2>');
    out.push(
      table(
        ['k', 'module', 'variant', 'point', 'tensor', 'params', 'MACs', 'init', 'gate'],
        r.insertions.map((p) =>
          [
            String(p['k'] ?? ''),
            String(p['module'] ?? ''),
            String(p['variant'] ?? ''),
            String(p['point'] ?? ''),
            String(p['tensor'] ?? ''),
            count(p['params'] as number),
            count(p['macs'] as number | null),
            String(p['init'] ?? ''),
            String(p['gate'] ?? ''),
          ].map((s) => esc(s)),
        ),
        [5, 6],
      ),
    );
  }
  for (const m of inserted) out.push(`<h3>Site ${m.k}: ${esc(m.module)} on <code>${esc(m.input)}</code></h3>`, siteDiagram(m));
  return out;
}

function problems(list: string[]): string[] {
  return list.length === 0 ? [] : ['<h2>Problems</h2>', `<ul class="problems">${list.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`];
}

export function compareHtml(r: CompareResult): string {
  return page('onnx-attn compare', r.pass, compareSections(r));
}

/** The compare page's body: metadata, outputs, detections, latency, insertions, problems (h2 sections). */
export function compareSections(r: CompareResult): string[] {
  const body = [
    `<p class="meta">a (reference): <code>${esc(r.a.path)}</code> on ${epText(r.a.ep)}</p>`,
    `<p class="meta">b: <code>${esc(r.b.path)}</code> on ${epText(r.b.ep)}</p>`,
    `<p class="meta">inputs: ${esc(r.inputs.source)}, ${r.inputs.sets} set(s) · added ${count(r.added.params)} parameters, ${count(r.added.macs)} MACs, ${r.added.nodes} nodes · ${esc(r.tool)}</p>`,
    '<h2>Outputs</h2>',
    table(
      ['output', 'shape', 'max abs', 'mean abs', 'rel L2', 'cosine', 'tolerance', 'within', ''],
      // A known detector's parts (boxes, objectness, scores) as indented rows under their output.
      r.outputs.flatMap((o) => [
        [
          esc(o.name),
          shape(o.shape),
          num(o.maxAbs),
          num(o.meanAbs),
          num(o.relL2),
          num(o.cosine, 6),
          esc(`${o.tolerance.name} (atol ${o.tolerance.atol}, rtol ${o.tolerance.rtol})`),
          pct(o.withinPct, 2),
          o.pass ? '<span class="ok">pass</span>' : '<span class="bad">fail</span>',
        ],
        ...(o.parts ?? []).map((p) => [
          `<span class="part" data-part="${esc(p.part)}">↳ ${esc(p.part)}</span>`,
          '',
          num(p.maxAbs),
          '',
          num(p.relL2),
          num(p.cosine, 6),
          '',
          '',
          '',
        ]),
      ]),
      [2, 3, 4, 5, 7],
    ),
    errorChart(
      r.outputs.flatMap((o) => [
        { name: o.name, maxAbs: o.maxAbs, relL2: o.relL2, atol: o.tolerance.atol },
        ...(o.parts ?? []).map((p) => ({ name: partLabel(o.name, p.part), maxAbs: p.maxAbs, relL2: p.relL2, atol: o.tolerance.atol })),
      ]),
    ),
  ];
  if (r.detections) {
    const d = r.detections;
    body.push('<h2>Detections</h2>', table(DETECTION_AGREEMENT_HEADER, [detectionAgreementRow(d)], [1, 2, 3, 4, 5, 6, 7, 8]));
  }
  if (r.a.accuracy && r.b.accuracy) body.push(...compareAccuracyHtml(r.a.accuracy, r.b.accuracy, r.mapDrop, r.mapGate, table));
  body.push(
    '<h2>Latency</h2>',
    `<p class="meta" data-overhead="${r.latencyMs.overhead.withinNoise ? 'within-noise' : 'measured'}">overhead (b − a): ${esc(overheadText(r.latencyMs.overhead))}; ${esc(timingText(r.latencyMs.overhead))}</p>`,
    table(
      ['model', 'p50', 'p90', 'p99', 'mean', 'runs'],
      [
        ['a', ms(r.latencyMs.a.p50), ms(r.latencyMs.a.p90), ms(r.latencyMs.a.p99), ms(r.latencyMs.a.mean), String(r.latencyMs.a.n)],
        ['b', ms(r.latencyMs.b.p50), ms(r.latencyMs.b.p90), ms(r.latencyMs.b.p99), ms(r.latencyMs.b.mean), String(r.latencyMs.b.n)],
      ],
      [1, 2, 3, 4, 5],
    ),
    latencyChart([
      { label: `a ${r.a.ep.used[0] ?? ''}`, samples: r.latencySamplesMs.a },
      { label: `b ${r.b.ep.used[0] ?? ''}`, samples: r.latencySamplesMs.b },
    ]),
  );
  body.push(...insertionsSection(r, r.b.inserted), ...problems(r.problems));
  return body;
}

export function validateHtml(r: ValidateResult): string {
  return page('onnx-attn validate', r.pass, validateSections(r));
}

/** The validate page's body: metadata, outputs, detections, latency, placement, insertions, problems (h2 sections). */
export function validateSections(r: ValidateResult): string[] {
  const body = [
    `<p class="meta">model: <code>${esc(r.model)}</code> (${esc(r.family)}) on ${epText(r.ep)} · ${esc(r.tool)}</p>`,
    `<p class="meta">inputs: ${esc(r.inputs.source)}: ${r.inputs.tensors.map((t) => `${esc(t.name)} ${t.dtype} ${shape(t.shape)}`).join(', ')}</p>`,
    '<h2>Outputs</h2>',
    table(
      ['output', 'dtype', 'shape', 'finite', 'min', 'max'],
      r.outputs.map((o) => [
        esc(o.name),
        o.dtype,
        shape(o.shape),
        o.finite ? '<span class="ok">yes</span>' : `<span class="bad">no (${o.nonFinite})</span>`,
        num(o.min),
        num(o.max),
      ]),
      [4, 5],
    ),
  ];
  if (r.detections) {
    const d = r.detections;
    body.push('<h2>Detections</h2>', `<p class="meta" data-detections="${d.perInput.reduce((n, c) => n + c, 0)}">${esc(detectionSummary(d))}</p>`);
    if (d.perInput.length > 1)
      body.push(
        table(
          ['input set', 'boxes'],
          d.perInput.map((n, i) => [String(i + 1), String(n)]),
          [0, 1],
        ),
      );
  }
  if (r.accuracy) body.push(...accuracyHtml(r.accuracy, r.mapGate, table));
  body.push(
    '<h2>Latency</h2>',
    table(
      ['p50', 'p90', 'p99', 'mean', 'runs'],
      [[ms(r.latencyMs.p50), ms(r.latencyMs.p90), ms(r.latencyMs.p99), ms(r.latencyMs.mean), String(r.latencyMs.n)]],
      [0, 1, 2, 3, 4],
    ),
    latencyChart([{ label: r.ep.used[0] ?? 'cpu', samples: r.latencySamplesMs }]),
  );
  if (r.placement) {
    body.push(
      '<h2>Placement</h2>',
      table(
        ['provider', 'nodes', 'nodes %', 'time %'],
        r.placement.providers.map((p) => [esc(p.ep), String(p.nodes), pct(p.nodesPct), pct(p.timePct)]),
        [1, 2, 3],
      ),
    );
  }
  body.push(...insertionsSection(r, r.inserted), ...problems(r.problems));
  return body;
}
