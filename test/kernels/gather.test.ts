/** @file gather and scatterAdd along the last axis in wasm against the JavaScript loops: values bit for bit, f32 and i32, and the first out-of-range index named. */
import { describe, expect, it } from 'vitest';
import { IndexOutOfRange, gather, scatterAdd } from '../../kernels/cpu/gather.js';
import { lastAxisIndex } from '../../kernels/cpu/wasm.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { Generator } from '../../index.js';

const backend = new CpuBackend();
const heapOf = <T extends Float32Array | Int32Array>(n: number, dtype: 'f32' | 'i32'): T => (backend.alloc(Math.max(n, 256), dtype) as unknown as { data: T }).data.subarray(0, n) as T;
const g = new Generator(11);
const dense = (data: Float32Array | Int32Array, shape: number[]) => ({ data, shape, strides: shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1)), offset: 0 });

describe('last-axis gather and scatterAdd in wasm', () => {
  const [rows, size, cols] = [37, 29, 11];
  const index = heapOf<Int32Array>(rows * cols, 'i32');
  index.forEach((_, i) => (index[i] = Math.floor(g.uniform() * size)));
  for (const dtype of ['f32', 'i32'] as const) {
    it(`gathers ${dtype} values as the JavaScript loop does`, () => {
      const x = heapOf<Float32Array | Int32Array>(rows * size, dtype);
      x.forEach((_, i) => (x[i] = dtype === 'f32' ? (i % 7 ? g.uniform() - 0.5 : NaN) : i * 3 - 50));
      const out = heapOf<Float32Array | Int32Array>(rows * cols, dtype);
      expect(lastAxisIndex('gather', x, 0, index, 0, out, 0, rows, size, cols)).toBe(-1);
      const want = dtype === 'f32' ? new Float32Array(rows * cols) : new Int32Array(rows * cols);
      // Arrays outside the heap take the JavaScript loop.
      gather(dense(dtype === 'f32' ? Float32Array.from(x) : Int32Array.from(x), [rows, size]), dense(Int32Array.from(index), [rows, cols]), 1, want);
      expect(new Uint32Array(out.buffer, out.byteOffset, out.length)).toEqual(new Uint32Array(want.buffer));
    });
  }
  it('scatter-adds f32 values in index order, repeats accumulating', () => {
    const base = heapOf<Float32Array>(rows * size, 'f32');
    base.forEach((_, i) => (base[i] = g.uniform()));
    const src = heapOf<Float32Array>(rows * cols, 'f32');
    src.forEach((_, i) => (src[i] = g.uniform() - 0.5));
    const out = heapOf<Float32Array>(rows * size, 'f32');
    expect(scatterAdd(dense(base, [rows, size]), dense(index, [rows, cols]), dense(src, [rows, cols]), 1, out)).toBeNull();
    const want = new Float32Array(rows * size);
    scatterAdd(dense(Float32Array.from(base), [rows, size]), dense(Int32Array.from(index), [rows, cols]), dense(Float32Array.from(src), [rows, cols]), 1, want);
    expect(Array.from(out)).toEqual(Array.from(want));
  });
  it('names the first index out of range, negative or past the end', () => {
    const x = heapOf<Float32Array>(rows * size, 'f32');
    const out = heapOf<Float32Array>(rows * cols, 'f32');
    for (const [at, v] of [[5 * cols + 3, size], [17, -1], [rows * cols - 1, 1 << 30]] as const) {
      const bad = Int32Array.from(index);
      bad[at] = v;
      bad[rows * cols - 1] = at === rows * cols - 1 ? v : -5; // a later bad index is not the one reported
      const heapBad = heapOf<Int32Array>(rows * cols, 'i32');
      heapBad.set(bad);
      expect(lastAxisIndex('gather', x, 0, heapBad, 0, out, 0, rows, size, cols)).toBe(at);
      const r = gather(dense(x, [rows, size]), dense(heapBad, [rows, cols]), 1, out);
      expect(r).toBeInstanceOf(IndexOutOfRange);
      expect((r as IndexOutOfRange).value).toBe(v);
      const s = scatterAdd(dense(x, [rows, size]), dense(heapBad, [rows, cols]), dense(out, [rows, cols]), 1, heapOf<Float32Array>(rows * size, 'f32'));
      expect((s as IndexOutOfRange).value).toBe(v);
    }
  });
});
