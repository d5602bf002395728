/** @file Images to datasets: decoded (PNG and JPEG in Node, anything the browser decodes there), resized, scaled to [0, 1], normalised for a model. */
import { GraftValueError } from '../../index.js';
import { type RgbaImage, decodeImageBytes } from '../platform/node.js';
import { type Dataset, resizeImages } from './dataset.js';

export type ImageSource = Uint8Array | Blob | ImageBitmap;

export interface ImageOptions {
  /** Output size: one number for square images, or [height, width] (default 64). */
  size?: number | [number, number];
  /** 3 for RGB (default), 1 for grey (the mean of R, G and B). */
  channels?: 1 | 3;
}

/** ImageNet's per-channel mean and standard deviation, which torchvision's pre-trained models expect. */
export const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

export function imageSize(o: ImageOptions): [number, number] {
  const s = o.size ?? 64;
  const hw: [number, number] = typeof s === 'number' ? [s, s] : s;
  if (hw.some((d) => !Number.isInteger(d) || d < 1 || d > 4096)) throw new GraftValueError(`image size ${JSON.stringify(s)} must be whole numbers of pixels in [1, 4096]`);
  return hw;
}

/** One decoded image as [channels, H, W] floats in [0, 1], resized bilinearly; alpha is dropped. */
export function toChw(img: RgbaImage, size: [number, number], channels: 1 | 3): Float32Array {
  const { width: w, height: h, data } = img;
  const planes = new Float32Array(channels * h * w);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = [data[4 * i]!, data[4 * i + 1]!, data[4 * i + 2]!];
    if (channels === 1) planes[i] = (r + g + b) / (3 * 255);
    else {
      planes[i] = r / 255;
      planes[h * w + i] = g / 255;
      planes[2 * h * w + i] = b / 255;
    }
  }
  if (h === size[0] && w === size[1]) return planes;
  return resizeImages({ x: planes, y: new Int32Array(1), n: 1, shape: [channels, h, w], classes: [] }, size).x;
}

/** Labelled images as a dataset (the browser's File, Blob and ImageBitmap, or bytes). */
export async function imagesDataset(items: readonly { src: ImageSource; label: number; name?: string }[], classes: readonly string[], o: ImageOptions = {}): Promise<Dataset> {
  const size = imageSize(o);
  const channels = o.channels ?? 3;
  const per = channels * size[0] * size[1];
  const x = new Float32Array(items.length * per);
  const y = new Int32Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const { src, label, name } = items[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes.length) throw new GraftValueError(`imagesDataset: ${name ?? `image ${i}`} has label ${label}, not one of the ${classes.length} classes`);
    x.set(toChw(await decodeImageBytes(src, name ?? `image ${i}`), size, channels), i * per);
    y[i] = label;
  }
  return { x, y, n: items.length, shape: [channels, ...size], classes: [...classes] };
}

/** Subtracts a per-channel mean and divides by a standard deviation (transforms.Normalize). */
export function normalize(d: Dataset, stats: { mean: readonly number[]; std: readonly number[] }): Dataset {
  const [c, h, w] = d.shape as [number, number, number];
  if (stats.mean.length !== c || stats.std.length !== c) throw new GraftValueError(`normalize: ${stats.mean.length} means for ${c} channels`);
  const x = new Float32Array(d.x.length);
  for (let i = 0; i < d.n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const at = (i * c + ch) * h * w;
      for (let k = 0; k < h * w; k++) x[at + k] = (d.x[at + k]! - stats.mean[ch]!) / stats.std[ch]!;
    }
  }
  return { ...d, x };
}
