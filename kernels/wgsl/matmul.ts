/** @file Tiled GEMM (workgroup-memory tiles, 4x4 register blocks) and the matmul and conv2d kernels built on it. */
import { type ConvEpilogue, epilogueParts } from './epilogue.js';
import { broadcastStrides } from '../../core/shape.js';
import type { Conv2dParams } from '../../core/params.js';
import { type KernelCall, type Operand, MAX_GROUPS, SCRATCH, enableFor, grid1d, load, metaDecl, preludeFor, storageType, store, unravel } from './common.js';

const TS = 32; // output tile edge
const BK = 16; // depth of one shared tile
const TPT = 4; // outputs per thread along each edge

/**
 * C[z][M][N] = sum_k A(z, i, k) B(z, k, j). The caller supplies WGSL for the two loaders (each
 * bounds-checked, returning 0 outside) and the store; meta[0..2] hold M, N, K.
 */
function gemmSource(metaCount: number, decls: string, loaders: string, directives = ''): string {
  const threads = TS / TPT;
  const perThread = (BK * TS) / (threads * threads);
  return `${directives}${metaDecl(metaCount)}
${decls}
var<workgroup> tileA: array<f32, ${BK * TS}>;
var<workgroup> tileB: array<f32, ${BK * TS}>;
${loaders}
@compute @workgroup_size(${threads}, ${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = u32(m(0u));
  let N = u32(m(1u));
  let K = u32(m(2u));
  let z = wid.z;
  let row0 = wid.y * ${TS}u;
  let col0 = wid.x * ${TS}u;
  let t = lid.y * ${threads}u + lid.x;
  var acc: array<array<f32, ${TPT}>, ${TPT}>;
  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    for (var e = 0u; e < ${perThread}u; e++) {
      let idx = t * ${perThread}u + e;
      // tileA is [BK][TS] (k-major) so the inner loop reads rows of A and B alike.
      let kk = idx / ${TS}u;
      let rr = idx % ${TS}u;
      tileA[idx] = loadA(z, row0 + rr, k0 + kk);
      tileB[idx] = loadB(z, k0 + kk, col0 + rr);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var a: array<f32, ${TPT}>;
      var b: array<f32, ${TPT}>;
      for (var q = 0u; q < ${TPT}u; q++) {
        a[q] = tileA[kk * ${TS}u + lid.y * ${TPT}u + q];
        b[q] = tileB[kk * ${TS}u + lid.x * ${TPT}u + q];
      }
      for (var p = 0u; p < ${TPT}u; p++) {
        for (var q = 0u; q < ${TPT}u; q++) { acc[p][q] = fma(a[p], b[q], acc[p][q]); }
      }
    }
    workgroupBarrier();
  }
  for (var p = 0u; p < ${TPT}u; p++) {
    for (var q = 0u; q < ${TPT}u; q++) {
      let i = row0 + lid.y * ${TPT}u + p;
      let j = col0 + lid.x * ${TPT}u + q;
      if (i < M && j < N) { storeC(z, i, j, acc[p][q]); }
    }
  }
}`;
}

function gemmGrid(m: number, n: number, batch: number, op: string): [number, number, number] {
  const grid: [number, number, number] = [Math.ceil(n / TS), Math.ceil(m / TS), batch];
  if (grid.some((g) => g > MAX_GROUPS)) throw new Error(`${op}: a grid of ${grid.join('x')} workgroups exceeds ${MAX_GROUPS} per dimension`);
  return grid;
}

const BINDINGS = `@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;`;
const CONV_BINDINGS = `@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> Wt: array<f32>;`;

/**
 * The batched-matmul layout every matmul kernel shares. Its meta starts M, N, K, the batch shape,
 * then A's and B's batch strides and offsets (divided by `unit`: 4 when a kernel reads vec4s);
 * `inner` is where each kernel appends its own row and column strides, and `batchOffsets` is WGSL
 * that sets oa and ob for batch index i.
 */
function batchLayout(a: Operand, b: Operand, out: Operand, aUnit = 1, bUnit = 1) {
  const r = out.shape.length;
  const [M, N] = [out.shape[r - 2]!, out.shape[r - 1]!];
  const K = a.shape[a.shape.length - 1]!;
  const batchShape = out.shape.slice(0, r - 2);
  const br = batchShape.length;
  const batchStrides = (o: Operand) => broadcastStrides({ shape: o.shape.slice(0, -2), strides: o.strides.slice(0, -2) }, batchShape);
  const shapeAt = 3;
  const aAt = shapeAt + br;
  const bAt = aAt + br + 1;
  const [aBatch, bBatch] = [batchStrides(a), batchStrides(b)];
  const meta = [M, N, K, ...batchShape, ...aBatch.map((s) => s / aUnit), a.offset / aUnit, ...bBatch.map((s) => s / bUnit), b.offset / bUnit];
  return {
    M, N, K, br, meta, aBatch, bBatch,
    batch: batchShape.reduce((x, y) => x * y, 1),
    inner: bAt + br + 1,
    batchOffsets: unravel(br, shapeAt, [{ name: 'oa', at: aAt }, { name: 'ob', at: bAt }]),
  };
}

