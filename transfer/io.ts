/** @file The I/O seam: importers take bytes; these helpers turn paths and URLs into bytes and write files atomically. */
import { GraftError } from '../index.js';
import { fileUrlToPath, hasFileSystem, readFileBytes } from './platform/node.js';

export { writeFileAtomic } from './platform/node.js';

export type Source = Uint8Array | ArrayBuffer | string | URL;

/** Bytes from bytes, a file path (Node) or a URL (fetch; file: URLs through the file system in Node). */
export async function readBytes(src: Source): Promise<{ bytes: Uint8Array; name: string }> {
  if (src instanceof Uint8Array) return { bytes: src, name: '<bytes>' };
  if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src), name: '<bytes>' };
  const url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]*:\/\//i.test(src) ? new URL(src) : null;
  if (url?.protocol === 'file:' || (!url && hasFileSystem)) {
    const path = url ? await fileUrlToPath(url) : (src as string);
    return { bytes: await readFileBytes(path), name: path };
  }
  // A browser resolves a relative path against the page, as fetch does.
  let res: Response;
  try {
    res = await fetch(url ?? (src as string));
  } catch (e) {
    throw new GraftError(`cannot fetch ${String(src)}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new GraftError(`cannot fetch ${String(src)}: HTTP ${res.status}`);
  return { bytes: new Uint8Array(await res.arrayBuffer()), name: String(src) };
}

/** Text (UTF-8) from the same sources as readBytes. */
export async function readText(src: Source): Promise<{ text: string; name: string }> {
  const { bytes, name } = await readBytes(src);
  return { text: new TextDecoder().decode(bytes), name };
}
