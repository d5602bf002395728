/** @file The transfer layer's browser I/O: no file system (sources are bytes or URLs), inflate through DecompressionStream. */
import { GraftError, GraftFormatError } from '../../index.js';

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

/** Pixels as RGBA bytes, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export const MAX_IMAGE_PIXELS = 64 * 1000 * 1000;

/** Any image the browser decodes (PNG, JPEG, WebP, ...) through createImageBitmap and an OffscreenCanvas. */
export async function decodeImageBytes(bytes: Uint8Array | Blob | ImageBitmap, name: string): Promise<RgbaImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = typeof ImageBitmap !== 'undefined' && bytes instanceof ImageBitmap ? bytes : await createImageBitmap(bytes instanceof Blob ? bytes : new Blob([bytes as BlobPart]));
  } catch (e) {
    throw new GraftFormatError(`${name}: the browser cannot decode this image: ${(e as Error).message}`);
  }
  if (bitmap.width * bitmap.height > MAX_IMAGE_PIXELS) throw new GraftFormatError(`${name}: ${bitmap.width}x${bitmap.height} pixels is more than ${MAX_IMAGE_PIXELS}`);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const d = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return { width: bitmap.width, height: bitmap.height, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

export async function listFolder(path: string): Promise<{ name: string; folder: boolean }[]> {
  throw new GraftError(`cannot list '${path}': a browser has no file system; pass File or Blob objects (imagesDataset) instead`);
}

/** RGBA pixels as PNG bytes through an OffscreenCanvas. */
export async function encodePng(img: RgbaImage): Promise<Uint8Array> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
}
