/** @file Cumulative sums along one dimension: one thread per line along it, adding in order (the CPU reference's order). */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, storageType } from './common.js';
import { linesAlong } from './lines.js';

const WG = 64;

export function cumsumKernel(x: Operand, out: Operand, dim: number): KernelCall {
  const { lines, meta, start } = linesAlong(x, out, dim);
  const T = storageType(x.dtype);
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  ${start}
  var acc = ${T}(0);
  for (var k = 0; k < m(1u); k++) {
    acc = acc + x[u32(src + k * m(2u))];
    out[u32(dst + k * m(3u))] = acc;
  }
}`;
  return { key: `cumsum:${x.dtype}:r${x.shape.length}:d${dim}`, source, meta, grid: grid1d(Math.ceil(lines / WG)), inputs: [0] };
}
