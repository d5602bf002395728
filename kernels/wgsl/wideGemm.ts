/** @file The GEMM for discrete GPUs: 64x64 workgroup tiles, 4x4 outputs per invocation in vec4 registers, vec4 loads where the layout allows, double-buffered shared tiles; matmul and conv2d (implicit GEMM) on it. */
import type { Conv2dParams } from '../../core/params.js';
import type { ConvEpilogue } from './epilogue.js';
import { implicitGemm, stridedGemm } from './matmul.js';
import { type KernelCall, type Operand, MAX_GROUPS, enableFor, metaDecl, preludeFor, storageType } from './common.js';

const TILE = 64; // output tile edge
const BK = 16; // depth of one shared tile
const SIDE = 16; // invocations per tile edge: 16 x 16 = 256, each 4 x 4 outputs
const PER = (TILE * BK) / (SIDE * SIDE); // elements of each operand one invocation loads per tile: 4

/**
 * How the kernel reads A and B: through scalar loader functions loadA(z, i, k) and loadB(z, k, j)
 * (bounds-checked, any layout), or as vec4s straight from the binding: `vecA(z, row, kq)` returns
 * A[row][4kq .. 4kq+3] (K-contiguous A), `vecB(z, k, nq)` B[k][4nq .. 4nq+3] (N-contiguous B).
 */
interface Loads {
  vecA: boolean;
  vecB: boolean;
}

/**
 * C[z] = A[z] B[z] over [M, K] x [K, N], meta[0..2] = M, N, K. One barrier per step of BK: the next
 * tile is read into registers while the current one is multiplied, then stored into the other half
 * of the double buffer.
 */
function wideSource(metaCount: number, decls: string, loaders: string, loads: Loads, directives: string): string {
  // The A tile is stored k-major ([BK][TILE], m contiguous) so a column of four rows is one vec4.
  const fetchA = loads.vecA
    ? `let row = t / 4u; let kq = t % 4u;
    let v = vecA(z, row0 + row, k0 / 4u + kq);
    ra0 = v.x; ra1 = v.y; ra2 = v.z; ra3 = v.w;`
    : [0, 1, 2, 3].map((e) => `ra${e} = loadA(z, row0 + (t * ${PER}u + ${e}u) / ${BK}u, k0 + (t * ${PER}u + ${e}u) % ${BK}u);`).join('\n    ');
  const storeA = loads.vecA
    ? `{ let row = t / 4u; let kq = t % 4u;
      ${[0, 1, 2, 3].map((e) => `tA[buf * ${BK * TILE}u + (kq * 4u + ${e}u) * ${TILE}u + row] = ra${e};`).join('\n      ')} }`
    : `{ ${[0, 1, 2, 3].map((e) => `let i${e} = t * ${PER}u + ${e}u; tA[buf * ${BK * TILE}u + (i${e} % ${BK}u) * ${TILE}u + i${e} / ${BK}u] = ra${e};`).join('\n      ')} }`;
  const fetchB = loads.vecB
    ? `rb = vecB(z, k0 + t / ${SIDE}u, t % ${SIDE}u + col0 / 4u);`
    : `rb = vec4<f32>(${[0, 1, 2, 3].map((e) => `loadB(z, k0 + (t * ${PER}u + ${e}u) / ${TILE}u, col0 + (t * ${PER}u + ${e}u) % ${TILE}u)`).join(', ')});`;
  // Both layouts fill four consecutive columns of one k row: one vec4 of the B tile.
  const storeB = `tB[buf * ${(BK * TILE) / 4}u + t] = rb;`;
  return `${directives}${metaDecl(metaCount)}
${decls}
var<workgroup> tA: array<f32, ${2 * BK * TILE}>;
var<workgroup> tB: array<vec4<f32>, ${(2 * BK * TILE) / 4}>;
${loaders}
@compute @workgroup_size(${SIDE}, ${SIDE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = u32(m(0u));
  let N = u32(m(1u));
  let K = u32(m(2u));
  let z = wid.z;
  let row0 = wid.y * ${TILE}u;
  let col0 = wid.x * ${TILE}u;
  let t = lid.y * ${SIDE}u + lid.x;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var ra0 = 0.0; var ra1 = 0.0; var ra2 = 0.0; var ra3 = 0.0;
  var rb = vec4<f32>(0.0);
  var k0 = 0u;
  var buf = 0u;
  ${fetchA}
  ${fetchB}
  ${storeA}
  ${storeB}
  workgroupBarrier();
  for (; k0 < K; k0 += ${BK}u) {
    let cur = buf;
    let more = k0 + ${BK}u < K;
    if (more) {
      k0 += ${BK}u;
      ${fetchA.replace(/\n/g, '\n  ')}
      ${fetchB}
      k0 -= ${BK}u;
    }
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let a = vec4<f32>(${[0, 1, 2, 3].map((p) => `tA[cur * ${BK * TILE}u + kk * ${TILE}u + lid.y * 4u + ${p}u]`).join(', ')});
      let b = tB[cur * ${(BK * TILE) / 4}u + kk * ${TILE / 4}u + lid.x];
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    if (more) {
      buf = 1u - cur;
      ${storeA}
      ${storeB}
    }
    workgroupBarrier();
  }
  var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var p = 0u; p < 4u; p++) {
    let i = row0 + lid.y * 4u + p;
    for (var q = 0u; q < 4u; q++) {
      let j = col0 + lid.x * 4u + q;
      if (i < M && j < N) { storeC(z, i, j, accs[p][q]); }
    }
  }
}`;
}

