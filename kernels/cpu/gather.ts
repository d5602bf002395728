/** @file gather and scatterAdd along one dimension (PyTorch semantics), with index bounds checked. */
import type { TypedArray } from '../../core/dtype.js';
import { contiguousStrides, sizeOf } from '../../core/shape.js';
import { type Strided, isContiguous, offsetsOf } from './strided.js';
import { copyViewF32, lastAxisIndex } from './wasm.js';

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

/**
 * Rows for the common layout (max pooling's indices, a class gathered per sample): dim is the last
 * axis, both views are dense from their offsets and index's other dimensions equal x's, so index
 * row r reads x row r. Null where the layout is any other.
 */
function lastDimRows(x: Strided, index: Strided, dim: number): { rows: number; size: number; cols: number } | null {
  const rank = x.shape.length;
  if (dim !== rank - 1 || index.shape.length !== rank) return null;
  if (!isContiguous(x.shape, x.strides) || !isContiguous(index.shape, index.strides)) return null;
  for (let d = 0; d < rank - 1; d++) if (x.shape[d] !== index.shape[d]) return null;
  const cols = index.shape[rank - 1]!;
  return { rows: cols ? sizeOf(index.shape) / cols : 0, size: x.shape[rank - 1]!, cols };
}

/** out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1; out is contiguous with index's shape. */
export function gather(x: Strided, index: Strided, dim: number, out: TypedArray): IndexOutOfRange | null {
  const fast = lastDimRows(x, index, dim);
  if (fast) {
    const { rows, size, cols } = fast;
    const [xd, id] = [x.data, index.data];
    // f32 and i32 values are moved as 4-byte words by wasm.
    if ((xd instanceof Float32Array || xd instanceof Int32Array) && id instanceof Int32Array) {
      const bad = lastAxisIndex('gather', xd, x.offset, id, index.offset, out, 0, rows, size, cols);
      if (bad !== null) return bad < 0 ? null : new IndexOutOfRange(id[index.offset + bad]!, size);
    }
    for (let r = 0, o = 0; r < rows; r++) {
      const xr = x.offset + r * size;
      for (let j = 0, ip = index.offset + r * cols; j < cols; j++, o++, ip++) {
        const v = id[ip]!;
        if (!(v >= 0 && v < size)) return new IndexOutOfRange(v, size);
        out[o] = xd[xr + v]!;
      }
    }
    return null;
  }
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
  const fast = lastDimRows(base, index, dim);
  if (fast && isContiguous(src.shape, src.strides) && src.shape.every((d, i) => d === index.shape[i])) {
    const { rows, size, cols } = fast;
    // base copied in by memory.copy where both are f32 in the heap (a typed array's set over shared memory is slow).
    const n = rows * size;
    if (!copyViewF32({ data: base.data, shape: [n], strides: [1], offset: base.offset }, { data: out, shape: [n], strides: [1], offset: 0 })) {
      out.set(base.data.subarray(base.offset, base.offset + n) as never);
    }
    const [id, sd] = [index.data, src.data];
    if (out instanceof Float32Array && sd instanceof Float32Array && id instanceof Int32Array) {
      const bad = lastAxisIndex('scatterAdd', out, 0, id, index.offset, sd, src.offset, rows, size, cols);
      if (bad !== null) return bad < 0 ? null : new IndexOutOfRange(id[index.offset + bad]!, size);
    }
    for (let r = 0; r < rows; r++) {
      const or = r * size;
      for (let j = 0, ip = index.offset + r * cols, sp = src.offset + r * cols; j < cols; j++, ip++, sp++) {
        const v = id[ip]!;
        if (!(v >= 0 && v < size)) return new IndexOutOfRange(v, size);
        out[or + v] += sd[sp]!;
      }
    }
    return null;
  }
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
