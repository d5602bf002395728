/** @file Kernels with one thread per line along a dimension (cumsum, argsort): the lines' count, each line's first element in the input and the output, and the steps along it. */
import type { Operand } from './common.js';

/**
 * meta: lines, length, x's step and out's step along `dim`, x's offset | shape | x strides | out
 * strides. `start` is the WGSL that sets `src` and `dst`, line i's first element in x and out.
 */
export function linesAlong(x: Operand, out: Operand, dim: number): { lines: number; meta: number[]; start: string } {
  const rank = x.shape.length;
  const lines = x.shape.reduce((a, b) => a * b, 1) / x.shape[dim]!;
  const meta = [lines, x.shape[dim]!, x.strides[dim]!, out.strides[dim]!, x.offset, ...x.shape, ...x.strides, ...out.strides];
  const unravel: string[] = [];
  for (let d = rank - 1; d >= 0; d--) {
    if (d === dim) continue;
    unravel.push(`{ let c = i32(rem % u32(m(${5 + d}u))); rem = rem / u32(m(${5 + d}u)); src += c * m(${5 + rank + d}u); dst += c * m(${5 + 2 * rank + d}u); }`);
  }
  const start = `var rem = i;
  var src = m(4u);
  var dst = 0;
  ${unravel.join('\n  ')}`;
  return { lines, meta, start };
}
