/** @file Tiled GEMM (workgroup-memory tiles, 4x4 register blocks) and the matmul and conv2d kernels built on it. */
import { broadcastStrides } from '../../engine/shape.js';
import { type KernelCall, type Operand, MAX_GROUPS, grid1d, metaDecl, unravel } from './common.js';

const TS = 32; // output tile edge
const BK = 16; // depth of one shared tile
const TPT = 4; // outputs per thread along each edge

/**
 * C[z][M][N] = sum_k A(z, i, k) B(z, k, j). The caller supplies WGSL for the two loaders (each
 * bounds-checked, returning 0 outside) and the store; meta[0..2] hold M, N, K.
 */
function gemmSource(metaCount: number, decls: string, loaders: string): string {
  const threads = TS / TPT;
  const perThread = (BK * TS) / (threads * threads);
  return `${metaDecl(metaCount)}
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
  const meta = [M, N, K, ...batchShape, ...batchStrides(a).map((s) => s / aUnit), a.offset / aUnit, ...batchStrides(b).map((s) => s / bUnit), b.offset / bUnit];
  return {
    M, N, K, br, meta,
    batch: batchShape.reduce((x, y) => x * y, 1),
    inner: bAt + br + 1,
    batchOffsets: unravel(br, shapeAt, [{ name: 'oa', at: aAt }, { name: 'ob', at: bAt }]),
  };
}

/** out[..., M, N] = a[..., M, K] @ b[..., K, N] with broadcast batch dims and any strides. */
export function matmulKernel(a: Operand, b: Operand, out: Operand): KernelCall {
  const { M, N, br, batch, inner, batchOffsets, meta: head } = batchLayout(a, b, out);
  // meta: the shared layout, then A's row and column strides and B's.
  const meta = [...head, a.strides[a.shape.length - 2]!, a.strides[a.shape.length - 1]!, b.strides[b.shape.length - 2]!, b.strides[b.shape.length - 1]!];
  const loaders = `
fn batchOffsets(z: u32) -> vec2<i32> {
  let i = z;
  ${batchOffsets}
  return vec2<i32>(oa, ob);
}
fn loadA(z: u32, i: u32, k: u32) -> f32 {
  if (i >= u32(m(0u)) || k >= u32(m(2u))) { return 0.0; }
  return A[batchOffsets(z).x + i32(i) * m(${inner}u) + i32(k) * m(${inner + 1}u)];
}
fn loadB(z: u32, k: u32, j: u32) -> f32 {
  if (j >= u32(m(1u)) || k >= u32(m(2u))) { return 0.0; }
  return B[batchOffsets(z).y + i32(k) * m(${inner + 2}u) + i32(j) * m(${inner + 3}u)];
}
fn storeC(z: u32, i: u32, j: u32, v: f32) { out[(z * u32(m(0u)) + i) * u32(m(1u)) + j] = v; }`;
  return {
    key: `matmul:b${br}`,
    source: () => gemmSource(meta.length, BINDINGS, loaders),
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

// Eight rows x one vec4 (32 accumulators) measured 13-14 GFLOP/s at 1024^3 on lavapipe against 10-11 for four rows.
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
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<vec4<f32>>;
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
    let bv = B[u32(ob) + k * N4 + col];
    let ak = i32(k) * sa1;
    ${rows.map((q) => `acc${q} = fma(vec4<f32>(A[u32(ar${q} + ak)]), bv, acc${q});`).join('\n    ')}
  }
  let base = gid.z * M * N4;
  ${rows.map((q) => `if (ok${q}) { out[base + (row0 + ${q}u) * N4 + col] = acc${q}; }`).join('\n  ')}
}`;
  const grid: [number, number, number] = [Math.ceil(N / 4 / RB_WG), Math.ceil(M / RB_ROWS), batch];
  if (grid.some((g) => g > MAX_GROUPS)) return matmulKernel(a, b, out);
  return { key: `matmul-rb:b${br}`, source, meta, grid, inputs: [0, 1] };
}

export interface ConvParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/**
 * conv2d as an implicit GEMM per group: M = out channels of the group, N = N*OH*OW, K = C/g*KH*KW.
 * The B loader computes the im2col address on the fly, so no column matrix is ever stored.
 */