/**
 * A GEMM over the operands' own strides (the tiled and the wide matmul kernels): the batched
 * layout with A's and B's row and column strides appended to its meta (from `inner` on), and WGSL
 * for the batch offsets, the bounds-checked scalar loaders loadA(z, i, k), loadB(z, k, j) and the
 * store storeC(z, i, j, v).
 */
export function stridedGemm(a: Operand, b: Operand, out: Operand) {
  const layout = batchLayout(a, b, out);
  const { inner } = layout;
  const meta = [...layout.meta, a.strides[a.shape.length - 2]!, a.strides[a.shape.length - 1]!, b.strides[b.shape.length - 2]!, b.strides[b.shape.length - 1]!];
  const wgsl = {
    batchOffsets: `fn batchOffsets(z: u32) -> vec2<i32> {
  let i = z;
  ${layout.batchOffsets}
  return vec2<i32>(oa, ob);
}`,
    loadA: `fn loadA(z: u32, i: u32, k: u32) -> f32 {
  if (i >= u32(m(0u)) || k >= u32(m(2u))) { return 0.0; }
  return ${load('A', a.dtype, `batchOffsets(z).x + i32(i) * m(${inner}u) + i32(k) * m(${inner + 1}u)`)};
}`,
    loadB: `fn loadB(z: u32, k: u32, j: u32) -> f32 {
  if (j >= u32(m(1u)) || k >= u32(m(2u))) { return 0.0; }
  return ${load('B', b.dtype, `batchOffsets(z).y + i32(k) * m(${inner + 2}u) + i32(j) * m(${inner + 3}u)`)};
}`,
    storeC: `fn storeC(z: u32, i: u32, j: u32, v: f32) { out[(z * u32(m(0u)) + i) * u32(m(1u)) + j] = ${store('v', out.dtype)}; }`,
  };
  return { ...layout, meta, wgsl };
}

/** The matmul bindings for the operands' dtypes (f16 storage under shader-f16; the tiles and sums stay f32). */
function typedBindings(out: Operand, a: Operand, b: Operand): string {
  const f16 = [out, a, b].some((o) => o.dtype === 'f16');
  return `${BINDINGS.replace('out: array<f32>', `out: array<${storageType(out.dtype)}>`).replace('A: array<f32>', `A: array<${storageType(a.dtype)}>`).replace('B: array<f32>', `B: array<${storageType(b.dtype)}>`)}
${f16 ? preludeFor('to_f16(') : ''}`;
}

/**
 * out[..., M, N] = a[..., M, K] @ b[..., K, N] with broadcast batch dims and any strides; f16
 * operands are read and written as f16, accumulated in f32.
 */
export function matmulKernel(a: Operand, b: Operand, out: Operand): KernelCall {
  const { M, N, br, batch, meta, wgsl } = stridedGemm(a, b, out);
  const loaders = [wgsl.batchOffsets, wgsl.loadA, wgsl.loadB, wgsl.storeC].join('\n');
  return {
    key: `matmul:b${br}:${a.dtype},${b.dtype}>${out.dtype}`,
    source: () => gemmSource(meta.length, typedBindings(out, a, b), loaders, enableFor([out.dtype, a.dtype, b.dtype])),
    meta,
    grid: gemmGrid(M, N, batch, 'matmul'),
    inputs: [0, 1],
  };
}

/** True when the register-blocked kernel applies: B rows dense and vec4-aligned, N a multiple of 4. */
export function registerMatmulFits(b: Operand, out: Operand): boolean {
  const r = b.shape.length;
  const n = b.shape[r - 1]!;
  return n % 4 === 0 && b.strides[r - 1] === 1 && b.strides[r - 2] === n && b.offset % 4 === 0 && b.strides.slice(0, -2).every((s) => s % 4 === 0) && out.shape[out.shape.length - 1]! % 4 === 0;
}

// Eight rows x one vec4 (32 accumulators) ran the 1024^3 matmul faster than four rows on lavapipe.
const RB_ROWS = 8;
const RB_WG = 64;

/**
 * matmul without workgroup memory: each invocation keeps RB_ROWS rows x one vec4 of columns in
 * registers and reads A and B straight from storage. CPU-backed adapters (lavapipe, SwiftShader)
 * run this faster than the tiled kernel, whose barriers they execute serially.
 */
