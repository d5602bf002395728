/** @file Constant padding (negative amounts crop): one thread per output element. */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, storageType, store } from './common.js';

const WG = 256;

export function padKernel(x: Operand, out: Operand, pads: readonly (readonly [number, number])[], value: number): KernelCall {
  const rank = out.shape.length;
  const n = out.shape.reduce((a, b) => a * b, 1);
  // meta: n, value bits | out shape | x shape | befores | x strides, offset
  const bits = x.dtype === 'f32' ? new Int32Array(new Float32Array([value]).buffer)[0]! : Math.trunc(value);
  const meta = [n, bits, ...out.shape, ...x.shape, ...pads.map((p) => p[0]), ...x.strides, x.offset];
  const T = storageType(x.dtype);
  const fill = x.dtype === 'f32' ? 'bitcast<f32>(m(1u))' : x.dtype === 'bool' ? '(m(1u) != 0)' : 'm(1u)';
  const lines: string[] = [];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`{ let c = i32(rem % u32(m(${2 + d}u))) - m(${2 + 2 * rank + d}u); rem = rem / u32(m(${2 + d}u));
    inside = inside && c >= 0 && c < m(${2 + rank + d}u); src += c * m(${2 + 3 * rank + d}u); }`);
  }
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  var rem = i;
  var inside = true;
  var src = m(${2 + 4 * rank}u);
  ${lines.join('\n  ')}
  if (inside) { out[i] = x[u32(src)]; } else { out[i] = ${store(fill, x.dtype)}; }
}`;
  return { key: `pad:${x.dtype}:r${rank}`, source, meta, grid: grid1d(Math.ceil(n / WG)), inputs: [0] };
}
