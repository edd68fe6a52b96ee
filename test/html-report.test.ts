import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { fixture, runMain, tmpDir } from './helpers.js';

/**
 * The HTML report is a page people look at, so it is checked in a real browser (Debian's chromium, which .ci/run
 * installs): it renders offline, every chart has a size, nothing overflows the page, and the verdict shows.
 * Set ONNX_ATTN_SCREENSHOTS=DIR to keep the screenshots.
 */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

test('the compare HTML report renders in chromium: verdict, tables, charts, site drawings', async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`);
  const dir = tmpDir();
  const v5 = fixture('yolov5-op12.onnx');
  const patched = path.join(dir, 'v5-nam.onnx');
  assert.equal((await runMain(['insert', v5, '--after', '17,23', '--module', 'NAM', '-o', patched, '--quiet'])).code, 0);
  const html = path.join(dir, 'report.html');
  const r = await runMain(['compare', v5, patched, '--report', html, '--iters', '10', '--conf', '0.00005', '--quiet']);
  assert.equal(r.code, 1);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    const requests: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith('file:')) requests.push(req.url());
    });
    await page.goto(`file://${html}`);
    assert.deepEqual(requests, [], 'the report loads nothing from the network');
    assert.equal(await page.textContent('[data-verdict]'), 'FAIL');
    assert.equal(await page.getAttribute('[data-verdict]', 'data-verdict'), 'fail');
    const sizes = await page.$$eval('svg[data-chart]', (svgs) =>
      svgs.map((s) => ({ chart: s.getAttribute('data-chart'), w: s.getBoundingClientRect().width, h: s.getBoundingClientRect().height })),
    );
    assert.deepEqual(
      sizes.map((s) => s.chart),
      ['error', 'latency', 'site', 'site'],
    );
    for (const s of sizes) assert.ok(s.w > 300 && s.h > 50, `${s.chart} chart is ${s.w}x${s.h}`);
    const overflow = await page.$eval('html', (el) => el.scrollWidth - el.clientWidth);
    assert.equal(overflow, 0, 'no horizontal scrolling at 1024 px');
    const headers = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent));
    assert.deepEqual(headers, ['Outputs', 'Detections', 'Latency', 'Insertions', 'Problems']);
    const cells = await page.$$eval('table:first-of-type tr:nth-child(2) td', (tds) => tds.map((t) => t.textContent));
    assert.equal(cells[0], 'output0');
    assert.equal(cells[8], 'fail');
    const shots = process.env['ONNX_ATTN_SCREENSHOTS'] ?? dir;
    fs.mkdirSync(shots, { recursive: true });
    const png = await page.screenshot({ path: path.join(shots, 'compare-report.png'), fullPage: true });
    assert.ok(png.length > 20_000, `screenshot of ${png.length} bytes`);
  } finally {
    await browser.close();
  }
});

