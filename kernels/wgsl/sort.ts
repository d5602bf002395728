/** @file argsort along one dimension: one thread per line, a stable insertion sort of the line's indices (NaN sorts as the largest value, as in PyTorch). */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, preludeFor, storageType } from './common.js';
import { linesAlong } from './lines.js';

const WG = 64;

export function argsortKernel(x: Operand, out: Operand, dim: number, descending: boolean): KernelCall {
  const { lines, meta, start } = linesAlong(x, out, dim);
  const T = storageType(x.dtype);
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
  ${start}
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
  return { key: `argsort:${x.dtype}:r${x.shape.length}:d${dim}:${descending ? 'desc' : 'asc'}`, source, meta, grid: grid1d(Math.ceil(lines / WG)), inputs: [0] };
}
