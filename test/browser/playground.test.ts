/** @file The playground in headless Chromium on WebGPU: op parity with the Node CPU reference, and a short fine-tune driven through the UI. */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { type Playground, bundleForPage, startPlayground } from '../../playground/server.js';
import { allCases, runCase } from '../engine/opInputs.js';
import { expectSameCase } from '../helpers.js';
import type { PageCase } from './opPage.js';

const CHROMIUM = process.env.GRAFT_CHROMIUM ?? '/usr/bin/chromium';
const root = fileURLToPath(new URL('../..', import.meta.url));
const present = existsSync(CHROMIUM);
if (!present && process.env.GRAFT_REQUIRE_WEBGPU === '1') {
  throw new Error(`GRAFT_REQUIRE_WEBGPU=1 but there is no Chromium at ${CHROMIUM} for the browser tests (apt-get install chromium, or set GRAFT_CHROMIUM)`);
}
if (!present) console.warn(`browser tests not run: no Chromium at ${CHROMIUM}`);

describe.skipIf(!present)('playground in headless Chromium (WebGPU)', () => {
  let server: Playground;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await startPlayground({ extra: { '/test/ops.js': { type: 'text/javascript', body: await bundleForPage(join(root, 'test/browser/opPage.ts')) } } });
    profile = mkdtempSync(join(tmpdir(), 'graft-chromium-'));
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 960 },
      args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.state !== 'idle' || document.getElementById('status')!.textContent!.startsWith('Pick'));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the WebGPU adapter', async () => {
    expect(await page.getAttribute('#adapter', 'data-adapter'), await page.textContent('#adapter') ?? '').toBe('yes');
    expect(await page.textContent('#adapter')).toMatch(/^WebGPU adapter: /);
  });

  it('every conformance case on WebGPU in the page matches the Node CPU reference', async () => {
    await page.addScriptTag({ url: '/test/ops.js', type: 'module' });
    await page.waitForFunction(() => 'graftOpCases' in globalThis);
    const { cases } = await page.evaluate(() => (globalThis as unknown as { graftOpCases: () => Promise<{ adapter: string; cases: PageCase[] }> }).graftOpCases());
    const expected = allCases();
    expect(cases.map((c) => c.name)).toEqual(expected.map((e) => e.c.name));
    const cpu = new CpuBackend();
    for (const [i, { op, c, seed }] of expected.entries()) {
      const got = cases[i]!;
      const where = `${op}: ${c.name} (WebGPU in Chromium)`;
      if ('error' in got) expect.fail(`${where} threw: ${got.error}`);
      expect(got.result.ops, where).toContain(op);
      expectSameCase(got.result, await runCase(c, seed, cpu), where);
    }
  }, 300_000);

  it('a short fine-tune through the UI raises test accuracy and draws the chart', async () => {
    await page.selectOption('#backend', 'webgpu');
    await page.selectOption('#size', '32');
    await page.selectOption('#budget', '10');
    await page.fill('#epochs', '6');
    await page.click('#load');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state!), null, { timeout: 120_000 });
    expect(await page.textContent('#status')).toMatch(/^ready: .*backend webgpu/);

    // Unchecking a block makes its parameters trainable; checking it again freezes them.
    const trainable = async () => Number((await page.textContent('#trainable'))!.split(' ')[0]!.replace(/,/g, ''));
    const headOnly = await trainable();
    await page.uncheck('#blocks input[data-block="block_13_"]');
    expect(await trainable()).toBeGreaterThan(headOnly + 100_000);
    await page.check('#blocks input[data-block="block_13_"]');
    expect(await trainable()).toBe(headOnly);

    await page.click('#train');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state!), null, { timeout: 480_000, polling: 500 });
    expect(await page.textContent('#status')).toMatch(/^done: /);
    const before = Number(await page.getAttribute('#accuracy', 'data-before'));
    const after = Number(await page.getAttribute('#accuracy', 'data-after'));
    expect(after).toBeGreaterThan(0.5);
    expect(after).toBeGreaterThan(before + 0.25);
    // One line per series, with a point per epoch.
    const paths = await page.$$eval('#chart svg path', (ps) => ps.map((p) => p.getAttribute('d') ?? ''));
    expect(paths.filter((d) => (d.match(/L/g) ?? []).length === 5).length).toBe(3);
    expect(await page.$$eval('#predictions figure', (fs) => fs.length)).toBe(40);
    mkdirSync(join(root, 'test-output'), { recursive: true });
    await page.screenshot({ path: join(root, 'test-output', 'playground.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 600_000);
});