test('the validate HTML report renders in chromium: the detection counts show, per input set', async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`);
  const dir = tmpDir();
  const imgs = path.join(dir, 'images');
  fs.mkdirSync(imgs);
  for (const [i, f] of ['a.png', 'b.png'].entries()) {
    await sharp({
      create: { width: 160, height: 120, channels: 3, background: { r: 60 * i, g: 100, b: 180 }, noise: { type: 'gaussian', mean: 110 + 30 * i, sigma: 40 } },
    })
      .png()
      .toFile(path.join(imgs, f));
  }
  const html = path.join(dir, 'validate.html');
  const json = path.join(dir, 'validate.json');
  const r = await runMain([
    'validate',
    fixture('yolov5-op12.onnx'),
    '--inputs',
    imgs,
    '--conf',
    '0.00005',
    '--iters',
    '3',
    '--report',
    html,
    '--report',
    json,
    '--quiet',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const perInput: number[] = JSON.parse(fs.readFileSync(json, 'utf8')).detections.perInput;
  assert.equal(perInput.length, 2);
  const total = perInput[0]! + perInput[1]!;
  assert.ok(total > 0, 'boxes at conf 5e-5');

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    await page.goto(`file://${html}`);
    assert.equal(await page.textContent('[data-verdict]'), 'PASS');
    assert.deepEqual(await page.$$eval('h2', (hs) => hs.map((h) => h.textContent)), ['Outputs', 'Detections', 'Latency']);
    const summary = page.locator('[data-detections]');
    assert.ok(await summary.isVisible(), 'the detections line is visible');
    assert.equal(await summary.textContent(), `detections (yolov5, conf 0.00005, iou 0.45): ${total} boxes in 2 images over 2 input sets`);
    const box = await summary.boundingBox();
    assert.ok(box && box.width > 200 && box.height > 10, JSON.stringify(box));
    // The per-set table follows the line: one row per input set, in the folder's order.
    const rows = await page.$$eval('xpath=//h2[.="Detections"]/following-sibling::table[1]//tr', (trs) =>
      trs.map((tr) => [...tr.children].map((c) => c.textContent)),
    );
    assert.deepEqual(rows, [
      ['input set', 'boxes'],
      ['1', String(perInput[0])],
      ['2', String(perInput[1])],
    ]);
    assert.equal(await page.$eval('html', (el) => el.scrollWidth - el.clientWidth), 0, 'no horizontal scrolling at 1024 px');
    const shots = process.env['ONNX_ATTN_SCREENSHOTS'] ?? dir;
    fs.mkdirSync(shots, { recursive: true });
    const png = await page.screenshot({ path: path.join(shots, 'validate-report.png'), fullPage: true });
    assert.ok(png.length > 10_000, `screenshot of ${png.length} bytes`);
  } finally {
    await browser.close();
  }
});

test('the sweep and apply HTML reports render in chromium too: ranking table, trade-off chart, one section per entry', async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`);
  const dir = tmpDir();
  const v5 = fixture('yolov5-op12.onnx');
  const sweepHtml = path.join(dir, 'sweep.html');
  assert.equal(
    (await runMain(['sweep', v5, '--modules', 'NAM,SimAM', '--after', '17,23', '--iters', '2', '--warmup', '0', '--report', sweepHtml, '--quiet'])).code,
    0,
  );
  const plan = path.join(dir, 'plan.yaml');
  fs.writeFileSync(
    plan,
    `version: 1
defaults:
  validate: {iters: 2, warmup: 0}
  compare: {iters: 2, warmup: 0, tolerance: exact}
models:
  - {name: v5-gate, input: ${v5}, output: out/v5-gate.onnx, insert: [{after: head, module: SimAM, gate: zero}]}
  - {name: rt-nam, input: ${fixture('rtdetr-l-op16.onnx')}, output: out/rt-nam.onnx, insert: [{after: head, module: NAM}], compare: false}
`,
  );
  const applyHtml = path.join(dir, 'apply.html');
  const applied = await runMain(['apply', plan, '--report', applyHtml, '--quiet']);
  assert.equal(applied.code, 0, applied.stderr);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    await page.goto(`file://${sweepHtml}`);
    assert.equal(await page.$$eval('table[data-table="ranking"] tr', (rows) => rows.length), 1 + 4);
    const chart = await page.$eval('svg[data-chart="tradeoff"]', (s) => ({
      w: s.getBoundingClientRect().width,
      h: s.getBoundingClientRect().height,
      dots: s.querySelectorAll('circle').length,
    }));
    assert.ok(chart.w > 300 && chart.h > 150, JSON.stringify(chart));
    assert.equal(chart.dots, 4 + 2, 'one dot per candidate, one legend dot per module');
    assert.equal(await page.$eval('html', (el) => el.scrollWidth - el.clientWidth), 0);

    await page.goto(`file://${applyHtml}`);
    assert.equal(await page.textContent('[data-verdict]'), 'PASS');
    const text = await page.textContent('body');
    assert.ok(text!.includes('v5-gate') && text!.includes('rt-nam'));
    assert.equal(await page.$eval('html', (el) => el.scrollWidth - el.clientWidth), 0, 'no horizontal scrolling at 1024 px');
    const shots = process.env['ONNX_ATTN_SCREENSHOTS'] ?? dir;
    await page.screenshot({ path: path.join(shots, 'apply-report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});
