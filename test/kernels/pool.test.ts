/** @file Max-pool indices: the 2x2 stride-2 fast path and the general wasm kernel against plain references with ties, NaN and infinities (first maximum wins, NaN wins over numbers, first NaN wins). */
import { describe, expect, it } from 'vitest';
import { maxPool2dIndices } from '../../kernels/cpu/pool.js';
import { maxPoolF32 } from '../../kernels/cpu/wasm.js';
import { Generator } from '../../index.js';
import { CpuBackend } from '../../engine/cpu/backend.js';

const backend = new CpuBackend();
const heapOf = <T extends Float32Array | Int32Array>(n: number, dtype: 'f32' | 'i32'): T => (backend.alloc(Math.max(n, 256), dtype) as unknown as { data: T }).data.subarray(0, n) as T;

const g = new Generator(3);

/** PyTorch's rule, written out: scan the window in order, keep the first maximum, a NaN beats any number. */
function reference(x: Float32Array, planes: number, H: number, W: number): Int32Array {
  const [OH, OW] = [Math.floor(H / 2), Math.floor(W / 2)];
  const out = new Int32Array(planes * OH * OW);
  let o = 0;
  for (let p = 0; p < planes; p++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let at = -1;
    let best = 0;
    for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
      const pos = (2 * oh + i) * W + 2 * ow + j;
      const v = x[p * H * W + pos]!;
      if (at < 0 || (Number.isNaN(v) ? !Number.isNaN(best) : v > best)) [at, best] = [pos, v];
    }
    out[o++] = at;
  }
  return out;
}

describe('maxPool2d indices, 2x2 stride 2', () => {
  it('matches the reference on ties, NaN and odd sizes', () => {
    const [N, C, H, W] = [2, 3, 7, 9];
    const x = Float32Array.from({ length: N * C * H * W }, (_, i) => (i % 7 === 0 ? NaN : i % 5 === 0 ? 1 : Math.round(g.uniform() * 4)));
    const out = new Int32Array(N * C * 3 * 4);
    maxPool2dIndices({ data: x, shape: [N, C, H, W], strides: [C * H * W, H * W, W, 1], offset: 0 }, out, { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] }, [N, C, 3, 4], 'f32');
    expect(Array.from(out)).toEqual(Array.from(reference(x, N * C, H, W)));
  });

  it('runs as wasm SIMD over tensors in the heap with the indices of the reference: whole vectors, row tails, ties and NaN', () => {
    for (const [N, C, H, W] of [[4, 8, 28, 28], [2, 3, 29, 31], [1, 16, 8, 6], [3, 2, 2, 2], [64, 16, 14, 14]] as const) {
      const [OH, OW] = [Math.floor(H / 2), Math.floor(W / 2)];
      const x = heapOf<Float32Array>(N * C * H * W, 'f32');
      x.forEach((_, i) => (x[i] = i % 11 === 0 ? NaN : i % 3 === 0 ? 2 : Math.round(g.uniform() * 4)));
      const out = heapOf<Int32Array>(N * C * OH * OW, 'i32');
      out.fill(-7);
      maxPool2dIndices({ data: x, shape: [N, C, H, W], strides: [C * H * W, H * W, W, 1], offset: 0 }, out, { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] }, [N, C, OH, OW], 'f32');
      expect(Array.from(out), `${N}x${C}x${H}x${W}`).toEqual(Array.from(reference(x, N * C, H, W)));
    }
  });
});

describe('maxPool2d indices, any window, as wasm', () => {
  it('gives the JavaScript loop\'s indices for padded, strided and dilated windows, over threads where the work is large', () => {
    const cases: [number[], Parameters<typeof maxPool2dIndices>[2]][] = [
      [[8, 64, 32, 32], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1] }], // ResNet's stem
      [[2, 3, 7, 9], { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] }],
      [[1, 4, 9, 8], { kernel: [2, 3], stride: [1, 2], padding: [1, 0], dilation: [2, 2] }],
      [[2, 2, 5, 5], { kernel: [5, 5], stride: [3, 3], padding: [2, 2], dilation: [1, 1] }],
    ];
    for (const [[N, C, H, W], p] of cases) {
      const OH = Math.floor((H + 2 * p.padding[0] - p.dilation[0] * (p.kernel[0] - 1) - 1) / p.stride[0]) + 1;
      const OW = Math.floor((W + 2 * p.padding[1] - p.dilation[1] * (p.kernel[1] - 1) - 1) / p.stride[1]) + 1;
      const x = heapOf<Float32Array>(N! * C! * H! * W!, 'f32');
      x.forEach((_, i) => (x[i] = i % 13 === 0 ? NaN : i % 17 === 0 ? -Infinity : i % 3 === 0 ? 2 : Math.round(g.uniform() * 4)));
      const view = { data: x, shape: [N!, C!, H!, W!], strides: [C! * H! * W!, H! * W!, W!, 1], offset: 0 };
      const out = heapOf<Int32Array>(N! * C! * OH * OW, 'i32');
      out.fill(-7);
      expect(maxPoolF32(x, 0, N! * C!, H!, W!, OH, OW, p, out)).toBe(true);
      // An output outside the heap takes the JavaScript loop.
      const want = new Int32Array(out.length);
      maxPool2dIndices(view, want, p, [N!, C!, OH, OW], 'f32');
      expect(Array.from(out), `${[N, C, H, W]} ${JSON.stringify(p)}`).toEqual(Array.from(want));
    }
  });
});
