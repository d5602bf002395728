/** @file Elementwise CPU kernels: unary, binary and ternary maps over broadcast, strided inputs. */
import type { TypedArray } from '../../engine/dtype.js';
import { broadcastStrides } from '../../engine/shape.js';
import { type Strided, forEachRow, isContiguous } from './strided.js';

function dense(x: Strided, shape: readonly number[], size: number): boolean {
  return x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]) && isContiguous(x.shape, x.strides) && x.data.length >= x.offset + size;
}

export function mapUnary(f: (a: number) => number, x: Strided, out: TypedArray, shape: readonly number[]): void {
  const size = out.length;
  const xd = x.data;
  if (dense(x, shape, size)) {
    const o = x.offset;
    for (let i = 0; i < size; i++) out[i] = f(xd[o + i]!);
    return;
  }
  const r = shape.length;
  const xs = broadcastStrides(x, shape);
  const xi = r ? xs[r - 1]! : 0;
  let p = 0;
  forEachRow(shape, [xs], [x.offset], (b, n) => {
    let a = b[0]!;
    for (let i = 0; i < n; i++, a += xi) out[p++] = f(xd[a]!);
  });
}

export function mapBinary(f: (a: number, b: number) => number, x: Strided, y: Strided, out: TypedArray, shape: readonly number[]): void {
  const size = out.length;
  const xd = x.data;
  const yd = y.data;
  if (dense(x, shape, size) && dense(y, shape, size)) {
    const ox = x.offset;
    const oy = y.offset;
    for (let i = 0; i < size; i++) out[i] = f(xd[ox + i]!, yd[oy + i]!);
    return;
  }
  const r = shape.length;
  const xs = broadcastStrides(x, shape);
  const ys = broadcastStrides(y, shape);
  const xi = r ? xs[r - 1]! : 0;
  const yi = r ? ys[r - 1]! : 0;
  let p = 0;
  forEachRow(shape, [xs, ys], [x.offset, y.offset], (b, n) => {
    let a = b[0]!;
    let c = b[1]!;
    for (let i = 0; i < n; i++, a += xi, c += yi) out[p++] = f(xd[a]!, yd[c]!);
  });
}

export function mapTernary(
  f: (a: number, b: number, c: number) => number,
  x: Strided,
  y: Strided,
  z: Strided,
  out: TypedArray,
  shape: readonly number[],
): void {
  const r = shape.length;
  const strides = [x, y, z].map((t) => broadcastStrides(t, shape));
  const [xi, yi, zi] = strides.map((s) => (r ? s[r - 1]! : 0)) as [number, number, number];
  const xd = x.data;
  const yd = y.data;
  const zd = z.data;
  let p = 0;
  forEachRow(shape, strides, [x.offset, y.offset, z.offset], (b, n) => {
    let a = b[0]!;
    let c = b[1]!;
    let e = b[2]!;
    for (let i = 0; i < n; i++, a += xi, c += yi, e += zi) out[p++] = f(xd[a]!, yd[c]!, zd[e]!);
  });
}
