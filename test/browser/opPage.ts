/** @file Runs every conformance case on WebGPU inside the page (graft from the page's own bundle), for the browser test to compare with Node's CPU reference. */
import { createWebGPUBackend } from '../../index.js';
import { type CaseResult, allCases, runCase } from '../engine/opInputs.js';

export type PageCase = { op: string; name: string; seed: number } & ({ result: CaseResult } | { error: string });

async function runAll(): Promise<{ adapter: string; cases: PageCase[] }> {
  const b = await createWebGPUBackend();
  if (typeof b === 'string') throw new Error(`no WebGPU backend in the page: ${b}`);
  const cases: PageCase[] = [];
  for (const { op, c, seed } of allCases()) {
    try {
      cases.push({ op, name: c.name, seed, result: await runCase(c, seed, b) });
    } catch (e) {
      cases.push({ op, name: c.name, seed, error: String((e as Error).stack ?? e) });
    }
  }
  return { adapter: Object.values(b.info).filter(Boolean).join(' / '), cases };
}

(globalThis as { graftOpCases?: typeof runAll }).graftOpCases = runAll;
