/** @file gather and scatterAdd along one dimension; out-of-range indices are reported through the error buffer. */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, metaDecl, storageType, unravel } from './common.js';
import { ERROR_BINDING, reportError } from './errors.js';

const WG = 256;

/**
 * One thread per index element. gather: out[i] = x[.. index[i] ..]. scatterAdd adds src[i] into
 * out (already holding base) with a compare-and-swap loop, since WGSL has no float atomics.
 */
export function gatherKernel(kind: 'gather' | 'scatterAdd', x: Operand, index: Operand, dim: number, out: Operand, src?: Operand): KernelCall {
  const rank = index.shape.length;
  const n = index.shape.reduce((a, b) => a * b, 1);
  // meta: n, size, step, index shape | index strides, offset | target strides (dim zeroed), offset | src strides, offset
  const target = kind === 'gather' ? x : out;
  const shapeAt = 3;
  const idxAt = shapeAt + rank;
  const tgtAt = idxAt + rank + 1;
  const srcAt = tgtAt + rank + 1;
  const meta = [n, target.shape[dim]!, target.strides[dim]!, ...index.shape, ...index.strides, index.offset,
    ...target.strides.map((s, d) => (d === dim ? 0 : s)), target.offset];
  const sets = [{ name: 'oi', at: idxAt }, { name: 'ot', at: tgtAt }];
  if (src) {
    meta.push(...src.strides, src.offset);
    sets.push({ name: 'os', at: srcAt });
  }
  // The error slot, written by the backend per dispatch.
  const slotAt = meta.push(0) - 1;
  const T = storageType(x.dtype);
  const body = kind === 'gather'
    ? `out[i] = x[u32(ot + v * step)];`
    : `let add = src[u32(os)];
    let at = u32(ot + v * step);
    var old = atomicLoad(&out[at]);
    loop {
      let r = atomicCompareExchangeWeak(&out[at], old, bitcast<u32>(bitcast<f32>(old) + add));
      if (r.exchanged) { break; }
      old = r.old_value;
    }`;
  const source = () => `${metaDecl(meta.length)}
${kind === 'gather'
    ? `@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
@group(0) @binding(3) var<storage, read> index: array<i32>;`
    : `@group(0) @binding(1) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;`}
${ERROR_BINDING}
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  let size = m(1u);
  let step = m(2u);
  ${unravel(rank, shapeAt, sets)}
  let v = index[u32(oi)];
  if (v < 0 || v >= size) {
    ${reportError(kind, slotAt, 'bitcast<u32>(v)', 'u32(size)')}
    return;
  }
  ${body}
}`;
  return { key: `${kind}:${x.dtype}:r${rank}`, source, meta, grid: grid1d(Math.ceil(n / WG)), inputs: kind === 'gather' ? [0, 1] : [1, 2], atomicOut: kind === 'scatterAdd', errors: true };
}
