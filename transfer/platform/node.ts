/** @file The transfer layer's Node I/O: files, npm package folders and raw inflate. (Browser builds use browser.ts.) */
import { GraftError } from '../../index.js';

export const hasFileSystem = true;

export async function readFileBytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new GraftError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

export async function fileUrlToPath(url: URL): Promise<string> {
  return (await import('node:url')).fileURLToPath(url);
}

/**
 * Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part: the
 * bytes go to a temporary file in the same folder, are flushed to disk, then renamed over `path`.
 * Temporary files that killed writers of the same path left behind are removed first.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const fs = await import('node:fs/promises');
  await removeStaleTemporaries(path);
  const tmp = `${path}${TMP_MARK}${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new GraftError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

const TMP_MARK = '.tmp-';

/** Deletes `<path>.tmp-<pid>-*` files whose writing process no longer runs (a live writer's file is left alone). */
async function removeStaleTemporaries(path: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const { basename, dirname, join } = await import('node:path');
  const dir = dirname(path);
  const prefix = basename(path) + TMP_MARK;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return; // the folder's absence is reported by the write itself
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    // This process's own temporaries may belong to a write still under way.
    if (!Number.isSafeInteger(pid) || pid === process.pid || processRuns(pid)) continue;
    await fs.rm(join(dir, name), { force: true });
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A file inside an installed npm package (`sub` relative to the folder holding its package.json). */
export async function packageFile(pkg: string, sub: string, hint: string): Promise<string> {
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  const req = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(req.resolve(`${pkg}/package.json`));
  } catch {
    // Packages whose exports hide package.json: walk up from the main entry to the package.json
    // that names the package (nested ones, such as dist/cjs/package.json, only set the module type).
    const { readFileSync } = await import('node:fs');
    const named = (d: string) => {
      try {
        return (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name?: string }).name === pkg;
      } catch {
        return false;
      }
    };
    let d: string;
    try {
      d = dirname(req.resolve(pkg));
    } catch {
      throw new GraftError(`${hint}: install the '${pkg}' npm package`);
    }
    while (!named(d) && dirname(d) !== d) d = dirname(d);
    if (!named(d)) throw new GraftError(`${hint}: found '${pkg}' but not its package.json`);
    dir = d;
  }
  return join(dir, sub);
}

/** Raw-deflate decompression with a size cap (zip entries). */
export async function inflateRaw(raw: Uint8Array, size: number): Promise<Uint8Array> {
  const zlib = await import('node:zlib');
  const out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
