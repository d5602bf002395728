/** @file Seeded data augmentation on NCHW batches: flips, crops with padding, rotations; tensor ops on any backend. */
import { GraftShapeError, Generator, type Tensor, fmtShape, functional as F, tensor } from '../index.js';

function checkBatch(op: string, x: Tensor): [number, number, number, number] {
  if (x.ndim !== 4) throw new GraftShapeError(`${op}: expected an NCHW batch, got ${fmtShape(x.shape)}`);
  return x.shape as [number, number, number, number];
}

/** Per sample, with probability p, mirrors left-right (dim 3) or, with `vertical`, top-bottom. */
export function randomFlip(x: Tensor, p: number, g: Generator, vertical = false): Tensor {
  const [n] = checkBatch('randomFlip', x);
  const flip = Array.from({ length: n }, () => g.uniform() < p);
  const mask = tensor(flip, { shape: [n, 1, 1, 1], backend: x.storage.backend });
  return x.flip(vertical ? 2 : 3).where(mask, x);
}

/** Pads each side by `padding` (zeros) and takes a random size[0] x size[1] window per sample. */
export function randomCrop(x: Tensor, size: [number, number], padding: number, g: Generator): Tensor {
  const [n, , h, w] = checkBatch('randomCrop', x);
  const padded = padding ? x.pad([[0, 0], [0, 0], [padding, padding], [padding, padding]]) : x;
  const [ph, pw] = [h + 2 * padding, w + 2 * padding];
  if (size[0] > ph || size[1] > pw) throw new GraftShapeError(`randomCrop: crop ${size.join('x')} is larger than the padded ${ph}x${pw} input`);
  const parts: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const top = g.int(ph - size[0] + 1);
    const left = g.int(pw - size[1] + 1);
    parts.push(padded.narrow(0, i, 1).narrow(2, top, size[0]).narrow(3, left, size[1]));
  }
  return F.concat(parts, 0);
}

/** Rotates each sample by an angle drawn uniformly from [-maxDegrees, maxDegrees]. */
export function randomRotation(x: Tensor, maxDegrees: number, g: Generator): Tensor {
  const [n] = checkBatch('randomRotation', x);
  return rotate(x, Array.from({ length: n }, () => (g.uniform() * 2 - 1) * maxDegrees));
}

/**
 * Rotates sample i counter-clockwise by degrees[i] about its centre, sampling bilinearly; pixels
 * from outside the image are zero. The sampling grid is computed on the host and applied with
 * gathers, so it runs on any backend.
 */
export function rotate(x: Tensor, degrees: readonly number[]): Tensor {
  const [n, c, h, w] = checkBatch('rotate', x);
  if (degrees.length !== n) throw new GraftShapeError(`rotate: ${degrees.length} angles for a batch of ${n}`);
  const hw = h * w;
  const idx = [new Int32Array(n * hw), new Int32Array(n * hw), new Int32Array(n * hw), new Int32Array(n * hw)];
  const wts = [new Float32Array(n * hw), new Float32Array(n * hw), new Float32Array(n * hw), new Float32Array(n * hw)];
  const [cy, cx] = [(h - 1) / 2, (w - 1) / 2];
  for (let s = 0; s < n; s++) {
    const a = (degrees[s]! * Math.PI) / 180;
    const [cos, sin] = [Math.cos(a), Math.sin(a)];
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        // Inverse map: where in the source does output pixel (y, xx) come from.
        // (y grows downwards, so a counter-clockwise turn on screen is this sign pattern.)
        const sx = cos * (xx - cx) - sin * (y - cy) + cx;
        const sy = sin * (xx - cx) + cos * (y - cy) + cy;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const o = s * hw + y * w + xx;
        const corners: [number, number, number][] = [[y0, x0, (1 - fy) * (1 - fx)], [y0, x0 + 1, (1 - fy) * fx], [y0 + 1, x0, fy * (1 - fx)], [y0 + 1, x0 + 1, fy * fx]];
        corners.forEach(([yy, xq, wt], k) => {
          const inside = yy >= 0 && yy < h && xq >= 0 && xq < w;
          idx[k]![o] = inside ? yy * w + xq : 0;
          wts[k]![o] = inside ? wt : 0;
        });
      }
    }
  }
  const backend = x.storage.backend;
  const flat = x.reshape([n, c, hw]);
  let out: Tensor | null = null;
  for (let k = 0; k < 4; k++) {
    const index = tensor(idx[k]!, { shape: [n, 1, hw], backend }).expand([n, c, hw]);
    const weight = tensor(wts[k]!, { shape: [n, 1, hw], backend }).cast(x.dtype);
    const term = flat.gather(2, index).mul(weight);
    out = out ? out.add(term) : term;
  }
  return out!.reshape([n, c, h, w]);
}

export interface AugmentOptions {
  /** Probability of a left-right flip. */
  hflip?: number;
  vflip?: number;
  /** Random crop back to the input size after zero padding by this many pixels. */
  cropPadding?: number;
  /** Largest rotation in degrees. */
  rotate?: number;
}

/** A seeded augmentation pipeline: rotation, then crop, then flips. */
export class Augment {
  readonly generator: Generator;
  constructor(readonly opts: AugmentOptions, seed = 0) {
    this.generator = new Generator(seed);
  }
  get active(): boolean {
    const o = this.opts;
    return Boolean(o.hflip || o.vflip || o.cropPadding || o.rotate);
  }
  apply(x: Tensor): Tensor {
    const o = this.opts;
    const g = this.generator;
    let y = x;
    if (o.rotate) y = randomRotation(y, o.rotate, g);
    if (o.cropPadding) y = randomCrop(y, [x.shape[2]!, x.shape[3]!], o.cropPadding, g);
    if (o.hflip) y = randomFlip(y, o.hflip, g);
    if (o.vflip) y = randomFlip(y, o.vflip, g, true);
    return y;
  }
}