export function matmulRegisterKernel(a: Operand, b: Operand, out: Operand): KernelCall {
  const { M, N, br, batch, inner, batchOffsets, meta: head } = batchLayout(a, b, out, 1, 4);
  const meta = [...head, a.strides[a.shape.length - 2]!, a.strides[a.shape.length - 1]!];
  const rows = Array.from({ length: RB_ROWS }, (_, q) => q);
  // f16 operands: vec4<f16> rows of B and of the output, converted to f32 for the sums.
  const vec = (d: Operand['dtype']) => `vec4<${storageType(d)}>`;
  const stored = (v: string) => (out.dtype === 'f16' ? `vec4<f16>(to_f16(${v}.x), to_f16(${v}.y), to_f16(${v}.z), to_f16(${v}.w))` : v);
  const source = () => `${enableFor([out.dtype, a.dtype, b.dtype])}${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${vec(out.dtype)}>;
@group(0) @binding(2) var<storage, read> A: array<${storageType(a.dtype)}>;
@group(0) @binding(3) var<storage, read> B: array<${vec(b.dtype)}>;
${out.dtype === 'f16' ? preludeFor('to_f16(') : ''}
@compute @workgroup_size(${RB_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = u32(m(0u));
  let N4 = u32(m(1u)) / 4u;
  let K = u32(m(2u));
  let col = gid.x;
  let row0 = gid.y * ${RB_ROWS}u;
  if (col >= N4) { return; }
  let i = gid.z;
  ${batchOffsets}
  let sa0 = m(${inner}u);
  let sa1 = m(${inner + 1}u);
  ${rows.map((q) => `var acc${q} = vec4<f32>(0.0);
  let ok${q} = row0 + ${q}u < M;
  let ar${q} = oa + i32(min(row0 + ${q}u, M - 1u)) * sa0;`).join('\n  ')}
  for (var k = 0u; k < K; k++) {
    let bv = vec4<f32>(B[u32(ob) + k * N4 + col]);
    let ak = i32(k) * sa1;
    ${rows.map((q) => `acc${q} = fma(vec4<f32>(${load('A', a.dtype, `u32(ar${q} + ak)`)}), bv, acc${q});`).join('\n    ')}
  }
  let base = gid.z * M * N4;
  ${rows.map((q) => `if (ok${q}) { out[base + (row0 + ${q}u) * N4 + col] = ${stored(`acc${q}`)}; }`).join('\n  ')}
}`;
  const grid: [number, number, number] = [Math.ceil(N / 4 / RB_WG), Math.ceil(M / RB_ROWS), batch];
  if (grid.some((g) => g > MAX_GROUPS)) return matmulKernel(a, b, out);
  return { key: `matmul-rb:b${br}:${a.dtype},${b.dtype}>${out.dtype}`, source, meta, grid, inputs: [0, 1] };
}

/**
 * conv2d as an implicit GEMM per group: M = out channels of the group, N = N*OH*OW, K = C/g*KH*KW.
 * The B loader computes the im2col address on the fly, so no column matrix is ever stored.
 */
export function conv2dKernel(x: Operand, w: Operand, out: Operand, p: Conv2dParams, ep?: ConvEpilogue): KernelCall {
  const g = implicitGemm(x, w, out, p, ep);
  return {
    key: `conv2d${g.key}`,
    source: () => gemmSource(g.meta.length, g.decls, g.loaders, g.directives),
    meta: g.meta,
    grid: gemmGrid(g.M, g.N, g.G, 'conv2d'),
    inputs: g.inputs,
  };
}

/**
 * What a GEMM kernel needs to run conv2d as an implicit GEMM per group: M = the group's output
 * channels, N = N*OH*OW, K = C/g*KH*KW; loadA(g, i, k) reads the weights, loadB(g, k, j) the input
 * at the im2col address (no column matrix is stored), storeC applies the epilogue. Operands of
 * any dtype graft stores (f16 read and written as f16); meta[0..2] = M, N, K.
 */
