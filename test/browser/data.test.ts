/** @file The data API in headless Chromium: the browser decodes Blob and ImageBitmap images, and CSV parses without Node. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Playground, bundleForPage, startPlayground } from '../../playground/server.js';
import { FLAGS, chromiumPresent, launchChromium } from './chromium.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe.skipIf(!chromiumPresent)('data API in the browser', () => {
  let server: Playground;
  beforeAll(async () => {
    server = await startPlayground({ extra: { '/test/data.js': { type: 'text/javascript', body: await bundleForPage(join(root, 'test/browser/dataPage.ts')) } } });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });

  it('imagesDataset reads Blob and ImageBitmap images, csv reads bytes, and an undecodable image is a named error', async () => {
    const { context, close } = await launchChromium(FLAGS, { width: 800, height: 600 });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.addScriptTag({ url: '/test/data.js', type: 'module' });
      await page.waitForFunction(() => 'graftDataPage' in globalThis);
      const r = await page.evaluate(() => (globalThis as unknown as { graftDataPage: () => Promise<Record<string, unknown>> }).graftDataPage());
      expect(r.shape).toEqual([3, 4, 6]);
      expect(r.pixels).toEqual([1, 0, 0, 1]);
      expect(r.fromBitmap).toEqual([1, 1]);
      expect(r.classes).toEqual(['cat', 'dog']);
      expect(r.labels).toEqual([1, 0]);
      expect(r.values).toEqual([1, 2, 3, 4]);
      expect(r.error).toMatch(/^junk\.png: the browser cannot decode this image/);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  }, 60_000);
});