function wideGrid(m: number, n: number, batch: number, op: string): [number, number, number] {
  const grid: [number, number, number] = [Math.ceil(n / TILE), Math.ceil(m / TILE), batch];
  if (grid.some((g) => g > MAX_GROUPS)) throw new Error(`${op}: a grid of ${grid.join('x')} workgroups exceeds ${MAX_GROUPS} per dimension`);
  return grid;
}

const vecType = (d: Operand['dtype']) => `vec4<${storageType(d)}>`;

/** out[..., M, N] = a[..., M, K] @ b[..., K, N], any strides and broadcast batch dims; f16 operands read and written as f16. */
export function matmulWideKernel(a: Operand, b: Operand, out: Operand): KernelCall {
  const { M, N, K, br, batch, inner, meta, aBatch, bBatch, wgsl } = stridedGemm(a, b, out);
  const [aRow, aCol] = [a.strides[a.shape.length - 2]!, a.strides[a.shape.length - 1]!];
  const [bRow, bCol] = [b.strides[b.shape.length - 2]!, b.strides[b.shape.length - 1]!];
  const aligned = (o: Operand, row: number, batchStrides: number[]) => o.offset % 4 === 0 && row % 4 === 0 && batchStrides.every((s) => s % 4 === 0);
  // vec4 reads need the contiguous dim in whole, aligned vec4s (then a vec4 is all inside the bounds or all outside).
  const loads: Loads = { vecA: aCol === 1 && K % 4 === 0 && aligned(a, aRow, aBatch), vecB: bCol === 1 && N % 4 === 0 && aligned(b, bRow, bBatch) };
  // Each operand is read by the scalar loader (any layout) or a vec4 reader, the one wideSource calls for it.
  const vectorA = `fn vecA(z: u32, i: u32, kq: u32) -> vec4<f32> {
  if (i >= u32(m(0u)) || kq * 4u >= u32(m(2u))) { return vec4<f32>(0.0); }
  return vec4<f32>(A[(batchOffsets(z).x + i32(i) * m(${inner}u)) / 4 + i32(kq)]);
}`;
  const vectorB = `fn vecB(z: u32, k: u32, nq: u32) -> vec4<f32> {
  if (nq * 4u >= u32(m(1u)) || k >= u32(m(2u))) { return vec4<f32>(0.0); }
  return vec4<f32>(B[(batchOffsets(z).y + i32(k) * m(${inner + 2}u)) / 4 + i32(nq)]);
}`;
  const loaders = [wgsl.batchOffsets, loads.vecA ? vectorA : wgsl.loadA, loads.vecB ? vectorB : wgsl.loadB, wgsl.storeC].join('\n');
  const typeA = loads.vecA ? vecType(a.dtype) : storageType(a.dtype);
  const typeB = loads.vecB ? vecType(b.dtype) : storageType(b.dtype);
  const decls = `@group(0) @binding(1) var<storage, read_write> out: array<${storageType(out.dtype)}>;
@group(0) @binding(2) var<storage, read> A: array<${typeA}>;
@group(0) @binding(3) var<storage, read> B: array<${typeB}>;
${out.dtype === 'f16' ? preludeFor('to_f16(') : ''}`;
  return {
    key: `matmul-wide:b${br}:${loads.vecA ? 'va' : 'sa'}${loads.vecB ? 'vb' : 'sb'}:${a.dtype},${b.dtype}>${out.dtype}`,
    source: () => wideSource(meta.length, decls, loaders, loads, enableFor([out.dtype, a.dtype, b.dtype])),
    meta,
    grid: wideGrid(M, N, batch, 'matmul'),
    inputs: [0, 1],
  };
}

/** conv2d as an implicit GEMM per group on the wide tiles (the loaders matmul.ts's implicitGemm writes), the bias and clamp in the store. */
export function conv2dWideKernel(x: Operand, w: Operand, out: Operand, p: Conv2dParams, ep?: ConvEpilogue): KernelCall {
  const g = implicitGemm(x, w, out, p, ep);
  return {
    key: `conv2d-wide${g.key}`,
    source: () => wideSource(g.meta.length, g.decls, g.loaders, { vecA: false, vecB: false }, g.directives),
    meta: g.meta,
    grid: wideGrid(g.M, g.N, g.G, 'conv2d'),
    inputs: g.inputs,
  };
}
