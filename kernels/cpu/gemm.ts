/** @file Cache-blocked matrix multiply for the CPU backend: C[M,N] = A[M,K] * B[K,N], row-major. */

type F = Float32Array | Float64Array;

const BK = 128;
const BN = 256;

/**
 * Accumulates A*B into C (C must be zeroed by the caller when a plain product is wanted).
 * Blocks K and N so a panel of B stays in cache, and works four rows of A at a time so every
 * load of B feeds four multiply-adds.
 */
export function gemm(
  m: number, n: number, k: number,
  a: F, aOff: number, lda: number,
  b: F, bOff: number, ldb: number,
  c: F, cOff: number, ldc: number,
): void {
  for (let k0 = 0; k0 < k; k0 += BK) {
    const k1 = Math.min(k, k0 + BK);
    for (let j0 = 0; j0 < n; j0 += BN) {
      const j1 = Math.min(n, j0 + BN);
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const c0 = cOff + i * ldc;
        const c1 = c0 + ldc;
        const c2 = c1 + ldc;
        const c3 = c2 + ldc;
        const a0 = aOff + i * lda;
        for (let p = k0; p < k1; p++) {
          const x0 = a[a0 + p]!;
          const x1 = a[a0 + lda + p]!;
          const x2 = a[a0 + 2 * lda + p]!;
          const x3 = a[a0 + 3 * lda + p]!;
          const bRow = bOff + p * ldb;
          for (let j = j0; j < j1; j++) {
            const y = b[bRow + j]!;
            c[c0 + j] += x0 * y;
            c[c1 + j] += x1 * y;
            c[c2 + j] += x2 * y;
            c[c3 + j] += x3 * y;
          }
        }
      }
      for (; i < m; i++) {
        const c0 = cOff + i * ldc;
        const a0 = aOff + i * lda;
        for (let p = k0; p < k1; p++) {
          const x0 = a[a0 + p]!;
          const bRow = bOff + p * ldb;
          for (let j = j0; j < j1; j++) c[c0 + j] += x0 * b[bRow + j]!;
        }
      }
    }
  }
}
