/** @file argsort along one dimension: one thread per line, a stable insertion sort of the line's indices (NaN sorts as the largest value, as in PyTorch). */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, preludeFor, storageType } from './common.js';

const WG = 64;

export function argsortKernel(x: Operand, out: Operand, dim: number, descending: boolean): KernelCall {
  const rank = x.shape.length;
  const len = x.shape[dim]!;
  const lines = x.shape.reduce((a, b) => a * b, 1) / len;
  // meta: lines, len, x's stride and out's stride along dim, x offset | shape | x strides | out strides
  const meta = [lines, len, x.strides[dim]!, out.strides[dim]!, x.offset, ...x.shape, ...x.strides, ...out.strides];
  const T = storageType(x.dtype);
  const unravel: string[] = [];
  for (let d = rank - 1; d >= 0; d--) {
    if (d === dim) continue;
    unravel.push(`{ let c = i32(rem % u32(m(${5 + d}u))); rem = rem / u32(m(${5 + d}u)); src += c * m(${5 + rank + d}u); dst += c * m(${5 + 2 * rank + d}u); }`);
  }
  // before(a, b): a sorts strictly before b. NaN is the largest value; equal keys keep their order (the sort is stable).
  const nan = (v: string) => (x.dtype === 'f32' ? `isnan_f32(${v})` : 'false');
  const before = descending
    ? `(${nan('a')} && !${nan('b')}) || (!${nan('a')} && !${nan('b')} && a > b)`
    : `(!${nan('a')} && ${nan('b')}) || (!${nan('a')} && !${nan('b')} && a < b)`;
  const body = `
fn key(src: i32, k: i32) -> ${T} { return x[u32(src + k * m(2u))]; }
fn before(a: ${T}, b: ${T}) -> bool { return ${before}; }
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  var rem = i;
  var src = m(4u);
  var dst = 0;
  ${unravel.join('\n  ')}
  let step = m(3u);
  for (var k = 0; k < m(1u); k++) {
    // Insert index k after every earlier index whose key does not sort after it.
    let v = key(src, k);
    var j = k;
    while (j > 0 && before(v, key(src, out[u32(dst + (j - 1) * step)]))) {
      out[u32(dst + j * step)] = out[u32(dst + (j - 1) * step)];
      j--;
    }
    out[u32(dst + j * step)] = k;
  }
}`;
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
${preludeFor(body)}
${body}`;
  return { key: `argsort:${x.dtype}:r${rank}:d${dim}:${descending ? 'desc' : 'asc'}`, source, meta, grid: grid1d(Math.ceil(lines / WG)), inputs: [0] };
}
