/** @file The epilogue of a convolution on WebGPU (the bias per output channel and a clamp: fused ReLU, ReLU6): inside the conv kernels' stores, or as an in-place pass after a conv run as matmul. */
import { BUILTINS, type KernelCall, type Operand, grid1d, linearIndex, load, metaDecl, preludeFor, storageType } from './common.js';

const WG = 256;

const f32Bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;

export interface ConvEpilogue {
  bias: Operand | null;
  clamp?: [number, number];
}

/** What a conv kernel adds for its epilogue: declarations, the value stored for channel `o`, a key part and the bias input. */
export interface EpilogueParts {
  decl: string;
  apply: (v: string, o: string) => string;
  key: string;
  inputs: number[];
}

/** Appends the epilogue's words to `meta` (bias offset and stride, clamp bounds as f32 bits); the bias binds at `binding`. */
export function epilogueParts(ep: ConvEpilogue | undefined, meta: number[], binding: number): EpilogueParts {
  if (!ep || (!ep.bias && !ep.clamp)) return { decl: '', apply: (v) => v, key: '', inputs: [] };
  const at = meta.length;
  const [lo, hi] = ep.clamp ?? [-Infinity, Infinity];
  meta.push(ep.bias?.offset ?? 0, ep.bias?.strides[0] ?? 0, f32Bits(lo), f32Bits(hi));
  const body = `var r = v;${ep.bias ? ` r = r + ${load('bias', ep.bias.dtype, `u32(m(${at}u) + i32(o) * m(${at + 1}u))`)};` : ''}${ep.clamp ? ` r = clampn_f32(r, bitcast<f32>(m(${at + 2}u)), bitcast<f32>(m(${at + 3}u)));` : ''} return r;`;
  const decl = `${ep.bias ? `@group(0) @binding(${binding}) var<storage, read> bias: array<${storageType(ep.bias.dtype)}>;\n` : ''}${preludeFor(body)}
fn epi(v: f32, o: u32) -> f32 { ${body} }`;
  return { decl, apply: (v, o) => `epi(${v}, ${o})`, key: `:e${ep.bias ? 'b' : ''}${ep.clamp ? 'c' : ''}`, inputs: ep.bias ? [2] : [] };
}

/** out[n, c, ...] = clamp(out[n, c, ...] + bias[c]), in place; `out` is the contiguous NCHW result of the kernels before it. */
export function convEpilogueKernel(out: Operand, ep: ConvEpilogue): KernelCall {
  const [, O, OH, OW] = out.shape as [number, number, number, number];
  const n = out.shape.reduce((a, b) => a * b, 1);
  const meta = [n, O, OH * OW, out.offset];
  const e = epilogueParts(ep, meta, 2);
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${e.decl}
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }
  let at = u32(m(3u)) + i;
  out[at] = ${e.apply('out[at]', '(i / u32(m(2u))) % u32(m(1u))')};
}`;
  return { key: `convEpilogue${e.key}`, source, meta, grid: grid1d(Math.ceil(n / WG)), inputs: e.inputs, readsOutput: true };
}