export function conv2dKernel(x: Operand, w: Operand, out: Operand, p: ConvParams): KernelCall {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [Nb, , OH, OW] = out.shape as [number, number, number, number];
  const G = p.groups;
  const Og = O / G;
  const M = Og;
  const N = Nb * OH * OW;
  const K = Cg * KH * KW;
  const meta = [
    M, N, K, // 0..2
    C, H, W, Cg, KH, KW, OH, OW, O, // 3..11
    p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], // 12..17
    ...x.strides, x.offset, // 18..22
    ...w.strides, w.offset, // 23..27
  ];
  const loaders = `
fn loadA(g: u32, i: u32, k: u32) -> f32 {
  if (i >= u32(m(0u)) || k >= u32(m(2u))) { return 0.0; }
  let khw = u32(m(7u) * m(8u));
  let c = k / khw;
  let kh = (k / u32(m(8u))) % u32(m(7u));
  let kw = k % u32(m(8u));
  let o = g * u32(m(0u)) + i;
  return Wt[m(27u) + i32(o) * m(23u) + i32(c) * m(24u) + i32(kh) * m(25u) + i32(kw) * m(26u)];
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
  return X[m(22u) + i32(n) * m(18u) + ch * m(19u) + ih * m(20u) + iw * m(21u)];
}
fn storeC(g: u32, i: u32, j: u32, v: f32) {
  let ohw = u32(m(9u) * m(10u));
  let n = j / ohw;
  let s = j % ohw;
  out[(n * u32(m(11u)) + g * u32(m(0u)) + i) * ohw + s] = v;
}`;
  return {
    key: 'conv2d',
    source: () => gemmSource(meta.length, CONV_BINDINGS, loaders),
    meta,
    grid: gemmGrid(M, N, G, 'conv2d'),
    inputs: [0, 1],
  };
}

const DIRECT_WG = 64;

/**
 * conv2d with one invocation per output element, looping over its (C/groups) x KH x KW window.
 * For depthwise and other few-outputs-per-group convolutions, where a GEMM tile would be mostly
 * empty rows.
 */
export function conv2dDirectKernel(x: Operand, w: Operand, out: Operand, p: ConvParams): KernelCall {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [, , OH, OW] = out.shape as [number, number, number, number];
  const n = out.shape.reduce((a, b) => a * b, 1);
  const Og = O / p.groups;
  // meta: n, C, H, W, O, Cg, KH, KW, OH, OW, Og (0-10) | stride, pad, dilation (11-16) | x strides, offset (17-21) | w strides, offset (22-26)
  const meta = [n, C, H, W, O, Cg, KH, KW, OH, OW, Og, ...p.stride, ...p.padding, ...p.dilation, ...x.strides, x.offset, ...w.strides, w.offset];
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> Wt: array<f32>;
@compute @workgroup_size(${DIRECT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * ${DIRECT_WG}u + lid.x;
  if (i >= u32(m(0u))) { return; }
  let OW = u32(m(9u)); let OH = u32(m(8u)); let O = u32(m(4u));
  let ow = i32(i % OW);
  let oh = i32((i / OW) % OH);
  let o = (i / (OW * OH)) % O;
  let nb = i32(i / (OW * OH * O));
  let g = o / u32(m(10u));
  let Cg = u32(m(5u));
  var acc = 0.0;
  for (var c = 0u; c < Cg; c++) {
    let xc = m(21u) + nb * m(17u) + i32(g * Cg + c) * m(18u);
    let wc = m(26u) + i32(o) * m(22u) + i32(c) * m(23u);
    for (var kh = 0; kh < m(6u); kh++) {
      let ih = oh * m(11u) - m(13u) + kh * m(15u);
      if (ih < 0 || ih >= m(2u)) { continue; }
      for (var kw = 0; kw < m(7u); kw++) {
        let iw = ow * m(12u) - m(14u) + kw * m(16u);
        if (iw < 0 || iw >= m(3u)) { continue; }
        acc = fma(X[u32(xc + ih * m(19u) + iw * m(20u))], Wt[u32(wc + kh * m(24u) + kw * m(25u))], acc);
      }
    }
  }
  out[i] = acc;
}`;
  return { key: 'conv2d-direct', source, meta, grid: grid1d(Math.ceil(n / DIRECT_WG)), inputs: [0, 1] };
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
