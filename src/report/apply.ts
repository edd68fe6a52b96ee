import * as path from 'node:path';
import type { ApplyEntryResult, ApplyReportWriter, ApplyResult } from '../plan/result.js';
import { compareSections, page, table as htmlTable, validateSections } from './html.js';
import { compareSuite, junitXml, validateSuite, type JUnitCase, type JUnitSuite } from './junit.js';
import { compareMarkdown, validateMarkdown } from './markdown.js';
import { count, ms, num } from './format.js';
import { checkApplyReports, checkReportPaths, writeText } from './index.js';
import { esc } from './svg.js';

/**
 * Reports of `apply`: every entry in one file. JSON is the result itself; JUnit has one testsuite per entry and
 * one testcase per check; Markdown is one summary table then a section per entry (fit for a CI step summary);
 * HTML is self-contained, one <section> per entry with the validate and compare pages' sections inside.
 */

/** What `apply` is given to check and write its reports (the public index and the CLI pass it). */
export const applyReportWriter: ApplyReportWriter = {
  checkPaths: (files) => checkReportPaths(files),
  checkAgainstPlan: (plan, files) => checkApplyReports(plan, files),
  write: (file, result) => writeText(file, renderApplyReport(result, path.extname(file).toLowerCase())),
};

export function renderApplyReport(r: ApplyResult, ext: string): string {
  switch (ext) {
    case '.json':
      return JSON.stringify(r, null, 2) + '\n';
    case '.md':
      return applyMarkdown(r);
    case '.html':
      return applyHtml(r);
    default:
      return applyJunit(r);
  }
}

const status = (e: ApplyEntryResult) => (e.written ? 'written' : e.upToDate ? 'unchanged' : 'not written');
const where = (i: { module: string; point: string }) => `${i.module} after ${i.point}`;
const params = (e: ApplyEntryResult) => e.insertions.reduce((n, i) => n + i.params, 0);

function validateCell(e: ApplyEntryResult): [boolean | null, string] {
  if (!e.planned.validate) return [null, 'skipped'];
  const v = e.validate;
  if (!v) return [false, e.problems.find((p) => p.startsWith('validate:'))?.slice(10) ?? 'not run'];
  return [v.pass, `${v.ep.used.join(',')}${v.ep.fallbackReason ? ' (fallback)' : ''}, p50 ${ms(v.latencyMs.p50)}`];
}

function compareCell(e: ApplyEntryResult): [boolean | null, string] {
  if (!e.planned.compare) return [null, 'skipped'];
  const c = e.compare;
  if (!c) return [false, e.problems.find((p) => p.startsWith('compare:'))?.slice(9) ?? 'not run'];
  const worst = c.outputs.reduce((m, o) => Math.max(m, o.maxAbs), 0);
  const fellBack = c.a.ep.fallbackReason || c.b.ep.fallbackReason;
  return [
    c.pass,
    `${[...new Set(c.outputs.map((o) => o.tolerance.name))].join(', ')}, max abs ${num(worst)}${fellBack ? ` (${c.b.ep.used.join(',')}, fallback)` : ''}`,
  ];
}

// ---------------------------------------------------------------- Markdown

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const mdRow = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
const mdTable = (header: string[], rows: string[][]) => [mdRow(header), mdRow(header.map(() => '---')), ...rows.map(mdRow)].join('\n');
const mark = (pass: boolean | null) => (pass === null ? '➖' : pass ? '✅' : '❌');