export function implicitGemm(x: Operand, w: Operand, out: Operand, p: Conv2dParams, ep?: ConvEpilogue) {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [Nb, , OH, OW] = out.shape as [number, number, number, number];
  const G = p.groups;
  const M = O / G;
  const N = Nb * OH * OW;
  const K = Cg * KH * KW;
  const meta = [
    M, N, K, // 0..2
    C, H, W, Cg, KH, KW, OH, OW, O, // 3..11
    p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], // 12..17
    ...x.strides, x.offset, // 18..22
    ...w.strides, w.offset, // 23..27
  ];
  const e = epilogueParts(ep, meta, 4);
  const loaders = `
fn loadA(g: u32, i: u32, k: u32) -> f32 {
  if (i >= u32(m(0u)) || k >= u32(m(2u))) { return 0.0; }
  let khw = u32(m(7u) * m(8u));
  let c = k / khw;
  let kh = (k / u32(m(8u))) % u32(m(7u));
  let kw = k % u32(m(8u));
  let o = g * u32(m(0u)) + i;
  return ${load('Wt', w.dtype, 'm(27u) + i32(o) * m(23u) + i32(c) * m(24u) + i32(kh) * m(25u) + i32(kw) * m(26u)')};
}
fn loadB(g: u32, k: u32, j: u32) -> f32 {
  if (j >= u32(m(1u)) || k >= u32(m(2u))) { return 0.0; }
  let khw = u32(m(7u) * m(8u));
  let c = k / khw;
  let kh = i32((k / u32(m(8u))) % u32(m(7u)));
  let kw = i32(k % u32(m(8u)));
  let ohw = u32(m(9u) * m(10u));
  let n = j / ohw;
  let oh = i32((j / u32(m(10u))) % u32(m(9u)));
  let ow = i32(j % u32(m(10u)));
  let ih = oh * m(12u) - m(14u) + kh * m(16u);
  let iw = ow * m(13u) - m(15u) + kw * m(17u);
  if (ih < 0 || iw < 0 || ih >= m(4u) || iw >= m(5u)) { return 0.0; }
  let ch = i32(g * u32(m(6u)) + c);
  return ${load('X', x.dtype, 'm(22u) + i32(n) * m(18u) + ch * m(19u) + ih * m(20u) + iw * m(21u)')};
}
fn storeC(g: u32, i: u32, j: u32, v: f32) {
  let ohw = u32(m(9u) * m(10u));
  let n = j / ohw;
  let s = j % ohw;
  out[(n * u32(m(11u)) + g * u32(m(0u)) + i) * ohw + s] = ${store(e.apply('v', 'g * u32(m(0u)) + i'), out.dtype)};
}`;
  const dtypes = [out.dtype, x.dtype, w.dtype, ...(ep?.bias ? [ep.bias.dtype] : [])];
  const bindings = CONV_BINDINGS.replace('out: array<f32>', `out: array<${storageType(out.dtype)}>`).replace('X: array<f32>', `X: array<${storageType(x.dtype)}>`).replace('Wt: array<f32>', `Wt: array<${storageType(w.dtype)}>`);
  const decls = `${bindings}\n${e.decl}\n${out.dtype === 'f16' ? preludeFor('to_f16(', e.decl) : ''}`;
  return { M, N, G, meta, loaders, decls, directives: enableFor(dtypes), key: `${e.key}:${dtypes.join(',')}`, inputs: [0, 1, ...e.inputs] };
}

const DIRECT_WG = 64;

/** What every direct conv kernel starts with: parameters, window constants, output, input and weights. */
function convHeader(metaCount: number, windowDecl: string): string {
  return `${metaDecl(metaCount)}
${windowDecl}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> Wt: array<f32>;`;
}

/** The window's constants, baked into conv sources (and their pipeline keys) so loops over it unroll. */
function windowConsts(KH: number, KW: number, p: Conv2dParams): { key: string; decl: string } {
  const v = { KH, KW, SH: p.stride[0], SW: p.stride[1], PH: p.padding[0], PW: p.padding[1], DH: p.dilation[0], DW: p.dilation[1] };
  return { key: Object.values(v).join(','), decl: Object.entries(v).map(([k, x]) => `const ${k} = ${x};`).join(' ') };
}

/**
 * conv2d with one invocation per output element, looping over its (C/groups) x KH x KW window.
 * For depthwise and other few-outputs-per-group convolutions, where a GEMM tile would be mostly
 * empty rows.
 */
