/** @file The built package: `import('graft')` resolves to dist/ through package.json exports and works. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('dist', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('writes the bundle and its declarations', () => {
    expect(existsSync(`${root}/dist/index.js`)).toBe(true);
    expect(existsSync(`${root}/dist/index.d.ts`)).toBe(true);
  });

  it("import('graft') from a fresh Node process trains a step", () => {
    const script = `
      const { tensor, nn, optim, functional: F } = await import('graft');
      const lin = new nn.Linear(2, 1);
      const opt = new optim.SGD(lin.parameters(), { lr: 0.02 });
      const x = tensor([[1, 2], [3, 4]]);
      const y = tensor([[1], [2]]);
      const l0 = F.mseLoss(lin.forward(x), y).dataSync()[0];
      for (let i = 0; i < 20; i++) { opt.zeroGrad(); F.mseLoss(lin.forward(x), y).backward(); opt.step(); }
      const l1 = F.mseLoss(lin.forward(x), y).dataSync()[0];
      console.log(JSON.stringify({ l0, l1 }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const { l0, l1 } = JSON.parse(out) as { l0: number; l1: number };
    expect(l1).toBeLessThan(l0);
  });
});
