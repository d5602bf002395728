/** @file The built package: `import('graft')` resolves to dist/ through package.json exports and works. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('dist', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('writes the bundles, the CLI and the declarations', () => {
    for (const f of ['index.js', 'index.d.ts', 'transfer.js', 'transfer/index.d.ts', 'cli.js', 'browser/index.js', 'browser/transfer.js']) expect(existsSync(`${root}/dist/${f}`), f).toBe(true);
  });

  it('browser bundles import no Node built-ins and no package but graft itself', () => {
    for (const f of ['browser/index.js', 'browser/transfer.js']) {
      const code = readFileSync(`${root}/dist/${f}`, 'utf8');
      const specifiers = [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)].map((m) => m[1]);
      expect(specifiers.filter((s) => s !== 'graft'), f).toEqual([]);
      expect(code, f).not.toMatch(/["'`]node:|\brequire\(/);
    }
  });

  it("package exports resolve to the browser bundles under the 'browser' condition and to Node's otherwise", async () => {
    const { build } = await import('esbuild');
    const resolved = async (platform: 'browser' | 'node') => {
      const r = await build({ stdin: { contents: "export * from 'graft'; export * from 'graft/transfer';", resolveDir: root }, bundle: true, write: false, metafile: true, platform, format: 'esm', external: ['webgpu'], logLevel: 'silent' });
      return Object.keys(r.metafile.inputs).filter((k) => k.startsWith('dist/')).sort();
    };
    expect(await resolved('browser')).toEqual(['dist/browser/index.js', 'dist/browser/transfer.js']);
    expect(await resolved('node')).toEqual(['dist/index.js', 'dist/transfer.js']);
  });

  it("import('graft/transfer') shares the engine of import('graft')", () => {
    const script = `
      const g = await import('graft');
      const t = await import('graft/transfer');
      const model = new t.SmallCNN(1, 3);
      const ok = model.parameters()[0] instanceof g.Tensor && model.forward(g.randn([2, 1, 8, 8])).shape.join() === '2,3';
      console.log(JSON.stringify({ ok, exports: Object.keys(t).length }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })) as { ok: boolean; exports: number };
    expect(out.ok).toBe(true);
    expect(out.exports).toBeGreaterThan(40);
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
