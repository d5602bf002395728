/** @file The CPU row walker's layout merging: rows as long as the layouts allow, and copies that stay exact through it. */
import { describe, expect, it } from 'vitest';
import { contiguousStrides } from '../../core/shape.js';
import { coalesce, copyStrided } from '../../kernels/cpu/strided.js';

describe('coalesce', () => {
  it('merges what every stride set walks as one, drops size-1 dimensions, keeps the rest apart', () => {
    // A dense [2,3,4,5] output and a per-channel [1,3,1,1] operand: rows of 4*5.
    expect(coalesce([2, 3, 4, 5], [[60, 20, 5, 1], [0, 1, 0, 0]])).toEqual({ shape: [2, 3, 20], strides: [[60, 20, 1], [0, 1, 0]] });
    expect(coalesce([2, 3, 4], [[12, 4, 1]])).toEqual({ shape: [24], strides: [[1]] });
    // A transposed operand cannot merge its dimensions.
    expect(coalesce([3, 4], [[4, 1], [1, 3]])).toEqual({ shape: [3, 4], strides: [[4, 1], [1, 3]] });
    expect(coalesce([1, 1], [[1, 1]])).toEqual({ shape: [], strides: [[]] });
  });

  it('copyStrided gives element-by-element results for transposed, sliced and broadcast sources', () => {
    const src = Float32Array.from({ length: 120 }, (_, i) => i);
    const cases = [
      { shape: [4, 5, 6], strides: [1, 4, 20], offset: 0 },
      { shape: [2, 3, 4], strides: [40, 10, 2], offset: 3 },
      { shape: [3, 4, 5], strides: [0, 5, 1], offset: 7 },
      { shape: [2, 1, 5], strides: [7, 99, 1], offset: 1 },
    ];
    for (const v of cases) {
      const n = v.shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      copyStrided({ data: src, ...v }, { data: out, shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 });
      const want: number[] = [];
      const walk = (d: number, at: number) => {
        if (d === v.shape.length) return void want.push(src[at]!);
        for (let i = 0; i < v.shape[d]!; i++) walk(d + 1, at + i * v.strides[d]!);
      };
      walk(0, v.offset);
      expect(Array.from(out), JSON.stringify(v)).toEqual(want);
    }
  });
});
