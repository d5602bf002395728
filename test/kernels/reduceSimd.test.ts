/** @file WebAssembly SIMD row reductions against the JavaScript loops: sums as exact as an f64 accumulation, max exact with NaN, infinities and every row length. */
import { describe, expect, it } from 'vitest';
import { Generator } from '../../index.js';
import { reduceRowsF32 } from '../../kernels/cpu/wasm.js';
import { reduce } from '../../kernels/cpu/reduce.js';
import { cpuThreads, setCpuThreads } from '../../index.js';
import { availableParallelism } from 'node:os';

const g = new Generator(5);

/** ulp distance between two finite f32 values of the same sign. */
const ulps = (a: number, b: number) => Math.abs(new Int32Array(Float32Array.of(a).buffer)[0]! - new Int32Array(Float32Array.of(b).buffer)[0]!);

describe('wasm SIMD row reductions', () => {
  for (const run of [4, 5, 7, 8, 15, 16, 17, 31, 64, 1000, 1023]) {
    it(`sum, mean and max over rows of ${run}`, () => {
      const count = 37;
      const x = Float32Array.from({ length: count * run }, () => (g.uniform() * 2 - 1) * 100);
      x[3 * run + (run >> 1)] = NaN; // row 3 holds a NaN
      x[5 * run] = Infinity; // row 5 an infinity
      for (let i = 0; i < run; i++) x[7 * run + i] = i % 2 ? -0 : 0; // row 7 only zeros
      for (const kind of ['sum', 'mean', 'max'] as const) {
        const out = new Float32Array(count);
        expect(reduceRowsF32(kind, x, run, out)).toBe(true);
        for (let o = 0; o < count; o++) {
          const row = x.subarray(o * run, (o + 1) * run);
          let want: number;
          if (kind === 'max') want = row.some(Number.isNaN) ? NaN : Math.max(...row);
          else want = Math.fround(row.reduce((a, v) => a + v, 0) / (kind === 'mean' ? run : 1));
          const got = out[o]!;
          if (!Number.isFinite(want) || want === 0) expect(got === want || (Number.isNaN(got) && Number.isNaN(want)), `${kind} of row ${o}: ${got}, want ${want}`).toBe(true);
          else expect(ulps(got, want), `${kind} of row ${o}: ${got}, want ${want}`).toBeLessThanOrEqual(kind === 'max' ? 0 : 1);
        }
      }
    });
  }
  it('splits many rows over worker threads with the single-thread bits', async () => {
    const want = Math.min(2, availableParallelism());
    for (let t = 0; t < 100 && cpuThreads() < want; t++) await new Promise((r) => setTimeout(r, 50));
    expect(cpuThreads()).toBeGreaterThanOrEqual(want);
    const [count, run] = [513, 257];
    const x = Float32Array.from({ length: count * run }, () => (g.uniform() * 2 - 1) * 100);
    for (const kind of ['sum', 'mean', 'max'] as const) {
      const [many, one] = [new Float32Array(count), new Float32Array(count)];
      expect(reduceRowsF32(kind, x, run, many)).toBe(true);
      setCpuThreads(1);
      try {
        expect(reduceRowsF32(kind, x, run, one)).toBe(true);
      } finally {
        setCpuThreads(64);
      }
      expect(Array.from(many), kind).toEqual(Array.from(one));
    }
  });
  it('reduces leading and trailing axes (BatchNorm\'s 0, 2, 3) trailing run first, as the f64 loop does', () => {
    const shape = [3, 5, 4, 8];
    const size = 480;
    const x = Float32Array.from({ length: size }, () => (g.uniform() * 2 - 1) * 10);
    x[2 * 160 + 3 * 32 + 5] = NaN; // channel 3 holds a NaN
    const strides = [160, 32, 8, 1];
    for (const dims of [[0, 2, 3], [0, 3], [0, 1, 3], [1, 2, 3], [0, 1, 2, 3]]) {
      const kept = shape.filter((_, d) => !dims.includes(d));
      const count = kept.reduce((a, b) => a * b, 1);
      for (const kind of ['sum', 'mean', 'max'] as const) {
        const [got, want] = [new Float32Array(count), new Float64Array(count)];
        reduce(kind, { data: x, shape, strides, offset: 0 }, dims, got, 'f32');
        reduce(kind, { data: Float64Array.from(x), shape, strides, offset: 0 }, dims, want, 'f64');
        for (let o = 0; o < count; o++) {
          const [a, b] = [got[o]!, want[o]!];
          if (Number.isNaN(b)) expect(a, `${kind} over ${dims} at ${o}`).toBeNaN();
          else expect(Math.abs(a - b), `${kind} over ${dims} at ${o}: ${a}, want ${b}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b)));
        }
      }
    }
  });
});
