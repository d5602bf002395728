/** @file Cumulative sums along one dimension: one thread per line along it, adding in order (the CPU reference's order). */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, storageType } from './common.js';

const WG = 64;

export function cumsumKernel(x: Operand, out: Operand, dim: number): KernelCall {
  const rank = x.shape.length;
  const len = x.shape[dim]!;
  const lines = x.shape.reduce((a, b) => a * b, 1) / len;
  const outStrides = out.strides;
  // meta: lines, len, x's stride and out's stride along dim, x offset | shape | x strides | out strides
  const meta = [lines, len, x.strides[dim]!, outStrides[dim]!, x.offset, ...x.shape, ...x.strides, ...outStrides];
  const T = storageType(x.dtype);
  const unravel: string[] = [];
  for (let d = rank - 1; d >= 0; d--) {
    if (d === dim) continue;
    unravel.push(`{ let c = i32(rem % u32(m(${5 + d}u))); rem = rem / u32(m(${5 + d}u)); src += c * m(${5 + rank + d}u); dst += c * m(${5 + 2 * rank + d}u); }`);
  }
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  var rem = i;
  var src = m(4u);
  var dst = 0;
  ${unravel.join('\n  ')}
  var acc = ${T}(0);
  for (var k = 0; k < m(1u); k++) {
    acc = acc + x[u32(src + k * m(2u))];
    out[u32(dst + k * m(3u))] = acc;
  }
}`;
  return { key: `cumsum:${x.dtype}:r${rank}:d${dim}`, source, meta, grid: grid1d(Math.ceil(lines / WG)), inputs: [0] };
}
