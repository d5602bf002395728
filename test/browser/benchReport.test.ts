/** @file The bench report and comparison pages, rendered from checked-in runs, in headless Chromium at 1280 px: every implementation's label and value is on the page, and nothing is wider than the page. */
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparePage, compareRuns, runsFromFiles } from '../../bench/report/compare.js';
import { type Report, failureText, fmtMs, fmtValue, loadReport, settings } from '../../bench/report/data.js';
import { reportPage } from '../../bench/report/page.js';
import { FLAGS, chromiumPresent, launchChromium } from './chromium.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SAMPLES = ['test/fixtures/bench/2026-11-29-vm.json', 'test/fixtures/bench/2026-12-01-vm.json'];
const WIDTH = 1280;

/** Elements whose box leaves the page's width, or SVG text leaving its chart: what a reader would see cut off. */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate((width) => {
    const bad: string[] = [];
    const name = (e: Element) => `${e.tagName.toLowerCase()}${e.getAttribute('class') ? `.${e.getAttribute('class')}` : ''} "${(e.textContent ?? '').slice(0, 60)}"`;
    if (document.documentElement.scrollWidth > width) bad.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px`);
    for (const e of document.body.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > width + 0.5 || r.left < -0.5) bad.push(`${name(e)} spans ${r.left.toFixed(0)}..${r.right.toFixed(0)} px`);
    }
    for (const svg of document.querySelectorAll('svg')) {
      const box = svg.getBoundingClientRect();
      for (const t of svg.querySelectorAll('text')) {
        const r = t.getBoundingClientRect();
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) bad.push(`${name(t)} leaves its chart`);
      }
    }
    return bad;
  }, WIDTH);
}

describe.skipIf(!chromiumPresent)('bench pages in headless Chromium', () => {
  let page: Page;
  let close: () => Promise<void>;
  let reports: Report[];
  const dir = mkdtempSync(join(tmpdir(), 'graft-bench-pages-'));
  const shots = join(root, 'test-output');

  beforeAll(async () => {
    reports = await Promise.all(SAMPLES.map(loadReport));
    const b = await launchChromium(FLAGS, { width: WIDTH, height: 900 });
    close = b.close;
    page = await b.context.newPage();
    mkdirSync(shots, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await close?.();
  });

  for (const [i, sample] of SAMPLES.entries()) {
    it(`renders ${sample} with every implementation's label and value in its workload's chart`, async () => {
      const file = join(dir, `report-${i}.html`);
      writeFileSync(file, reportPage(reports[i]!));
      await page.goto(pathToFileURL(file).href);
      const shot = join(shots, `bench-report-${i}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      const sections = await page.$$eval('section.setting', (ss) => ss.map((s) => ({ key: (s as HTMLElement).dataset.key!, text: s.textContent! })));
      const expected = settings(reports[i]!.results);
      expect(sections.map((s) => s.key)).toEqual(expected.map((s) => s.key));
      for (const [k, s] of expected.entries()) {
        for (const r of s.results) {
          expect(sections[k]!.text, `${s.key}: ${r.impl}`).toContain(r.impl);
          expect(sections[k]!.text, `${s.key}: ${r.impl}`).toContain(r.ok ? fmtValue(r, s.flops) : failureText(r));
        }
      }
      // Every result is also a row of the summary table, which sorts on a click.
      const rows = await page.$$eval('table.summary.sortable tr', (trs) => trs.length - 1);
      expect(rows).toBe(reports[i]!.results.length);
      await page.click('table.summary.sortable th:nth-child(4)');
      const medians = await page.$$eval('table.summary.sortable tr td:nth-child(4)', (tds) => tds.map((td) => Number((td as HTMLElement).dataset.v ?? NaN)).filter(Number.isFinite));
      expect(medians).toEqual([...medians].sort((a, b) => a - b));
      expect(await overflowing(page)).toEqual([]);
    }, 60_000);
  }

  it('renders the comparison of the two runs with each run\'s value per implementation', async () => {
    const runs = runsFromFiles(SAMPLES, reports);
    const file = join(dir, 'compare.html');
    writeFileSync(file, comparePage(runs));
    await page.goto(pathToFileURL(file).href);
    const shot = join(shots, 'bench-compare.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    const sections = new Map(await page.$$eval('section.setting', (ss) => ss.map((s) => [(s as HTMLElement).dataset.key!, s.textContent!] as [string, string])));
    for (const row of compareRuns(runs)) {
      const text = sections.get(row.key)!;
      expect(text, row.key).toContain(row.impl);
      row.cells.forEach((c, k) => {
        if (c.result?.ok && c.result.median_ms) expect(text, `${row.key} ${row.impl}`).toContain(`${String.fromCharCode(65 + k)}: ${fmtMs(c.result.median_ms)}`);
      });
    }
    expect(await overflowing(page)).toEqual([]);
  }, 60_000);
});
