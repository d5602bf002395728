/** @file Headless Chromium for the browser tests: where it is, whether it must be there, and a fresh profile per launch. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.GRAFT_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumPresent = existsSync(CHROMIUM);
if (!chromiumPresent && process.env.GRAFT_REQUIRE_WEBGPU === '1') {
  throw new Error(`GRAFT_REQUIRE_WEBGPU=1 but there is no Chromium at ${CHROMIUM} for the browser tests (apt-get install chromium, or set GRAFT_CHROMIUM)`);
}
if (!chromiumPresent) console.warn(`browser tests not run: no Chromium at ${CHROMIUM}`);

export const FLAGS = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** A Chromium context in a fresh profile, removed again by `close`. */
export async function launchChromium(flags: string[], viewport: { width: number; height: number }): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'graft-chromium-'));
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, viewport, args: flags });
  return { context, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}
