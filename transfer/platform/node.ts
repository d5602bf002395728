/** @file The transfer layer's Node I/O: files, npm package folders and raw inflate. (Browser builds use browser.ts.) */
import { GraftError, GraftFormatError } from '../../index.js';

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

/** Pixels as RGBA bytes, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The most pixels one image may decode to (bounds the memory a hostile file can ask for). */
export const MAX_IMAGE_PIXELS = 64 * 1000 * 1000;

/** PNG (pngjs) or JPEG (jpeg-js) bytes to RGBA, told apart by their signature. */
export async function decodeImageBytes(src: Uint8Array | Blob | ImageBitmap, name: string): Promise<RgbaImage> {
  if (!(src instanceof Uint8Array)) {
    if (typeof Blob !== 'undefined' && src instanceof Blob) return decodeImageBytes(new Uint8Array(await src.arrayBuffer()), name);
    throw new GraftFormatError(`${name}: an ImageBitmap is decoded by a browser; in Node pass the file's bytes`);
  }
  const bytes = src;
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new GraftFormatError(`${name}: not a PNG or JPEG image (its first bytes are ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
  try {
    if (isPng) {
      const { PNG } = (await import('pngjs')).default;
      // The header is checked before decoding: width and height are big-endian at bytes 16 and 20.
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (bytes.length >= 24 && v.getUint32(16) * v.getUint32(20) > MAX_IMAGE_PIXELS) throw new Error(`${v.getUint32(16)}x${v.getUint32(20)} pixels is more than ${MAX_IMAGE_PIXELS}`);
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    const jpeg = (await import('jpeg-js')).default;
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new GraftFormatError(`${name}: cannot decode the ${isPng ? 'PNG' : 'JPEG'} image: ${(e as Error).message}`);
  }
}

/** The files of a folder, sorted, and whether each is a folder. */
export async function listFolder(path: string): Promise<{ name: string; folder: boolean }[]> {
  const { readdir } = await import('node:fs/promises');
  try {
    const entries = await readdir(path, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, folder: e.isDirectory() })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    throw new GraftError(`cannot list ${path}: ${(e as Error).message}`);
  }
}

/** RGBA pixels as PNG bytes (pngjs). */
export async function encodePng(img: RgbaImage): Promise<Uint8Array> {
  const { PNG } = (await import('pngjs')).default;
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  const out = PNG.sync.write(png);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
