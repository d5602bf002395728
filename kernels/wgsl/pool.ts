/** @file Pooling kernels: average pooling and the argmax window indices max pooling gathers by. */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, preludeFor, storageType } from './common.js';
import type { Pool2dParams } from '../../core/params.js';

const WG = 256;

/** One thread per output: `avg` writes the window mean, `argmax` the flat index ih*W+iw of its maximum. */
export function poolKernel(kind: 'avg' | 'argmax', x: Operand, out: Operand, p: Pool2dParams, countIncludePad: boolean): KernelCall {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [, , OH, OW] = out.shape as [number, number, number, number];
  const n = out.shape.reduce((a, b) => a * b, 1);
  // meta: n, C, H, W, OH, OW (0-5) | kernel, stride, padding, dilation (6-13) | x strides (14-17), offset (18) | countIncludePad (19)
  const meta = [n, C, H, W, OH, OW, ...p.kernel, ...p.stride, ...p.padding, ...p.dilation, ...x.strides, x.offset, countIncludePad ? 1 : 0];
  const T = storageType(x.dtype);
  const step = kind === 'avg'
    ? 'acc = acc + f32(v); count = count + 1.0;'
    : `if (best_i < 0 || ${T === 'f32' ? '(!isnan_f32(best) && (v > best || isnan_f32(v)))' : 'v > best'}) { best = v; best_i = ih * W + iw; }`;
  const finish = kind === 'avg'
    ? 'out[i] = acc / select(count, f32(m(6u) * m(7u)), m(19u) != 0);'
    : 'out[i] = best_i;';
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${kind === 'avg' ? 'f32' : 'i32'}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
${preludeFor(step)}
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  let C = m(1u); let H = m(2u); let W = m(3u); let OH = m(4u); let OW = m(5u);
  let ow = i32(i % u32(OW));
  let oh = i32((i / u32(OW)) % u32(OH));
  let c = i32((i / u32(OW * OH)) % u32(C));
  let nb = i32(i / u32(OW * OH * C));
  let base = m(18u) + nb * m(14u) + c * m(15u);
  var acc = 0.0;
  var count = 0.0;
  var best: ${T} = x[u32(base)];
  var best_i = -1;
  for (var kh = 0; kh < m(6u); kh++) {
    let ih = oh * m(8u) - m(10u) + kh * m(12u);
    if (ih < 0 || ih >= H) { continue; }
    for (var kw = 0; kw < m(7u); kw++) {
      let iw = ow * m(9u) - m(11u) + kw * m(13u);
      if (iw < 0 || iw >= W) { continue; }
      let v = x[u32(base + ih * m(16u) + iw * m(17u))];
      ${step}
    }
  }
  ${finish}
}`;
  return { key: `pool:${kind}:${x.dtype}`, source, meta, grid: grid1d(Math.ceil(n / WG)), inputs: [0] };
}
