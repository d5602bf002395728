/** @file The playground in headless Chromium: WebGPU op parity with the Node CPU reference, fine-tunes driven through the UI, and the page without WebGPU. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { type Playground, bundleForPage, startPlayground } from '../../playground/server.js';
import { allCases, runCase } from '../engine/opInputs.js';
import { expectSameCase } from '../helpers.js';
import { FLAGS, chromiumPresent, launchChromium } from './chromium.js';
import type { PageCase } from './opPage.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Browser {
  page: Page;
  errors: string[];
  close: () => Promise<void>;
}

/** The playground in a fresh Chromium profile launched with `flags`. */
async function openPlayground(url: string, flags: string[]): Promise<Browser> {
  const { context, close } = await launchChromium(flags, { width: 1200, height: 960 });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state !== 'idle' || document.getElementById('status')!.textContent!.startsWith('Pick'));
  return { page, errors, close };
}

/** Loads the model and data on `backend` through the UI (32x32 inputs, 10 labels per class). */
async function load(page: Page, backend: 'webgpu' | 'cpu', epochs: number): Promise<void> {
  await page.selectOption('#backend', backend);
  await page.selectOption('#size', '32');
  await page.selectOption('#budget', '10');
  await page.fill('#epochs', String(epochs));
  await page.click('#load');
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state!), null, { timeout: 120_000 });
  expect(await page.textContent('#status')).toMatch(new RegExp(`^ready: .*backend ${backend}`));
}

/** Clicks Fine-tune and returns the test accuracy the page reports before and after. */
async function train(page: Page): Promise<{ before: number; after: number }> {
  await page.click('#train');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state!), null, { timeout: 480_000, polling: 500 });
  expect(await page.textContent('#status')).toMatch(/^done: /);
  return { before: Number(await page.getAttribute('#accuracy', 'data-before')), after: Number(await page.getAttribute('#accuracy', 'data-after')) };
}

describe.skipIf(!chromiumPresent)('playground in headless Chromium', () => {
  let server: Playground;

  beforeAll(async () => {
    server = await startPlayground({ extra: { '/test/ops.js': { type: 'text/javascript', body: await bundleForPage(join(root, 'test/browser/opPage.ts')) } } });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  describe('with WebGPU (SwiftShader)', () => {
    let b: Browser;

    beforeAll(async () => {
      b = await openPlayground(server.url, [...FLAGS, '--enable-unsafe-webgpu']);
    }, 120_000);

    afterAll(async () => {
      await b?.close();
    });

    it('shows the WebGPU adapter', async () => {
      expect(await b.page.getAttribute('#adapter', 'data-adapter'), (await b.page.textContent('#adapter')) ?? '').toBe('yes');
      expect(await b.page.textContent('#adapter')).toMatch(/^WebGPU adapter: /);
    });

    it('every conformance case on WebGPU in the page matches the Node CPU reference', async () => {
      await b.page.addScriptTag({ url: '/test/ops.js', type: 'module' });
      await b.page.waitForFunction(() => 'graftOpCases' in globalThis);
      const { cases } = await b.page.evaluate(() => (globalThis as unknown as { graftOpCases: () => Promise<{ adapter: string; cases: PageCase[] }> }).graftOpCases());
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
      const { page } = b;
      await load(page, 'webgpu', 6);
      // Unchecking a block makes its parameters trainable; checking it again freezes them.
      const trainable = async () => Number((await page.textContent('#trainable'))!.split(' ')[0]!.replace(/,/g, ''));
      const headOnly = await trainable();
      await page.uncheck('#blocks input[data-block="block_13_"]');
      expect(await trainable()).toBeGreaterThan(headOnly + 100_000);
      await page.check('#blocks input[data-block="block_13_"]');
      expect(await trainable()).toBe(headOnly);

      const { before, after } = await train(page);
      expect(after).toBeGreaterThan(0.5);
      expect(after).toBeGreaterThan(before + 0.25);
      // One line per series, with a point per epoch.
      const paths = await page.$$eval('#chart svg path', (ps) => ps.map((p) => p.getAttribute('d') ?? ''));
      expect(paths.filter((d) => (d.match(/L/g) ?? []).length === 5).length).toBe(3);
      expect(await page.$$eval('#predictions figure', (fs) => fs.length)).toBe(40);
      mkdirSync(join(root, 'test-output'), { recursive: true });
      await page.screenshot({ path: join(root, 'test-output', 'playground.png'), fullPage: true });
      expect(b.errors).toEqual([]);
    }, 600_000);
  });

  describe('without WebGPU', () => {
    let b: Browser;

    beforeAll(async () => {
      b = await openPlayground(server.url, FLAGS);
    }, 120_000);

    afterAll(async () => {
      await b?.close();
    });

    it('says WebGPU is missing, offers only the CPU, and fine-tunes there', async () => {
      const { page } = b;
      expect(await page.getAttribute('#adapter', 'class')).toBe('missing');
      expect(await page.textContent('#adapter')).toMatch(/^WebGPU is not available here: .*no adapter.*CPU backend/);
      expect(await page.inputValue('#backend')).toBe('cpu');
      expect(await page.isDisabled('#backend option[value=webgpu]')).toBe(true);
      await load(page, 'cpu', 4);
      const { before, after } = await train(page);
      expect(after).toBeGreaterThan(0.5);
      expect(after).toBeGreaterThan(before + 0.25);
      await page.screenshot({ path: join(root, 'test-output', 'playground-cpu.png'), fullPage: true });
      expect(b.errors).toEqual([]);
    }, 300_000);
  });
});
