/** @file The transfer layer's browser I/O: no file system (sources are bytes or URLs), inflate through DecompressionStream. */
import { GraftError } from '../../index.js';

export const hasFileSystem = false;

const NO_FILES = 'a browser has no file system: pass bytes (Uint8Array, ArrayBuffer) or an http(s) URL instead';

export async function readFileBytes(path: string): Promise<Uint8Array> {
  throw new GraftError(`cannot read '${path}': ${NO_FILES}`);
}

export async function fileUrlToPath(url: URL): Promise<string> {
  throw new GraftError(`cannot read ${url.href}: ${NO_FILES}`);
}

export async function writeFileAtomic(path: string, _bytes: Uint8Array): Promise<void> {
  throw new GraftError(`cannot write '${path}': a browser has no file system; use checkpointBytes / saveSafetensors and offer the bytes as a download`);
}

export async function packageFile(pkg: string, sub: string, hint: string): Promise<string> {
  throw new GraftError(`${hint}: in a browser, npm packages cannot be read from disk; serve ${pkg}/${sub} and pass its URL`);
}

/** Raw-deflate decompression with a size cap (zip entries). */
export async function inflateRaw(raw: Uint8Array, size: number): Promise<Uint8Array> {
  const stream = new Blob([raw as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const reader = stream.getReader();
  const out = new Uint8Array(size);
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > size) {
      await reader.cancel();
      throw new GraftError(`inflates past the ${size} bytes the archive declares`);
    }
    out.set(value, at);
    at += value.length;
  }
  return out.subarray(0, at);
}
