/** @file argsort along one dimension on the CPU: a stable sort of each line's indices, NaN as the largest value (PyTorch's order). */
import type { TypedArray } from '../../core/dtype.js';
import { contiguousStrides } from '../../core/shape.js';
import { type Strided, forEachRow } from './strided.js';

/** out (i32, dense, x's shape) = for each line along `dim`, the indices that sort it. */
export function argsort(x: Strided, dim: number, descending: boolean, out: TypedArray): void {
  const len = x.shape[dim]!;
  const os = contiguousStrides(x.shape);
  const others = x.shape.map((d, i) => (i === dim ? 1 : d));
  const idx = Array.from({ length: len }, (_, k) => k);
  const key = new Float64Array(len);
  // NaN last ascending, first descending; Array.prototype.sort is stable, so ties keep index order.
  const order = descending
    ? (a: number, b: number) => (Number.isNaN(key[a]!) ? (Number.isNaN(key[b]!) ? 0 : -1) : Number.isNaN(key[b]!) ? 1 : key[b]! - key[a]!)
    : (a: number, b: number) => (Number.isNaN(key[a]!) ? (Number.isNaN(key[b]!) ? 0 : 1) : Number.isNaN(key[b]!) ? -1 : key[a]! - key[b]!);
  forEachRow([...others, 1], [[...x.strides, 0], [...os, 0]], [x.offset, 0], ([src, dst]) => {
    for (let k = 0; k < len; k++) {
      key[k] = x.data[src! + k * x.strides[dim]!]!;
      idx[k] = k;
    }
    idx.sort(order);
    for (let k = 0; k < len; k++) out[dst! + k * os[dim]!] = idx[k]!;
  });
}
