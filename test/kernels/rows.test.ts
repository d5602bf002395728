/** @file The wasm row passes behind the CPU convolution (bias and clamp, fills, accumulation, row copies) against plain loops, bit for bit, for every tail length. */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { addBlocksF32, biasClampF32, copyViewF32, denseCopyF32, fillRowsF32, heapScratch, zeroF32 } from '../../kernels/cpu/wasm.js';
import { copyStrided, toDense } from '../../kernels/cpu/strided.js';
import { Generator } from '../../index.js';

const backend = new CpuBackend();
const g = new Generator(9);
const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 5.9999995, 6, 6.0000005, -1e-30];
const heap = (n: number) => (backend.alloc(Math.max(n, 256), 'f32') as unknown as { data: Float32Array }).data.subarray(0, n);
const fillRandom = (a: Float32Array) => a.forEach((_, i) => (a[i] = i % 5 === 0 ? SPECIAL[i % SPECIAL.length]! : (g.uniform() * 2 - 1) * 8));
const sameBits = (a: Float32Array, b: Float32Array) => a.every((v, i) => Object.is(v, b[i]));

describe('wasm row passes', () => {
  for (const L of [1, 2, 3, 4, 5, 7, 8, 9, 33]) {
    it(`bias and clamp in place over rows of ${L}, leaving the rest of the buffer alone`, () => {
      const count = 6;
      for (const [bias, lo, hi] of [[true, 0, 6], [false, 0, Infinity], [true, -Infinity, Infinity], [true, -0.25, 0.3]] as const) {
        const o = heap(count * L + 8);
        fillRandom(o);
        const want = o.slice();
        const b = bias ? Float32Array.from({ length: count }, (_, i) => (i % 2 ? -0.5 : 1.25) * i) : null;
        for (let r = 0; r < count; r++) {
          for (let i = 1 + r * L; i < 1 + (r + 1) * L; i++) {
            const v = want[i]! + (b ? b[r]! : 0);
            want[i] = v < lo ? lo : v > hi ? hi : v;
          }
        }
        expect(biasClampF32(o, 1, count, L, b, lo, hi)).toBe(true);
        expect(sameBits(o, want), `bias ${bias}, clamp [${lo}, ${hi}]`).toBe(true);
      }
    });

    it(`fills and accumulates rows of ${L} exactly`, () => {
      const count = 5;
      const o = heap(count * L + 8);
      fillRandom(o);
      const want = o.slice();
      const values = Float32Array.from({ length: count }, (_, i) => i - 2.5);
      for (let r = 0; r < count; r++) want.fill(values[r]!, 2 + r * L, 2 + (r + 1) * L);
      expect(fillRowsF32(o, 2, count, L, values)).toBe(true);
      expect(sameBits(o, want)).toBe(true);
      const src = heapScratch(L + 3)!;
      fillRandom(src.data);
      for (let i = 0; i < L; i++) want[3 + i] = want[3 + i]! + src.data[1 + i]!;
      expect(addBlocksF32(o, 3, 0, 0, src.data, 1, 0, 0, 1, 1, L)).toBe(true); // one row
      src.done();
      expect(sameBits(o, want)).toBe(true);
    });
  }

  it('copies permuted, transposed and flipped views densely by wasm, as the JavaScript copy does', () => {
    const [a, b, c, d] = [3, 5, 4, 6];
    const data = heap(a * b * c * d + 7);
    fillRandom(data);
    // [a, b, c, d] from offset 7, viewed as [b, a, c, d] (the weight gradient's permute).
    const view = { data, shape: [b, a, c, d], strides: [c * d, b * c * d, d, 1], offset: 7 };
    const copy = denseCopyF32(view)!;
    expect(sameBits(copy.data, toDense(view, (n) => new Float32Array(n)) as Float32Array)).toBe(true);
    copy.done();
    // Unit-stride rows under three other dimensions (blocks of rows walked in wasm, one outer walked
    // here), a single row, no unit-stride rows (fully transposed), and flipped (negative strides, as
    // the input gradient's kernel).
    for (const v of [{ data, shape: [a, c, b, d], strides: [b * c * d, d, c * d, 1], offset: 7 }, { data, shape: [d], strides: [1], offset: 9 },{ data, shape: [d, c, b, a], strides: [1, d, c * d, b * c * d], offset: 7 }, { data, shape: [a, b, c, d], strides: [b * c * d, c * d, -d, -1], offset: 7 + (c - 1) * d + d - 1 },
      // A strided convolution's phase taps: every other row and column, flipped, channels swapped (three axes a call), and without the outer axis.
      { data, shape: [b, a, 2, 3], strides: [c * d, b * c * d, -2 * d, -2], offset: 7 + 2 * d + 4 }, { data, shape: [a, 2, 3], strides: [b * c * d, -2 * d, -2], offset: 7 + 2 * d + 4 }]) {
      const moved = denseCopyF32(v)!;
      expect(sameBits(moved.data, toDense(v, (k) => new Float32Array(k)) as Float32Array)).toBe(true);
      moved.done();
    }
  });

  it('adds blocks of rows across two strides in one pass, as the loop does', () => {
    const [A, B, n] = [5, 7, 9];
    const src = heap(A * B * n + 3);
    const dst = heap(B * 13 * n + 2);
    fillRandom(src);
    fillRandom(dst);
    const want = dst.slice();
    for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) want[2 + a * n + b * 13 * n + i] = want[2 + a * n + b * 13 * n + i]! + src[3 + a * B * n + b * n + i]!;
    expect(addBlocksF32(dst, 2, n, 13 * n, src, 3, B * n, n, A, B, n)).toBe(true);
    expect(sameBits(dst, want)).toBe(true);
  });
  it('copies a view into a view (padding, concatenation) bit for bit, refusing what it cannot copy by rows', () => {
    // [2, 3, 5, 7] at an offset into the interior of a [2, 3, 8, 9] buffer, and a permuted source read by rows of its last dimension.
    const src = heap(2 * 3 * 5 * 7 + 3);
    fillRandom(src);
    const from = { data: src, shape: [2, 3, 5, 7], strides: [105, 35, 7, 1], offset: 3 };
    const into = (dst: Float32Array) => ({ data: dst, shape: [2, 3, 5, 7], strides: [216, 72, 9, 1], offset: 9 * 2 + 1 });
    const [a, b] = [heap(2 * 3 * 8 * 9), heap(2 * 3 * 8 * 9)];
    fillRandom(a);
    b.set(a);
    expect(copyViewF32(from, into(a))).toBe(true);
    copyStrided(from, into(b));
    expect(sameBits(a, b)).toBe(true);
    const swapped = { ...from, shape: [3, 2, 5, 7], strides: [35, 105, 7, 1] };
    const [c, d] = [heap(210), heap(210)];
    expect(copyViewF32(swapped, { data: c, shape: [3, 2, 5, 7], strides: [70, 35, 7, 1], offset: 0 })).toBe(true);
    copyStrided(swapped, { data: d, shape: [3, 2, 5, 7], strides: [70, 35, 7, 1], offset: 0 });
    expect(sameBits(c, d)).toBe(true);
    expect(copyViewF32({ ...from, shape: [2, 3, 7, 5], strides: [105, 35, 1, 7] }, { data: c, shape: [2, 3, 7, 5], strides: [105, 35, 5, 1], offset: 0 })).toBe(false);
    expect(copyViewF32(from, { ...into(a), data: new Float32Array(a.length) })).toBe(false); // outside the heap
    expect(zeroF32(a)).toBe(true);
    expect(a.every((v) => Object.is(v, 0))).toBe(true);
  });
  it('copies transposed rows of every length bit for bit: short ones by vectors, long ones by memory.copy', () => {
    for (const n of [2, 3, 4, 5, 9, 15, 16, 17, 31, 32, 33, 40]) {
      // A [4, 3, n] view of a [3, 4, n] buffer (the first two axes swapped), as a weight gradient's transpose.
      const src = heap(12 * n);
      fillRandom(src);
      const view = { data: src, shape: [4, 3, n], strides: [n, 4 * n, 1], offset: 0 };
      const dense = { shape: [4, 3, n], strides: [3 * n, n, 1], offset: 0 };
      const [a, b] = [heap(12 * n + 1), heap(12 * n + 1)];
      fillRandom(a);
      b.set(a);
      expect(copyViewF32(view, { data: a, ...dense })).toBe(true);
      copyStrided(view, { data: b, ...dense });
      expect(sameBits(a, b), `rows of ${n}`).toBe(true);
    }
  });
});
