/** @file Cumulative sums along one dimension on the CPU, adding in order, each partial sum rounded to the output dtype. */
import { GraftValueError } from '../../core/errors.js';
import type { DType, TypedArray } from '../../core/dtype.js';
import { contiguousStrides } from '../../core/shape.js';
import { type Strided, forEachRow } from './strided.js';

/** out (dense, x's shape) = the running sums of x along `dim`. */
export function cumsum(x: Strided, dim: number, out: TypedArray, dtype: DType): void {
  const len = x.shape[dim]!;
  const os = contiguousStrides(x.shape);
  // Every line along dim: walk the other dimensions, then the line itself.
  const others = x.shape.map((d, i) => (i === dim ? 1 : d));
  const round = dtype === 'f32' ? Math.fround : (v: number) => v;
  forEachRow([...others, 1], [[...x.strides, 0], [...os, 0]], [x.offset, 0], ([src, dst]) => {
    let acc = 0;
    for (let k = 0; k < len; k++) {
      acc = round(acc + x.data[src! + k * x.strides[dim]!]!);
      if (dtype === 'i32' && !(acc >= -2147483648 && acc <= 2147483647)) throw new GraftValueError(`cumsum: the i32 running sum ${acc} overflows i32 (cast to f32 first)`);
      out[dst! + k * os[dim]!] = acc;
    }
  });
}