export function conv2dDirectKernel(x: Operand, w: Operand, out: Operand, p: Conv2dParams, ep?: ConvEpilogue): KernelCall {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [, , OH, OW] = out.shape as [number, number, number, number];
  const n = out.shape.reduce((a, b) => a * b, 1);
  const Og = O / p.groups;
  const win = windowConsts(KH, KW, p);
  // meta: n, C, H, W, O, Cg, OH, OW, Og (0-8) | x strides, offset (9-13) | w strides, offset (14-18)
  const meta = [n, C, H, W, O, Cg, OH, OW, Og, ...x.strides, x.offset, ...w.strides, w.offset];
  const e = epilogueParts(ep, meta, 4);
  const source = () => `${convHeader(meta.length, win.decl)}
${e.decl}
@compute @workgroup_size(${DIRECT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * ${DIRECT_WG}u + lid.x;
  if (i >= u32(m(0u))) { return; }
  let H = m(2u); let W = m(3u); let O = u32(m(4u)); let Cg = u32(m(5u));
  let OH = u32(m(6u)); let OW = u32(m(7u));
  let sx = vec4<i32>(m(9u), m(10u), m(11u), m(12u));
  let sw = vec4<i32>(m(14u), m(15u), m(16u), m(17u));
  let ow = i32(i % OW);
  let oh = i32((i / OW) % OH);
  let o = (i / (OW * OH)) % O;
  let nb = i32(i / (OW * OH * O));
  let g = o / u32(m(8u));
  let ih0 = oh * SH - PH;
  let iw0 = ow * SW - PW;
  var acc = 0.0;
  for (var c = 0u; c < Cg; c++) {
    let xc = m(13u) + nb * sx.x + i32(g * Cg + c) * sx.y;
    let wc = m(18u) + i32(o) * sw.x + i32(c) * sw.y;
    for (var kh = 0; kh < KH; kh++) {
      let ih = ih0 + kh * DH;
      if (ih < 0 || ih >= H) { continue; }
      for (var kw = 0; kw < KW; kw++) {
        let iw = iw0 + kw * DW;
        if (iw >= 0 && iw < W) {
          acc = fma(X[u32(xc + ih * sx.z + iw * sx.w)], Wt[u32(wc + kh * sw.z + kw * sw.w)], acc);
        }
      }
    }
  }
  out[i] = ${e.apply('acc', 'o')};
}`;
  return { key: `conv2d-direct:${win.key}${e.key}`, source, meta, grid: grid1d(Math.ceil(n / DIRECT_WG)), inputs: [0, 1, ...e.inputs] };
}

/**
 * Depthwise conv2d (groups = in = out channels): one invocation per 4 neighbouring outputs of a
 * row, on a (ow, oh, n*c) grid so no index needs an integer division, the window unrolled.
 */
export function conv2dDepthwiseKernel(x: Operand, w: Operand, out: Operand, p: Conv2dParams, ep?: ConvEpilogue): KernelCall {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [, , KH, KW] = w.shape as [number, number, number, number];
  const [Nb, , OH, OW] = out.shape as [number, number, number, number];
  const win = windowConsts(KH, KW, p);
  // meta: C, H, W, OH, OW (0-4) | x strides, offset (5-9) | w strides, offset (10-14)
  const meta = [C, H, W, OH, OW, ...x.strides, x.offset, ...w.strides, w.offset];
  const e = epilogueParts(ep, meta, 4);
  const Q = [0, 1, 2, 3];
  const source = () => `${convHeader(meta.length, win.decl)}
${e.decl}
@compute @workgroup_size(16, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let C = u32(m(0u)); let H = m(1u); let W = m(2u); let OH = u32(m(3u)); let OW = u32(m(4u));
  let ow0 = gid.x * 4u;
  let oh = gid.y;
  if (ow0 >= OW || oh >= OH) { return; }
  let c = gid.z % C;
  let nb = gid.z / C;
  let xb = m(9u) + i32(nb) * m(5u) + i32(c) * m(6u);
  let wb = m(14u) + i32(c) * m(10u);
  let ih0 = i32(oh) * SH - PH;
  ${Q.map((q) => `let iw${q} = i32(ow0 + ${q}u) * SW - PW; var acc${q} = 0.0;`).join('\n  ')}
  for (var kh = 0; kh < KH; kh++) {
    let ih = ih0 + kh * DH;
    if (ih < 0 || ih >= H) { continue; }
    let xr = xb + ih * m(7u);
    for (var kw = 0; kw < KW; kw++) {
      let wv = Wt[u32(wb + kh * m(12u) + kw * m(13u))];
      ${Q.map((q) => `{ let iw = iw${q} + kw * DW; acc${q} = fma(select(0.0, X[u32(xr + clamp(iw, 0, W - 1) * m(8u))], iw >= 0 && iw < W), wv, acc${q}); }`).join('\n      ')}
    }
  }
  let ob = (gid.z * OH + oh) * OW + ow0;
  ${Q.map((q) => `if (ow0 + ${q}u < OW) { out[ob + ${q}u] = ${e.apply(`acc${q}`, 'c')}; }`).join('\n  ')}
}`;
  const grid: [number, number, number] = [Math.ceil(OW / 64), Math.ceil(OH / 4), Nb * C];
  if (grid.some((d) => d > MAX_GROUPS)) return conv2dDirectKernel(x, w, out, p, ep);
  return { key: `conv2d-dw:${win.key}${e.key}`, source, meta, grid, inputs: [0, 1, ...e.inputs] };
}

