/** @file Matrix multiply for the CPU backend, C[M,N] += A[M,K] * B[K,N] row-major: the wasm SIMD kernel for f32, register-blocked TypeScript otherwise. */
import { gemmF32Shared, wasmGemmApplies } from './wasm.js';

type F = Float32Array | Float64Array;

/**
 * Accumulates A*B into C (C must be zeroed by the caller when a plain product is wanted). Each
 * 4x4 block of C is summed over all of K in sixteen local variables, so the inner loop does 16
 * multiply-adds for 8 loads and no stores; the edges that do not fill a block run a plain loop.
 */
export function gemm(
  m: number, n: number, k: number,
  a: F, aOff: number, lda: number,
  b: F, bOff: number, ldb: number,
  c: F, cOff: number, ldc: number,
): void {
  gemmShared(m, n, k, a, aOff, lda, 1, () => [b, bOff], ldb, c, () => cOff, ldc);
}

/** C_t += A * B_t for t < count, with one A (packed once on the wasm path); `bAt(t)` may fill B_t before it is read. */
export function gemmShared(
  m: number, n: number, k: number,
  a: F, aOff: number, lda: number,
  count: number, bAt: (t: number) => [F, number], ldb: number,
  c: F, cAt: (t: number) => number, ldc: number,
): void {
  // A, every B_t and C share one dtype: they are one op's operands.
  if (c instanceof Float32Array && a instanceof Float32Array && wasmGemmApplies(m, n, k) &&
    gemmF32Shared(m, n, k, a, aOff, lda, 1, count, bAt as (t: number) => [Float32Array, number], ldb, 1, c, cAt, ldc)) return;
  for (let t = 0; t < count; t++) {
    const [b, bOff] = bAt(t);
    gemmTs(m, n, k, a, aOff, lda, b, bOff, ldb, c, cAt(t), ldc);
  }
}

/** The TypeScript gemm: f64, small products, and platforms without WebAssembly SIMD. */
export function gemmTs(
  m: number, n: number, k: number,
  a: F, aOff: number, lda: number,
  b: F, bOff: number, ldb: number,
  c: F, cOff: number, ldc: number,
): void {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    const a2 = a1 + lda;
    const a3 = a2 + lda;
    for (let j = 0; j < n4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let bp = bOff + j;
      for (let p = 0; p < k; p++, bp += ldb) {
        const b0 = b[bp]!;
        const b1 = b[bp + 1]!;
        const b2 = b[bp + 2]!;
        const b3 = b[bp + 3]!;
        const x0 = a[a0 + p]!;
        const x1 = a[a1 + p]!;
        const x2 = a[a2 + p]!;
        const x3 = a[a3 + p]!;
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      const r0 = cOff + i * ldc + j;
      const r1 = r0 + ldc;
      const r2 = r1 + ldc;
      const r3 = r2 + ldc;
      c[r0] += c00; c[r0 + 1] += c01; c[r0 + 2] += c02; c[r0 + 3] += c03;
      c[r1] += c10; c[r1 + 1] += c11; c[r1 + 2] += c12; c[r1 + 3] += c13;
      c[r2] += c20; c[r2 + 1] += c21; c[r2 + 2] += c22; c[r2 + 3] += c23;
      c[r3] += c30; c[r3 + 1] += c31; c[r3 + 2] += c32; c[r3 + 3] += c33;
    }
  }
  // Right edge (columns n4..n of the blocked rows) and bottom edge (rows m4..m, all columns).
  const edge = (i0: number, i1: number, j0: number, j1: number) => {
    for (let i = i0; i < i1; i++) {
      const ai = aOff + i * lda;
      const ci = cOff + i * ldc;
      for (let j = j0; j < j1; j++) {
        let s = 0;
        for (let p = 0, bp = bOff + j; p < k; p++, bp += ldb) s += a[ai + p]! * b[bp]!;
        c[ci + j] += s;
      }
    }
  };
  if (n4 < n) edge(0, m4, n4, n);
  if (m4 < m) edge(m4, m, 0, n);
}
