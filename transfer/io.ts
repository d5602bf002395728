/** @file The I/O seam: importers take bytes; these helpers turn paths and URLs into bytes and write files atomically. */
import { GraftError } from '../index.js';

export type Source = Uint8Array | ArrayBuffer | string | URL;

function isNode(): boolean {
  return typeof process !== 'undefined' && Boolean(process.versions?.node);
}

/** Bytes from bytes, a file path (Node) or a URL (fetch; file: URLs through the file system in Node). */
export async function readBytes(src: Source): Promise<{ bytes: Uint8Array; name: string }> {
  if (src instanceof Uint8Array) return { bytes: src, name: '<bytes>' };
  if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src), name: '<bytes>' };
  const url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]*:\/\//i.test(src) ? new URL(src) : null;
  if (isNode() && (!url || url.protocol === 'file:')) {
    const { readFile } = await import('node:fs/promises');
    const path = url ? (await import('node:url')).fileURLToPath(url) : (src as string);
    try {
      return { bytes: new Uint8Array(await readFile(path)), name: path };
    } catch (e) {
      throw new GraftError(`cannot read ${path}: ${(e as Error).message}`);
    }
  }
  const res = await fetch(url ?? (src as string));
  if (!res.ok) throw new GraftError(`cannot fetch ${String(src)}: HTTP ${res.status}`);
  return { bytes: new Uint8Array(await res.arrayBuffer()), name: String(src) };
}

/**
 * Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part: the
 * bytes go to a temporary file in the same folder, are flushed to disk, then renamed over `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const fs = await import('node:fs/promises');
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
