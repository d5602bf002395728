/** @file Layout CPU kernels: concatenation and constant padding (negative pads crop). */
import type { TypedArray } from '../../core/dtype.js';
import { contiguousStrides } from '../../core/shape.js';
import { type Strided, copyStrided } from './strided.js';
import { copyViewF32, fillZero } from './wasm.js';

/** A view copied by wasm where both sides are f32 in the heap, else by the strided JavaScript copy. */
function copy(src: Strided, dst: Strided): void {
  if (!copyViewF32(src, dst)) copyStrided(src, dst);
}

export function concat(inputs: readonly Strided[], dim: number, out: TypedArray, outShape: readonly number[]): void {
  const strides = contiguousStrides(outShape);
  let at = 0;
  for (const x of inputs) {
    copy(x, { data: out, shape: x.shape, strides, offset: at * strides[dim]! });
    at += x.shape[dim]!;
  }
}

/** out = x padded by pads[d] = [before, after] per dimension with `value`; negative amounts crop. */
export function pad(x: Strided, pads: readonly (readonly [number, number])[], value: number, out: TypedArray, outShape: readonly number[]): void {
  if (value === 0) fillZero(out);
  else out.fill(value);
  const strides = contiguousStrides(outShape);
  const shape: number[] = [];
  let srcOff = x.offset;
  let dstOff = 0;
  for (let d = 0; d < outShape.length; d++) {
    const [before] = pads[d]!;
    const srcStart = Math.max(0, -before);
    const dstStart = Math.max(0, before);
    const len = Math.min(x.shape[d]! - srcStart, outShape[d]! - dstStart);
    if (len <= 0) return;
    shape.push(len);
    srcOff += srcStart * x.strides[d]!;
    dstOff += dstStart * strides[d]!;
  }
  copy({ data: x.data, shape, strides: x.strides, offset: srcOff }, { data: out, shape, strides, offset: dstOff });
}