const COL_WG = 64;

/**
 * im2col into a scratch buffer: col[n][k][l] for k = (c, kh, kw) and l = (oh, ow), zeros where the
 * window leaves the image. Grid (l, k, n): neighbouring lanes write neighbouring columns.
 */
export function im2colKernel(x: Operand, KH: number, KW: number, out: Operand, p: Conv2dParams): KernelCall {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, , OH, OW] = out.shape as [number, number, number, number];
  const K = C * KH * KW;
  const L = OH * OW;
  const win = windowConsts(KH, KW, p);
  // meta: K, L, H, W, OW (0-4) | x strides, offset (5-9)
  const meta = [K, L, H, W, OW, ...x.strides, x.offset];
  const source = () => `${metaDecl(meta.length)}
${win.decl}
@group(0) @binding(1) var<storage, read_write> col: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@compute @workgroup_size(${COL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let K = u32(m(0u)); let L = u32(m(1u)); let H = m(2u); let W = m(3u); let OW = u32(m(4u));
  let l = gid.x;
  if (l >= L) { return; }
  let k = gid.y;
  let n = gid.z;
  let kw = i32(k % u32(KW));
  let kh = i32((k / u32(KW)) % u32(KH));
  let c = i32(k / u32(KW * KH));
  let ih = i32(l / OW) * SH - PH + kh * DH;
  let iw = i32(l % OW) * SW - PW + kw * DW;
  let inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
  let at = m(9u) + i32(n) * m(5u) + c * m(6u) + clamp(ih, 0, H - 1) * m(7u) + clamp(iw, 0, W - 1) * m(8u);
  col[(n * K + k) * L + l] = select(0.0, X[u32(at)], inside);
}`;
  return { key: `im2col:${win.key}`, source, meta, grid: [Math.ceil(L / COL_WG), K, N], inputs: [0], toScratch: N * K * L };
}

/**
 * conv2d (one group, a window larger than 1x1) as matmul on adapters that prefer the register
 * kernels: out[n] = W[O, K] @ col[n][K, L] with col an im2col scratch matrix. Null when the
 * weights cannot be read as an [O, K] matrix, the output rows are short, or the matrix would be too big.
 */
export function conv2dAsMatmul(x: Operand, w: Operand, out: Operand, p: Conv2dParams, maxScratchBytes: number): KernelCall[] | null {
  const [N, C] = x.shape as [number, number, number, number];
  const [O, , KH, KW] = w.shape as [number, number, number, number];
  const [, , OH, OW] = out.shape as [number, number, number, number];
  const [w0, w1, w2, w3] = w.strides as [number, number, number, number];
  const K = C * KH * KW;
  const L = OH * OW;
  // Measured on lavapipe: 1x1 convolutions (x read in place) and output rows too short to fill a
  // workgroup's lanes with vec4 columns run faster through conv2dRegisterKernel.
  if (p.groups !== 1 || w2 !== KW * w3 || w1 !== KH * w2 || KH * KW === 1 || L % 4 !== 0 || L < 64 || N * K * L * 4 > maxScratchBytes) return null;
  const A: Operand = { dtype: 'f32', shape: [O, K], strides: [w0, w3], offset: w.offset };
  const B: Operand = { dtype: 'f32', shape: [N, K, L], strides: [K * L, L, 1], offset: 0 };
  const C3: Operand = { dtype: 'f32', shape: [N, O, L], strides: [O * L, L, 1], offset: out.offset };
  return [im2colKernel(x, KH, KW, out, p), { ...matmulRegisterKernel(A, B, C3), inputs: [1, SCRATCH] }];
}

const CRB_ROWS = 8;
const CRB_COLS = 4;
const CRB_WG = 64;

/**
 * conv2d as an implicit GEMM without workgroup memory, for adapters that prefer the register
 * matmul: each invocation keeps 8 output channels x 4 consecutive output positions in registers,
 * loading the 4 input values and 8 weights of each window tap once for 32 multiply-adds.
 */
