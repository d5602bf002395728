/** @file Strided array views for the CPU kernels and the row walker they share. */
import type { TypedArray } from '../../core/dtype.js';
import { broadcastStrides, contiguousStrides, isContiguous } from '../../core/shape.js';

export { isContiguous };

/** A typed array read through shape, strides and offset; kernels never see tensors. */
export interface Strided {
  data: TypedArray;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}


/**
 * Walks `shape` row by row (the last dimension is the row), keeping one running base offset per
 * stride set, and calls `fn(bases, rowLength)`; the row's inner strides are each set's last stride.
 * The odometer costs one step per row, so inner loops stay tight.
 */
export function forEachRow(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  fn: (bases: number[], n: number) => void,
): void {
  const rank = shape.length;
  const k = strides.length;
  const bases = offsets.slice();
  if (rank === 0) {
    fn(bases, 1);
    return;
  }
  for (const d of shape) if (d === 0) return;
  const n = shape[rank - 1]!;
  const outer = rank - 1;
  const idx = new Array<number>(outer).fill(0);
  for (;;) {
    fn(bases, n);
    let d = outer - 1;
    for (; d >= 0; d--) {
      idx[d]!++;
      for (let j = 0; j < k; j++) bases[j]! += strides[j]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let j = 0; j < k; j++) bases[j]! -= strides[j]![d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/**
 * Merges neighbouring dimensions that every stride set walks as one (and drops dimensions of size
 * 1), so rows are as long as the layouts allow: a per-channel operand over [N, C, H, W] gives rows
 * of H * W, not of W.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, j) => outStrides[j]![last] === s[d]! * shape[d]!)) {
      outShape[last]! *= shape[d]!;
      strides.forEach((s, j) => (outStrides[j]![last] = s[d]!));
    } else {
      outShape.push(shape[d]!);
      strides.forEach((s, j) => outStrides[j]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Offsets of every element of a strided view in row-major order. */
export function offsetsOf(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  let size = 1;
  for (const d of shape) size *= d;
  const out = new Int32Array(size);
  const last = shape.length ? strides[shape.length - 1]! : 0;
  let p = 0;
  forEachRow(shape, [strides], [offset], (b, n) => {
    let o = b[0]!;
    for (let i = 0; i < n; i++, o += last) out[p++] = o;
  });
  return out;
}

/** Copies a strided view into another strided view of the same shape, over rows as long as both layouts allow. */
export function copyStrided(src: Strided, dst: Strided): void {
  const c = coalesce(dst.shape, [broadcastStrides(src, dst.shape), dst.strides]);
  const r = c.shape.length;
  const si = r ? c.strides[0]![r - 1]! : 0;
  const di = r ? c.strides[1]![r - 1]! : 0;
  const s = src.data;
  const d = dst.data;
  forEachRow(c.shape, c.strides, [src.offset, dst.offset], (b, n) => {
    let a = b[0]!;
    let o = b[1]!;
    for (let i = 0; i < n; i++, a += si, o += di) d[o] = s[a]!;
  });
}

/** A contiguous copy of `src` (or its own data when it already is contiguous from offset 0). */
export function toDense(src: Strided, make: (size: number) => TypedArray): TypedArray {
  let size = 1;
  for (const d of src.shape) size *= d;
  if (isContiguous(src.shape, src.strides)) {
    return src.offset === 0 && src.data.length === size ? src.data : src.data.subarray(src.offset, src.offset + size);
  }
  const out = make(size);
  copyStrided(src, { data: out, shape: src.shape, strides: contiguousStrides(src.shape), offset: 0 });
  return out;
}