/** Pushes a validate/compare page's headings two levels down, under the entry's `###`. */
const demote = (md: string) => md.replace(/^(#{2,4}) /gm, (_, h: string) => `${h}## `);

export function applyMarkdown(r: ApplyResult): string {
  const lines = [
    `## onnx-attn apply: ${r.pass ? '✅ **pass**' : '❌ **fail**'}`,
    '',
    `- plan: \`${r.plan}\` (sha256 ${r.planSha256.slice(0, 12)}), ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'}, ${r.tool}`,
    `- exit status: ${r.exitCode}`,
    '',
    mdTable(
      ['entry', 'output', 'insertions', 'params', 'validate', 'compare', 'result'],
      r.entries.map((e) => {
        const [vp, vt] = validateCell(e);
        const [cp, ct] = compareCell(e);
        return [
          e.name,
          `\`${e.output}\` (${status(e)})`,
          e.insertions.map(where).join(', '),
          count(params(e)),
          `${mark(vp)} ${vt}`,
          `${mark(cp)} ${ct}`,
          mark(e.pass),
        ];
      }),
    ),
  ];
  for (const e of r.entries) {
    lines.push('', `### ${mark(e.pass)} ${e.name}`, '');
    lines.push(
      `- \`${e.input}\` → \`${e.output}\`${e.dataFile ? ` + \`${e.dataFile}\`` : ''} (${status(e)}, ${e.bytes} bytes, sha256 \`${e.sha256.slice(0, 16)}\`)`,
    );
    if (e.check.run)
      lines.push(
        `- check run: ${e.check.run.identical ? 'outputs bit-identical to the original' : `outputs differ from the original by up to ${num(e.check.run.maxAbsDiff)}`}`,
      );
    lines.push(
      '',
      mdTable(
        ['k', 'module', 'variant', 'point', 'tensor', 'params', 'MACs', 'gate'],
        e.insertions.map((i) => [String(i.k), i.module, i.variant, i.point, `\`${i.tensor}\``, count(i.params), count(i.macs), i.gate]),
      ),
    );
    if (e.problems.length > 0) lines.push('', ...e.problems.map((p) => `- **problem**: ${p}`));
    if (e.validate) lines.push('', demote(validateMarkdown(e.validate)).trimEnd());
    if (e.compare) lines.push('', demote(compareMarkdown(e.compare)).trimEnd());
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- JUnit

export function applySuites(r: ApplyResult): JUnitSuite[] {
  return r.entries.map((e) => {
    const cls = `onnx-attn.apply.${e.name}`;
    const cases: JUnitCase[] = e.insertions.map((i) => ({
      name: `insertion ${i.k}: ${where(i)} is built`,
      classname: cls,
      failure: null,
      output: `${i.tensor} [${i.shape?.map((d) => d ?? '?').join(',') ?? '?'}] ${i.module}(${i.variant}) params ${i.params} MACs ${i.macs ?? '-'} nodes ${i.nodes.length}`,
    }));
    cases.push({ name: 'patched model structure is valid', classname: cls, failure: e.check.structure.length > 0 ? e.check.structure.join('; ') : null });
    if (e.check.run) {
      const run = e.check.run;
      const gateFailure = e.problems.find((p) => p.startsWith('gate zero'));
      cases.push({
        name: 'patched model runs like the original (CPU)',
        classname: cls,
        failure: run.problems.length > 0 ? run.problems.join('; ') : (gateFailure ?? null),
        output: run.identical ? 'outputs bit-identical' : `max abs difference ${run.maxAbsDiff}`,
      });
    }
    if (r.mode === 'check') cases.push({ name: 'output is up to date', classname: cls, failure: e.upToDate ? null : e.problems.join('; ') || 'stale' });
    const nested = (what: 'validate' | 'compare', suite: JUnitSuite | null) => {
      if (suite) for (const c of suite.cases) cases.push({ ...c, name: `${what}: ${c.name}`, classname: `${cls}.${what}` });
      else cases.push({ name: what, classname: `${cls}.${what}`, failure: e.problems.find((p) => p.startsWith(`${what}:`)) ?? 'not run' });
    };
    if (e.planned.validate && r.mode === 'apply' && e.check.run) nested('validate', e.validate ? validateSuite(e.validate) : null);
    if (e.planned.compare && r.mode === 'apply' && e.check.run) nested('compare', e.compare ? compareSuite(e.compare) : null);
    const time = (e.validate ? (validateSuite(e.validate).timeSec ?? 0) : 0) + (e.compare ? (compareSuite(e.compare).timeSec ?? 0) : 0);
    return { name: e.name, cases, timeSec: time };
  });
}

export function applyJunit(r: ApplyResult): string {
  return junitXml(applySuites(r));
}

// ---------------------------------------------------------------- HTML

const CSS = `
section.entry{border-top:2px solid #ccc;margin-top:28px;padding-top:4px}
section.entry h2{border:none;font-size:19px} h3{font-size:16px;margin:20px 0 6px} h4{font-size:15px;margin:16px 0 6px} h5{font-size:14px;margin:12px 0 4px}
`;

/** A validate/compare page's sections under an entry's h3: h2 → h4, h3 → h5. */
const demoteHtml = (parts: string[]) => parts.map((p) => p.replace(/<(\/?)h([23])>/g, (_, slash: string, n: string) => `<${slash}h${Number(n) + 2}>`));

const badge = (pass: boolean | null) =>
  pass === null ? '<span class="meta">skipped</span>' : pass ? '<span class="ok">pass</span>' : '<span class="bad">fail</span>';

export function applyHtml(r: ApplyResult): string {
  const id = (e: ApplyEntryResult) => `entry-${e.name.replace(/[^\w-]/g, '_')}`;
  const body = [
    `<p class="meta">plan: <code>${esc(r.plan)}</code> (sha256 ${r.planSha256.slice(0, 12)}) · ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'} · exit status ${r.exitCode} · ${esc(r.tool)}</p>`,
    '<h2>Summary</h2>',
    htmlTable(
      ['entry', 'output', 'insertions', 'params', 'validate', 'compare', 'result'],
      r.entries.map((e) => {
        const [vp, vt] = validateCell(e);
        const [cp, ct] = compareCell(e);
        return [
          `<a href="#${id(e)}">${esc(e.name)}</a>`,
          `<code>${esc(e.output)}</code> (${status(e)})`,
          esc(e.insertions.map(where).join(', ')),
          count(params(e)),
          `${badge(vp)} ${esc(vt)}`,
          `${badge(cp)} ${esc(ct)}`,
          badge(e.pass),
        ];
      }),
      [3],
    ),
  ];
  for (const e of r.entries) {
    const parts = [
      `<section class="entry" id="${id(e)}" data-entry="${esc(e.name)}" data-verdict="${e.pass ? 'pass' : 'fail'}">`,
      `<h2>${esc(e.name)} ${badge(e.pass)}</h2>`,
      `<p class="meta"><code>${esc(e.input)}</code> → <code>${esc(e.output)}</code>${e.dataFile ? ` + <code>${esc(e.dataFile)}</code>` : ''} · ${status(e)} · ${e.bytes} bytes · sha256 <code>${e.sha256.slice(0, 16)}</code></p>`,
      '<h3>Insertions</h3>',
      htmlTable(
        ['k', 'module', 'variant', 'point', 'tensor', 'params', 'MACs', 'gate', 'rewired'],
        e.insertions.map((i) => [
          String(i.k),
          esc(i.module),
          esc(i.variant),
          esc(i.point),
          `<code>${esc(i.tensor)}</code>`,
          count(i.params),
          count(i.macs),
          i.gate,
          esc(i.rewired.join(', ')),
        ]),
        [5, 6],
      ),
    ];
    if (e.check.run)
      parts.push(
        `<p class="meta">check run (CPU): ${e.check.run.identical ? 'outputs bit-identical to the original' : `outputs differ from the original by up to ${num(e.check.run.maxAbsDiff)}`}</p>`,
      );
    if (e.problems.length > 0) parts.push('<h3>Problems</h3>', `<ul class="problems">${e.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`);
    if (e.validate) parts.push(`<h3>Validate ${badge(e.validate.pass)}</h3>`, ...demoteHtml(validateSections(e.validate)));
    if (e.compare) parts.push(`<h3>Compare ${badge(e.compare.pass)}</h3>`, ...demoteHtml(compareSections(e.compare)));
    parts.push('</section>');
    body.push(parts.join('\n'));
  }
  return page('onnx-attn apply', r.pass, body, CSS);
}
