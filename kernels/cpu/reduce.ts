/** @file Reduction CPU kernels (sum, mean, max, argmax) over any set of axes. */
import { GraftValueError } from '../../core/errors.js';
import { allocArray, type DType, type TypedArray } from '../../core/dtype.js';
import { type Strided, isContiguous, toDense } from './strided.js';
import { denseCopyF32, reduceRowsF32 } from './wasm.js';
import type { ReduceKind } from '../../core/params.js';
import { contiguousStrides } from '../../core/shape.js';

/**
 * Reduces `x` over `dims` into the contiguous `out`. The kept axes are moved first and the input
 * made dense in that order, so each output reduces one contiguous run.
 */
export function reduce(kind: ReduceKind, x: Strided, dims: readonly number[], out: TypedArray, xDtype: DType): void {
  if (kind !== 'argmax' && x.data instanceof Float32Array && reduceSuffixFirst(kind, x, dims, out)) return;
  const rank = x.shape.length;
  const kept = [...Array(rank).keys()].filter((d) => !dims.includes(d));
  const order = [...kept, ...dims];
  const permuted: Strided = {
    data: x.data,
    shape: order.map((d) => x.shape[d]!),
    strides: order.map((d) => x.strides[d]!),
    offset: x.offset,
  };
  // f32 views in the heap are made dense by wasm; the loop below is the reference.
  const copy = x.data instanceof Float32Array && !isContiguous(permuted.shape, permuted.strides) ? denseCopyF32(permuted) : null;
  try {
    reduceDense(kind, copy?.data ?? toDense(permuted, (n) => allocArray(xDtype, n)), dims.reduce((a, d) => a * x.shape[d]!, 1), out);
  } finally {
    copy?.done();
  }
}

/**
 * A contiguous f32 x reduced over leading and trailing axes (BatchNorm's [N, C, H, W] over 0, 2, 3)
 * without moving it: the trailing run first, one wasm row each, then the partials (equal counts,
 * so a mean of means is the mean). False when x is not of that form.
 */
function reduceSuffixFirst(kind: 'sum' | 'mean' | 'max', x: Strided, dims: readonly number[], out: TypedArray): boolean {
  const rank = x.shape.length;
  if (!isContiguous(x.shape, x.strides)) return false;
  let split = rank;
  while (split > 0 && dims.includes(split - 1)) split--;
  if (split === rank || !dims.some((d) => d < split)) return false;
  let inner = 1;
  for (let d = split; d < rank; d++) inner *= x.shape[d]!;
  if (inner < 8) return false;
  const outerShape = x.shape.slice(0, split);
  const outer = outerShape.reduce((a, b) => a * b, 1);
  const partials = new Float32Array(outer);
  if (!reduceRowsF32(kind, (x.data as Float32Array).subarray(x.offset, x.offset + outer * inner), inner, partials)) return false;
  reduce(kind, { data: partials, shape: outerShape, strides: contiguousStrides(outerShape), offset: 0 }, dims.filter((d) => d < split), out, 'f32');
  return true;
}

/** out[o] = the reduction of the contiguous run data[o*run .. (o+1)*run). */
function reduceDense(kind: ReduceKind, data: TypedArray, run: number, out: TypedArray): void {
  // Rows long enough to fill vectors: wasm SIMD (f32 sums in f64, as below).
  if (kind !== 'argmax' && run >= 8 && data instanceof Float32Array && out instanceof Float32Array && reduceRowsF32(kind, data, run, out)) return;
  const nOut = out.length;
  for (let o = 0; o < nOut; o++) {
    const base = o * run;
    switch (kind) {
      case 'sum':
      case 'mean': {
        let acc = 0;
        for (let i = 0; i < run; i++) acc += data[base + i]!;
        // PyTorch sums i32 into int64; graft keeps i32, so a sum it cannot hold is refused, not wrapped.
        if (out instanceof Int32Array && !(acc >= -2147483648 && acc <= 2147483647)) {
          throw new GraftValueError(`sum: the i32 sum ${acc} overflows i32 (cast to f32 or f64 first)`);
        }
        out[o] = kind === 'mean' ? acc / run : acc;
        break;
      }
      case 'max': {
        let m = -Infinity;
        for (let i = 0; i < run; i++) {
          const v = data[base + i]!;
          if (v > m || Number.isNaN(v)) {
            m = v;
            if (Number.isNaN(v)) break;
          }
        }
        out[o] = m;
        break;
      }
      case 'argmax': {
        let m = -Infinity;
        let at = 0;
        for (let i = 0; i < run; i++) {
          const v = data[base + i]!;
          if (v > m || Number.isNaN(v)) {
            m = v;
            at = i;
            if (Number.isNaN(v)) break;
          }
        }
        out[o] = at;
        break;
      }
    }
  }
}
