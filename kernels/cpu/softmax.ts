/** @file softmax and logSoftmax along one dimension on the CPU: wasm SIMD over contiguous f32 rows, the f64 reference loop otherwise. */
import type { DType, TypedArray } from '../../core/dtype.js';
import { contiguousStrides, isContiguous } from '../../core/shape.js';
import { type Strided, forEachRow } from './strided.js';
import { softmaxRowsF32 } from './wasm.js';

/**
 * out (dense, x's shape) = exp(x - max) / sum(exp(x - max)) along `dim`, or with `log`,
 * (x - max) - log(sum): the row maximum subtracted first so exp cannot overflow. A NaN in a line
 * makes the whole line NaN, as the composite of max, exp and sum does.
 */
export function softmax(x: Strided, dim: number, out: TypedArray, log: boolean, dtype: DType): void {
  const n = x.shape[dim]!;
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (size === 0) return;
  if (dtype === 'f32' && dim === x.shape.length - 1 && isContiguous(x.shape, x.strides) &&
    softmaxRowsF32(x.data as Float32Array, x.offset, size / n, n, log, out as Float32Array)) return;
  const os = contiguousStrides(x.shape);
  const [sx, so] = [x.strides[dim]!, os[dim]!];
  const others = x.shape.map((d, i) => (i === dim ? 1 : d));
  forEachRow([...others, 1], [[...x.strides, 0], [...os, 0]], [x.offset, 0], ([src, dst]) => {
    let mx = -Infinity;
    for (let k = 0; k < n; k++) {
      const v = x.data[src! + k * sx]!;
      if (v > mx || v !== v) mx = v;
      if (v !== v) break;
    }
    let sum = 0;
    for (let k = 0; k < n; k++) sum += Math.exp(x.data[src! + k * sx]! - mx);
    const ls = Math.log(sum);
    for (let k = 0; k < n; k++) {
      const v = x.data[src! + k * sx]! - mx;
      out[dst! + k * so] = log ? v - ls : Math.exp(v) / sum;
    }
  });
}
