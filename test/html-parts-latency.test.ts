import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { fixture, runMain, tmpDir } from './helpers.js';

/**
 * The per-part metrics and the latency intervals as people see them: the compare and sweep HTML reports in
 * Debian's chromium (as html-report.test.ts). Set ONNX_ATTN_SCREENSHOTS=DIR to keep the screenshots.
 */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

test('compare and sweep HTML in chromium: part rows, the error chart per part, overhead intervals, no overflow', async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`);
  const dir = tmpDir();
  const v8 = fixture('yolov8-op17.onnx');
  const patched = path.join(dir, 'v8-nam.onnx');
  assert.equal((await runMain(['insert', v8, '--after', 'head', '--module', 'NAM', '-o', patched, '--quiet'])).code, 0);
  const compareHtml = path.join(dir, 'compare.html');
  assert.equal((await runMain(['compare', v8, patched, '--report', compareHtml, '--iters', '10', '--warmup', '0', '--quiet'])).code, 1);
  const sweepHtml = path.join(dir, 'sweep.html');
  const s = await runMain([
    'sweep',
    fixture('yolov5-op12.onnx'),
    '--modules',
    'NAM,SimAM',
    '--after',
    '23,head',
    '--report',
    sweepHtml,
    '--iters',
    '6',
    '--warmup',
    '0',
    '--quiet',
  ]);
  assert.equal(s.code, 0, s.stderr);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const shots = process.env['ONNX_ATTN_SCREENSHOTS'] ?? dir;
  fs.mkdirSync(shots, { recursive: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    await page.goto(`file://${compareHtml}`);
    // Under output0 [1, 84, 336]: its box rows and its score rows, each with its own max abs, rel L2 and cosine.
    const rows = await page.$$eval('table:first-of-type tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    );
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['output0', '↳ boxes', '↳ scores'],
    );
    for (const r of rows.slice(1)) assert.match(r[4], /^\d/, `rel L2 of ${r[0]}`);
    assert.notEqual(rows[1]![4], rows[2]![4], 'boxes and scores move by different amounts');
    const visible = await page.$$eval('[data-part]', (els) => els.map((e) => e.getBoundingClientRect().width > 0));
    assert.deepEqual(visible, [true, true]);
    const labels = await page.$$eval('svg[data-chart="error"] text.label', (ts) => ts.map((t) => t.textContent));
    assert.deepEqual(labels, ['output0', 'output0 · boxes', 'output0 · scores']);
    assert.match(
      (await page.textContent('[data-overhead]')) ?? '',
      /^overhead \(b − a\): (within noise \()?[+-]\d+\.\d{3} ms.*95% interval [+-][\d.]+\.\.[+-][\d.]+%.*; median of 10 paired runs$/,
    );
    assert.equal(await page.$eval('html', (el) => el.scrollWidth - el.clientWidth), 0, 'no horizontal scrolling at 1024 px');
    await page.screenshot({ path: path.join(shots, 'compare-parts.png'), fullPage: true });

    await page.goto(`file://${sweepHtml}`);
    const header = await page.$$eval('table[data-table="ranking"] th', (ths) => ths.map((t) => t.textContent));
    assert.deepEqual(header.slice(7, 13), ['overhead ms', 'overhead % (95% interval)', 'cosine', 'rel L2', 'scores rel L2', 'boxes rel L2']);
    const overheadCells = await page.$$eval('table[data-table="ranking"] td:nth-child(9)', (tds) => tds.map((t) => t.textContent ?? ''));
    assert.equal(overheadCells.length, 4);
    // Six pairs: each overhead either within noise or a signed % with its interval.
    for (const c of overheadCells) assert.match(c, /^(within noise|[+-]\d+\.\d%) \([+-][\d.]+\.\.[+-][\d.]+%\)$/);
    assert.equal(await page.$$eval('svg[data-chart="tradeoff"] line[data-interval]', (ls) => ls.length), 4, 'an interval bar per candidate');
    const chart = await page.$eval('svg[data-chart="tradeoff"]', (svg) => svg.getBoundingClientRect().width);
    assert.ok(chart > 300, `chart ${chart} px wide`);
    assert.equal(await page.$eval('html', (el) => el.scrollWidth - el.clientWidth), 0, 'the wide ranking table scrolls in its own box, not the page');
    await page.screenshot({ path: path.join(shots, 'sweep-intervals.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});
