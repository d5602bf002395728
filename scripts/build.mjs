// Builds dist/: the Node and browser ESM bundles with esbuild and the .d.ts declarations with tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// The transfer layer imports graft through the package itself, so both bundles share one engine.
export const selfImport = {
  name: 'graft-self',
  setup(b) {
    b.onResolve({ filter: /(^|\/)index\.js$/ }, (args) => (args.importer.includes('/transfer/') && /^(\.\.\/)+index\.js$/.test(args.path) ? { path: 'graft', external: true } : undefined));
  },
};

// Browser builds swap each platform/node.ts (files, Dawn, zlib) for its platform/browser.ts sibling.
export const browserPlatform = {
  name: 'graft-browser-platform',
  setup(b) {
    b.onResolve({ filter: /(^|\/)platform\/node\.js$/ }, (args) => {
      const path = resolve(args.resolveDir, dirname(args.path), 'browser.ts');
      if (!existsSync(path)) throw new Error(`${args.importer} imports ${args.path}, which has no browser.ts sibling`);
      return { path };
    });
    // csv-parse's package entry assumes Node's Buffer; its browser build carries its own.
    b.onResolve({ filter: /^csv-parse\/sync$/ }, () => ({ path: resolve(dirname(new URL(import.meta.url).pathname), '..', 'node_modules', 'csv-parse', 'dist', 'esm', 'sync.js') }));
  },
};

const common = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning' };
// Node bundles import their dependencies (CommonJS packages cannot be inlined into ESM: their require() calls fail); browser bundles inline the browser-safe ones.
const nodeExternal = ['webgpu', 'protobufjs', 'pngjs', 'jpeg-js', 'csv-parse', 'gpt-tokenizer', '@huggingface/tokenizers'];

export async function buildAll() {
  rmSync('dist', { recursive: true, force: true });
  await build({ ...common, entryPoints: ['index.ts'], outfile: 'dist/index.js', platform: 'neutral', target: 'es2022', external: ['webgpu', 'node:*'] });
  await build({ ...common, entryPoints: ['transfer/index.ts'], outfile: 'dist/transfer.js', platform: 'node', target: 'node20', external: nodeExternal.map((p) => `${p}*`), plugins: [selfImport] });
  await build({ ...common, entryPoints: ['transfer/cli.ts'], outfile: 'dist/cli.js', platform: 'node', target: 'node20', external: nodeExternal.map((p) => `${p}*`) });
  await build({ ...common, entryPoints: ['index.ts'], outfile: 'dist/browser/index.js', platform: 'browser', target: 'es2022', plugins: [browserPlatform] });
  await build({ ...common, entryPoints: ['transfer/index.ts'], outfile: 'dist/browser/transfer.js', platform: 'browser', target: 'es2022', plugins: [selfImport, browserPlatform] });
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  await buildAll();
  console.log('built dist/ (Node: index.js, transfer.js, cli.js; browser: browser/index.js, browser/transfer.js) and the .d.ts declarations');
}
