/** @file In-memory labelled datasets: per-class label budgets, seeded shuffles, batches as tensors, resizing. */
import { type Backend, GraftShapeError, Generator, type Tensor, permutation, tensor } from '../../index.js';

export interface Dataset {
  /** n samples, each of `shape` (C, H, W for images), row-major. */
  x: Float32Array;
  y: Int32Array;
  n: number;
  shape: number[];
  classes: string[];
}

export function sampleSize(d: Dataset): number {
  return d.shape.reduce((a, b) => a * b, 1);
}

/** The samples at `indices`, in that order. */
export function subset(d: Dataset, indices: ArrayLike<number>): Dataset {
  const s = sampleSize(d);
  const x = new Float32Array(indices.length * s);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    x.set(d.x.subarray(j * s, (j + 1) * s), i * s);
    y[i] = d.y[j]!;
  }
  return { ...d, x, y, n: indices.length };
}

/** The indices of up to `perClassCount` samples of each label chosen with a seed (`picked`, in draw order), and of all the others (`rest`). */
export function perClassIndices(labels: Int32Array, perClassCount: number, seed = 0): { picked: number[]; rest: number[] } {
  const order = permutation(labels.length, new Generator(seed));
  const taken = new Map<number, number>();
  const picked: number[] = [];
  const rest: number[] = [];
  for (const i of order) {
    const c = labels[i]!;
    if ((taken.get(c) ?? 0) < perClassCount) {
      taken.set(c, (taken.get(c) ?? 0) + 1);
      picked.push(i);
    } else rest.push(i);
  }
  return { picked, rest };
}

/** Up to `perClassCount` samples of each class chosen with a seed (`picked`), and all the others (`rest`). */
export function splitPerClass(d: Dataset, perClassCount: number, seed = 0): { picked: Dataset; rest: Dataset } {
  const { picked, rest } = perClassIndices(d.y, perClassCount, seed);
  return { picked: subset(d, picked), rest: subset(d, rest) };
}

/** At most `perClassCount` samples of each class, chosen with a seed (the label budget of a few-shot run). */
export function perClass(d: Dataset, perClassCount: number, seed = 0): Dataset {
  return splitPerClass(d, perClassCount, seed).picked;
}

/** A dataset from samples x [N, ...] and integer labels y [N]; classes are named '0' to the largest label. */
export async function datasetFromTensors(x: Tensor, y: Tensor, what = 'dataset'): Promise<Dataset> {
  if (y.ndim !== 1 || x.ndim < 2 || x.shape[0] !== y.shape[0]) {
    throw new GraftShapeError(`${what}: expected samples x [N, ...] and labels y [N], got x [${x.shape.join(',')}] and y [${y.shape.join(',')}]`);
  }
  const labels = (await y.cast('i32').data()) as Int32Array;
  let top = -1;
  for (const l of labels) {
    if (l < 0) throw new GraftShapeError(`${what}: label ${l} is negative`);
    if (l > top) top = l;
  }
  return { x: (await x.cast('f32').data()) as Float32Array, y: labels, n: x.shape[0]!, shape: x.shape.slice(1), classes: Array.from({ length: top + 1 }, (_, i) => String(i)) };
}

/** Samples [from, to) of `order` as an input batch and its labels. */
export function batchOf(d: Dataset, order: ArrayLike<number>, from: number, to: number, backend?: Backend): [Tensor, Tensor] {
  const idx = Array.from({ length: to - from }, (_, i) => order[from + i]!);
  const part = subset(d, idx);
  return [tensor(part.x, { shape: [part.n, ...d.shape], backend }), tensor(part.y, { backend })];
}

/** Bilinear resize of [n, c, h, w] images to [n, outC, H, W]; one channel is repeated when outC is larger (grey to RGB). */
export function resizeImages(d: Dataset, size: [number, number], outChannels = d.shape[0]!): Dataset {
  if (d.shape.length !== 3) throw new GraftShapeError(`resizeImages: expected [C, H, W] samples, got [${d.shape.join(',')}]`);
  const [c, h, w] = d.shape as [number, number, number];
  if (outChannels !== c && c !== 1) throw new GraftShapeError(`resizeImages: cannot make ${outChannels} channels from ${c}`);
  const [H, W] = size;
  const out = new Float32Array(d.n * outChannels * H * W);
  const sy = h / H;
  const sx = w / W;
  for (let i = 0; i < d.n; i++) {
    for (let ch = 0; ch < outChannels; ch++) {
      const src = (i * c + (c === 1 ? 0 : ch)) * h * w;
      const dst = (i * outChannels + ch) * H * W;
      for (let y = 0; y < H; y++) {
        // Pixel centres aligned, as image libraries resize.
        const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
        const y0 = Math.floor(fy);
        const y1 = Math.min(y0 + 1, h - 1);
        const wy = fy - y0;
        for (let x = 0; x < W; x++) {
          const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
          const x0 = Math.floor(fx);
          const x1 = Math.min(x0 + 1, w - 1);
          const wx = fx - x0;
          const top = d.x[src + y0 * w + x0]! * (1 - wx) + d.x[src + y0 * w + x1]! * wx;
          const bottom = d.x[src + y1 * w + x0]! * (1 - wx) + d.x[src + y1 * w + x1]! * wx;
          out[dst + y * W + x] = top * (1 - wy) + bottom * wy;
        }
      }
    }
  }
  return { ...d, x: out, shape: [outChannels, H, W] };
}
