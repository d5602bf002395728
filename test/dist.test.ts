/** @file The built package: `import('graft')` resolves to dist/ through package.json exports and works. */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeImageFolder } from './transfer/imageFolder.js';

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
      // Only strings that can name a module count (csv-parse's comments quote a byte-order mark after the word 'from').
      expect(specifiers.filter((s) => s !== 'graft' && /^[\w@./:-]+$/.test(s!)), f).toEqual([]);
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

  it('declarations type-check in a strict consumer without skipLibCheck (they reference @webgpu/types)', () => {
    const dir = join(root, 'test-output', 'consumer');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'use.ts'), "import { tensor, createWebGPUBackend } from 'graft';\nimport { fromOnnx, imageFolder } from 'graft/transfer';\nexport const used = [tensor([1]), createWebGPUBackend, fromOnnx, imageFolder];\n");
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', join(dir, 'use.ts')];
    expect(() => execFileSync(process.execPath, [tsc, ...args], { cwd: root, encoding: 'utf8', stdio: 'pipe' })).not.toThrow();
  }, 60_000);

  it("the README's quickstart runs as written in an empty project, from the packed package", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /<!-- quickstart -->\s*```sh\n([\s\S]*?)```\s*<!-- \/quickstart -->/.exec(readme)?.[1];
    expect(block, 'README quickstart block').toBeTruthy();
    const app = mkdtempSync(join(tmpdir(), 'graft-quickstart-'));
    execFileSync('npm', ['pack', '--silent', '--pack-destination', app], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(app).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', private: true }));
    writeImageFolder(join(app, 'my-images'), 10);
    const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
    let stdout = '';
    for (const line of block!.trim().split('\n')) {
      // The only change: graft comes from the tarball instead of the registry.
      const cmd = line.replace(/^npm i graft\b/, `npm i ./${tarball}`);
      stdout += execSync(cmd, { cwd: app, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    }
    expect(stdout).toMatch(/test accuracy \d+\.\d% with the best epoch/);
    for (const f of ['report.html', 'report.json', 'best.safetensors']) expect(existsSync(join(app, 'runs/mine', f)), f).toBe(true);
  }, 60_000);
});
