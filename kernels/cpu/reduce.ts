/** @file Reduction CPU kernels (sum, mean, max, argmax) over any set of axes. */
import { GraftValueError } from '../../core/errors.js';
import { allocArray, type DType, type TypedArray } from '../../core/dtype.js';
import { type Strided, toDense } from './strided.js';
import { reduceRowsF32 } from './wasm.js';
import type { ReduceKind } from '../../core/params.js';

/**
 * Reduces `x` over `dims` into the contiguous `out`. The kept axes are moved first and the input
 * made dense in that order, so each output reduces one contiguous run.
 */
export function reduce(kind: ReduceKind, x: Strided, dims: readonly number[], out: TypedArray, xDtype: DType): void {
  const rank = x.shape.length;
  const kept = [...Array(rank).keys()].filter((d) => !dims.includes(d));
  const order = [...kept, ...dims];
  const permuted: Strided = {
    data: x.data,
    shape: order.map((d) => x.shape[d]!),
    strides: order.map((d) => x.strides[d]!),
    offset: x.offset,
  };
  const data = toDense(permuted, (n) => allocArray(xDtype, n));
  let run = 1;
  for (const d of dims) run *= x.shape[d]!;
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