export function conv2dRegisterKernel(x: Operand, w: Operand, out: Operand, p: Conv2dParams, ep?: ConvEpilogue): KernelCall {
  const [, , H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [Nb, , OH, OW] = out.shape as [number, number, number, number];
  const Og = O / p.groups;
  const L = Nb * OH * OW;
  const win = windowConsts(KH, KW, p);
  // meta: L, Og, Cg, H, W, OH, OW, O (0-7) | x strides, offset (8-12) | w strides, offset (13-17)
  const meta = [L, Og, Cg, H, W, OH, OW, O, ...x.strides, x.offset, ...w.strides, w.offset];
  const e = epilogueParts(ep, meta, 4);
  const R = Array.from({ length: CRB_ROWS }, (_, q) => q);
  const P = Array.from({ length: CRB_COLS }, (_, q) => q);
  const source = () => `${convHeader(meta.length, win.decl)}
${e.decl}
@compute @workgroup_size(${CRB_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let L = u32(m(0u)); let Og = u32(m(1u)); let Cg = u32(m(2u));
  let H = m(3u); let W = m(4u); let OH = u32(m(5u)); let OW = u32(m(6u)); let O = u32(m(7u));
  let sx = vec4<i32>(m(8u), m(9u), m(10u), m(11u));
  let sw = vec4<i32>(m(13u), m(14u), m(15u), m(16u));
  let jb = gid.x * ${CRB_COLS}u;
  if (jb >= L) { return; }
  let g = gid.z;
  let o0 = gid.y * ${CRB_ROWS}u;
  ${P.map((q) => `let j${q} = min(jb + ${q}u, L - 1u);
  let n${q} = j${q} / (OH * OW);
  let ih${q} = i32((j${q} / OW) % OH) * SH - PH;
  let iw${q} = i32(j${q} % OW) * SW - PW;
  let xb${q} = m(12u) + i32(n${q}) * sx.x + i32(g * Cg) * sx.y;`).join('\n  ')}
  ${R.map((r) => `let wb${r} = m(17u) + i32(g * Og + min(o0 + ${r}u, Og - 1u)) * sw.x;`).join('\n  ')}
  ${R.flatMap((r) => P.map((q) => `var acc${r}_${q} = 0.0;`)).join(' ')}
  for (var c = 0; c < i32(Cg); c++) {
    for (var kh = 0; kh < KH; kh++) {
      for (var kw = 0; kw < KW; kw++) {
        ${P.map((q) => `let ih_${q} = ih${q} + kh * DH; let iw_${q} = iw${q} + kw * DW;
        let x${q} = select(0.0, X[u32(xb${q} + c * sx.y + clamp(ih_${q}, 0, H - 1) * sx.z + clamp(iw_${q}, 0, W - 1) * sx.w)], ih_${q} >= 0 && ih_${q} < H && iw_${q} >= 0 && iw_${q} < W);`).join('\n        ')}
        let wo = c * sw.y + kh * sw.z + kw * sw.w;
        ${R.map((r) => `let w${r} = Wt[u32(wb${r} + wo)];
        ${P.map((q) => `acc${r}_${q} = fma(w${r}, x${q}, acc${r}_${q});`).join(' ')}`).join('\n        ')}
      }
    }
  }
  ${R.flatMap((r) => P.map((q) => `if (o0 + ${r}u < Og && jb + ${q}u < L) { out[(n${q} * O + g * Og + o0 + ${r}u) * OH * OW + j${q} % (OH * OW)] = ${e.apply(`acc${r}_${q}`, `g * Og + o0 + ${r}u`)}; }`)).join('\n  ')}
}`;
  const grid: [number, number, number] = [Math.ceil(L / CRB_COLS / CRB_WG), Math.ceil(Og / CRB_ROWS), p.groups];
  if (grid.some((d) => d > MAX_GROUPS)) return conv2dKernel(x, w, out, p, ep);
  return { key: `conv2d-rb:${win.key}${e.key}`, source, meta, grid, inputs: [0, 1, ...e.inputs] };
}

const RS_ROWS = 8;
const RS_COLS = 4;
const RS_WG = 64;

/**
 * The register-blocked matmul for any strides and any N: each invocation keeps 8 rows x 4 columns
 * (a workgroup's width apart, so neighbouring lanes read neighbouring columns of B) in registers.
 * For adapters that prefer register kernels, where the vec4 variants do not fit.
 */
export function matmulRegisterStridedKernel(a: Operand, b: Operand, out: Operand): KernelCall {
  const { M, N, br, batch, inner, batchOffsets, meta: head } = batchLayout(a, b, out);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const meta = [...head, a.strides[ra - 2]!, a.strides[ra - 1]!, b.strides[rb - 2]!, b.strides[rb - 1]!];
  const R = Array.from({ length: RS_ROWS }, (_, q) => q);
  const C = Array.from({ length: RS_COLS }, (_, j) => j);
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@compute @workgroup_size(${RS_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = u32(m(0u));
  let N = u32(m(1u));
  let K = u32(m(2u));
  let c0 = wid.x * ${RS_WG * RS_COLS}u + lid.x;
  // Lanes past the last column leave at once: CPU-backed adapters then skip whole idle vectors.
  if (c0 >= N) { return; }
  let row0 = wid.y * ${RS_ROWS}u;
  let i = wid.z;
  ${batchOffsets}
  let sa0 = m(${inner}u); let sa1 = m(${inner + 1}u);
  let sb0 = m(${inner + 2}u); let sb1 = m(${inner + 3}u);
  ${R.map((q) => `let ar${q} = oa + i32(min(row0 + ${q}u, M - 1u)) * sa0;`).join('\n  ')}
  ${C.map((j) => `let bc${j} = ob + i32(min(c0 + ${j * RS_WG}u, N - 1u)) * sb1;`).join('\n  ')}
  ${R.flatMap((q) => C.map((j) => `var acc${q}_${j} = 0.0;`)).join(' ')}
  for (var k = 0u; k < K; k++) {
    let bk = i32(k) * sb0;
    ${C.map((j) => `let b${j} = B[u32(bc${j} + bk)];`).join(' ')}
    let ak = i32(k) * sa1;
    ${R.map((q) => `let a${q} = A[u32(ar${q} + ak)]; ${C.map((j) => `acc${q}_${j} = fma(a${q}, b${j}, acc${q}_${j});`).join(' ')}`).join('\n    ')}
  }
  let base = i * M * N;
  ${R.flatMap((q) => C.map((j) => `if (row0 + ${q}u < M && c0 + ${j * RS_WG}u < N) { out[base + (row0 + ${q}u) * N + c0 + ${j * RS_WG}u] = acc${q}_${j}; }`)).join('\n  ')}
}`;
  const grid: [number, number, number] = [Math.ceil(N / (RS_WG * RS_COLS)), Math.ceil(M / RS_ROWS), batch];
  if (grid.some((g) => g > MAX_GROUPS)) return matmulKernel(a, b, out);
  return { key: `matmul-rs:b${br}`, source, meta, grid, inputs: [0, 1] };
}

/** True when B is a transposed dense matrix (its columns contiguous, K a multiple of 4) and A is dense along K. */
export function registerMatmulNTFits(a: Operand, b: Operand): boolean {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const k = a.shape[ra - 1]!;
  return k % 4 === 0 && b.strides[rb - 2] === 1 && b.strides[rb - 1] === k && b.offset % 4 === 0 && b.strides.slice(0, -2).every((s) => s % 4 === 0) &&
    a.strides[ra - 1] === 1 && a.strides[ra - 2]! % 4 === 0 && a.offset % 4 === 0 && a.strides.slice(0, -2).every((s) => s % 4 === 0);
}

/**
 * A @ B where B = W^T for a dense W [N, K] (Linear's weight): both operands are read as vec4 runs
 * along K and each invocation keeps 4 x 4 dot products in registers.
 */
export function matmulRegisterNTKernel(a: Operand, b: Operand, out: Operand): KernelCall {
  // Everything in vec4 units: A rows and B^T rows are K/4 vec4s long.
  const { M, N, br, batch, inner, batchOffsets, meta: head } = batchLayout(a, b, out, 4, 4);
  const meta = [...head, a.strides[a.shape.length - 2]! / 4, b.strides[b.shape.length - 1]! / 4];
  const q4 = [0, 1, 2, 3];
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> B: array<vec4<f32>>;
@compute @workgroup_size(${RB_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = u32(m(0u));
  let N = u32(m(1u));
  let K4 = u32(m(2u)) / 4u;
  let col0 = gid.x * 4u;
  let row0 = gid.y * 4u;
  if (col0 >= N) { return; }
  let i = gid.z;
  ${batchOffsets}
  let sa = m(${inner}u);
  let sb = m(${inner + 1}u);
  ${q4.map((q) => `let ar${q} = u32(oa + i32(min(row0 + ${q}u, M - 1u)) * sa);
  let bc${q} = u32(ob + i32(min(col0 + ${q}u, N - 1u)) * sb);`).join('\n  ')}
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < K4; k++) {
    let b = mat4x4<f32>(B[bc0 + k], B[bc1 + k], B[bc2 + k], B[bc3 + k]);
    ${q4.map((q) => `acc[${q}] = acc[${q}] + A[ar${q} + k] * b;`).join('\n    ')}
  }
  let base = gid.z * M * N;
  for (var p = 0u; p < 4u; p++) {
    for (var c = 0u; c < 4u; c++) {
      if (row0 + p < M && col0 + c < N) { out[base + (row0 + p) * N + col0 + c] = acc[p][c]; }
    }
  }
}`;
  const grid: [number, number, number] = [Math.ceil(N / 4 / RB_WG), Math.ceil(M / 4), batch];
  if (grid.some((g) => g > MAX_GROUPS)) return matmulKernel(a, b, out);
  return { key: `matmul-rb-nt:b${br}`, source, meta, grid, inputs: [0, 1] };
}
