/** @file gather and scatterAdd along one dimension (PyTorch semantics), with index bounds checked. */
import type { TypedArray } from '../../engine/dtype.js';
import { contiguousStrides } from '../../engine/shape.js';
import { type Strided, offsetsOf } from './strided.js';

/** Reports the first out-of-range index value, so the caller can name it in its error. */
export class IndexOutOfRange {
  constructor(readonly value: number, readonly size: number) {}
}

/** Positions of x (excluding `dim`) that each element of `index` addresses, plus index values. */
function addressing(x: Strided, index: Strided, dim: number): { xBase: Int32Array; idx: Int32Array } {
  const xStridesNoDim = x.strides.map((s, d) => (d === dim ? 0 : s));
  const xBase = offsetsOf(index.shape, xStridesNoDim, x.offset);
  const pos = offsetsOf(index.shape, index.strides, index.offset);
  const idx = new Int32Array(pos.length);
  for (let i = 0; i < pos.length; i++) idx[i] = index.data[pos[i]!]!;
  return { xBase, idx };
}

/** out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1; out is contiguous with index's shape. */
export function gather(x: Strided, index: Strided, dim: number, out: TypedArray): IndexOutOfRange | null {
  const { xBase, idx } = addressing(x, index, dim);
  const size = x.shape[dim]!;
  const step = x.strides[dim]!;
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= size) return new IndexOutOfRange(v, size);
    out[i] = x.data[xBase[i]! + v * step]!;
  }
  return null;
}

/** out = base; out[i][index[i][j][k]][k] += src[i][j][k] for dim = 1; out is contiguous with base's shape. */
export function scatterAdd(base: Strided, index: Strided, src: Strided, dim: number, out: TypedArray): IndexOutOfRange | null {
  const shape = base.shape;
  const outStrides = contiguousStrides(shape);
  const basePos = offsetsOf(shape, base.strides, base.offset);
  for (let i = 0; i < basePos.length; i++) out[i] = base.data[basePos[i]!]!;
  const { xBase, idx } = addressing({ data: out, shape, strides: outStrides, offset: 0 }, index, dim);
  const srcPos = offsetsOf(index.shape, src.strides.slice(0, index.shape.length), src.offset);
  const size = shape[dim]!;
  const step = outStrides[dim]!;
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= size) return new IndexOutOfRange(v, size);
    out[xBase[i]! + v * step] += src.data[srcPos[i]!]!;
  }
  return null;
}
