// Builds dist/: the ESM bundle with esbuild and the .d.ts declarations with tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['index.ts'],
  outfile: 'dist/index.js',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  sourcemap: true,
  external: ['webgpu'],
  logLevel: 'warning',
});
// The transfer layer imports graft through the package itself, so both bundles share one engine.
const selfImport = {
  name: 'graft-self',
  setup(b) {
    b.onResolve({ filter: /(^|\/)index\.js$/ }, (args) => (args.importer.includes('/transfer/') && /^(\.\.\/)+index\.js$/.test(args.path) ? { path: 'graft', external: true } : undefined));
  },
};
await build({
  entryPoints: ['transfer/index.ts'],
  outfile: 'dist/transfer.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['webgpu'],
  plugins: [selfImport],
  logLevel: 'warning',
});
await build({
  entryPoints: ['transfer/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['webgpu'],
  logLevel: 'warning',
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('built dist/index.js, dist/cli.js and the .d.ts declarations');
