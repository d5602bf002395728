/** @file Batched matmul on the CPU: broadcast batch dimensions, pack strided operands, then gemm. */
import { allocArray, type DType, type TypedArray } from '../../core/dtype.js';
import { gemm } from './gemm.js';
import { fillZero, gemmF32, wasmGemmApplies } from './wasm.js';
import { broadcastStrides } from '../../core/shape.js';
import { type Strided, forEachRow, toDense } from './strided.js';

type F = Float32Array | Float64Array;

/** out[..., M, N] = a[..., M, K] @ b[..., K, N]; the batch dims of a and b broadcast to out's. */
export function matmul(a: Strided, b: Strided, out: TypedArray, outShape: readonly number[], dtype: DType): void {
  const r = outShape.length;
  const m = outShape[r - 2]!;
  const n = outShape[r - 1]!;
  const k = a.shape[a.shape.length - 1]!;
  const batchShape = outShape.slice(0, r - 2);
  const aBatch = broadcastStrides({ shape: a.shape.slice(0, -2), strides: a.strides.slice(0, -2) }, batchShape);
  const bBatch = broadcastStrides({ shape: b.shape.slice(0, -2), strides: b.strides.slice(0, -2) }, batchShape);
  const aIn = a.strides.slice(-2);
  const bIn = b.strides.slice(-2);
  const make = (size: number) => allocArray(dtype, size);
  const o = out as F;
  // The gemm accumulates; memory.fill zeroes a heap array (fill over shared memory is slow).
  fillZero(o);
  let slice = 0;
  // The batch walk is a row walk over batchShape plus a trailing unit dimension.
  const wasm = dtype === 'f32' && wasmGemmApplies(m, n, k);
  forEachRow([...batchShape, 1], [[...aBatch, 0], [...bBatch, 0]], [a.offset, b.offset], (bases) => {
    // The wasm path packs its operands anyway, so transposed and strided views go in as they are.
    if (wasm && gemmF32(m, n, k, a.data as Float32Array, bases[0]!, aIn[0]!, aIn[1]!, b.data as Float32Array, bases[1]!, bIn[0]!, bIn[1]!, o as Float32Array, slice * m * n, n)) {
      slice++;
      return;
    }
    const aMat = toDense({ data: a.data, shape: [m, k], strides: aIn, offset: bases[0]! }, make) as F;
    const bMat = toDense({ data: b.data, shape: [k, n], strides: bIn, offset: bases[1]! }, make) as F;
    const aOff = aMat === a.data ? bases[0]! : 0;
    const bOff = bMat === b.data ? bases[1]! : 0;
    gemm(m, n, k, aMat, aOff, k, bMat, bOff, n, o, slice * m * n, n);
    slice++;
  });
}
