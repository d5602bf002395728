/** @file conv2d on the CPU: per group, the images' window matrices (im2col, packed straight into the wasm gemm's layout where it runs) times the weights, with the bias and clamp as epilogue. */
import { allocArray, type DType, type TypedArray } from '../../core/dtype.js';
import { gemmShared } from './gemm.js';
import { NR } from '../wasm/gemm.js';
import { addBlocksF32, biasClampF32, denseCopyF32, depthwiseF32, fillRowsF32, gemmF32Shared, heapScratch, im2colPackedF32, wasmGemmApplies } from './wasm.js';
import { type Strided, isContiguous, toDense } from './strided.js';
import { type Conv2dAttrs, convOutSize } from '../../core/params.js';

type F = Float32Array | Float64Array;

/** Images with fewer output positions than this run side by side in one product. */
const NARROW = 256;
/** The most floats a side-by-side window matrix may take. */
const TOGETHER_FLOATS = 4 * 2 ** 20;

/** out[N,O,OH,OW] = clamp(conv2d(x[N,C,H,W], w[O,C/groups,KH,KW]) + bias[O]) in NCHW; bias and clamp are optional. */
export function conv2d(x: Strided, w: Strided, out: TypedArray, p: Conv2dAttrs, dtype: DType, bias?: Strided): void {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const G = p.groups;
  const Og = O / G;
  const OH = convOutSize(H, KH, sh, ph, dh);
  const OW = convOutSize(W, KW, sw, pw, dw);
  const L = OH * OW;
  const make = (n: number) => allocArray(dtype, n);
  const b = bias ? (toDense(bias, make) as F) : null;
  const o = out as F;
  // One input channel per group (depthwise, or the first layer of a grayscale network): each
  // output plane is one input plane's correlation with one filter.
  if (dtype === 'f32' && G === C && O % C === 0 &&
    depthwiseF32(x.data as Float32Array, x.strides, x.offset, x.shape, w.data as Float32Array, w.strides, w.offset, [KH, KW], out as Float32Array, [OH, OW], [ph, pw], [dh, dw], [sh, sw], O / C)) {
    for (let n = 0; n < N; n++) epilogue(o, n * O * L, O, L, b, p.clamp);
    return;
  }
  // Strided f32 operands (the permuted views of conv2d's weight gradient) copied densely into the heap by wasm.
  const xCopy = dtype === 'f32' && !isContiguous(x.shape, x.strides) ? denseCopyF32(x) : null;
  const wCopy = dtype === 'f32' && !isContiguous(w.shape, w.strides) ? denseCopyF32(w) : null;
  const xd = (xCopy?.data ?? toDense(x, make)) as F;
  const wd = (wCopy?.data ?? toDense(w, make)) as F;
  const rows = Cg * KH * KW;
  const pointwise = KH === 1 && KW === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0;
  // The window matrix of one image, made only where the packed path does not run.
  let col: F | null = null;
  // The gemm accumulates into the output, so starting from the bias adds it for free.
  for (let n = 0; n < N; n++) {
    if (b && o instanceof Float32Array && fillRowsF32(o, n * O * L, O, L, b as Float32Array)) continue;
    if (b) for (let c = 0; c < O; c++) o.fill(b[c]!, (n * O + c) * L, (n * O + c + 1) * L);
    else o.fill(0, n * O * L, (n + 1) * O * L);
  }
  // Per group, every image against the same weights: they are packed once. On the wasm path the
  // image's window matrix is written straight into the gemm's packed layout (no im2col copy).
  const packed = !pointwise && dtype === 'f32' && wasmGemmApplies(Og, L, rows);
  // Few outputs per image (deep layers, weight gradients): every image's windows side by side in one
  // product, so the gemm's column panels are full and it runs once.
  const together = !pointwise && dtype === 'f32' && N > 1 && L < NARROW && rows * Math.ceil((N * L) / NR) * NR <= TOGETHER_FLOATS && wasmGemmApplies(Og, N * L, rows);
  const heapScratchBlock = together ? heapScratch(Og * N * L) : null;
  const scratch = together ? heapScratchBlock?.data ?? new Float32Array(Og * N * L) : null;
  for (let g = 0; g < G; g++) {
    const xAt = (n: number) => (n * C + g * Cg) * H * W;
    const cAt = (n: number) => (n * O + g * Og) * L;
    const win = [Cg, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW] as const;
    if (scratch) {
      if (heapScratchBlock) heapScratchBlock.clear();
      else scratch.fill(0);
      if (gemmF32Shared(Og, N * L, rows, wd as Float32Array, g * Og * rows, rows, 1, 1, () => (mem, at) => im2colPacked(xd as Float32Array, N, xAt, ...win, mem, at), N * L, 1, scratch, () => 0, N * L)) {
        // scratch is [i][n][l], the output [n][O][l]: one wasm pass moves every row back.
        if (!addBlocksF32(o as Float32Array, cAt(0), L, O * L, scratch, 0, N * L, L, Og, N, L)) {
          for (let i = 0; i < Og; i++) for (let n = 0; n < N; n++) {
            const src = i * N * L + n * L;
            const dst = cAt(n) + i * L;
            for (let l = 0; l < L; l++) o[dst + l]! += scratch[src + l]!;
          }
        }
        continue;
      }
    }
    if (packed && gemmF32Shared(Og, L, rows, wd as Float32Array, g * Og * rows, rows, 1, N,
      (n) => (mem, at) => im2colPacked(xd as Float32Array, 1, () => xAt(n), ...win, mem, at), L, 1, o as Float32Array, cAt, L)) continue;
    const input = (n: number): [F, number] => {
      if (pointwise) return [xd, xAt(n)];
      col ??= make(rows * L) as F;
      im2col(xd, xAt(n), Cg, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, col);
      return [col, 0];
    };
    gemmShared(Og, L, rows, wd, g * Og * rows, rows, N, input, L, o, cAt, L);
  }
  heapScratchBlock?.done();
  xCopy?.done();
  wCopy?.done();
  if (p.clamp) for (let n = 0; n < N; n++) epilogue(o, n * O * L, O, L, null, p.clamp);
}

/**
 * im2col written in the gemm's packed B layout, for `images` images side by side (column J is
 * output position J % L of image J / L): for each panel of NR columns, each (channel, kh, kw) row
 * holds the NR input values those positions see (zero outside the image and past the last column).
 */
function im2colPacked(
  x: Float32Array, images: number, imageAt: (t: number) => number, C: number, H: number, W: number, KH: number, KW: number,
  sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
  OH: number, OW: number, out: Float32Array, at: number,
): void {
  // Both callers place image t at an affine offset, so the wasm pass gets the first and the stride.
  const x0 = imageAt(0);
  if (im2colPackedF32(x, x0, images > 1 ? imageAt(1) - x0 : 0, images, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, at)) return;
  const L = OH * OW;
  const total = images * L;
  const K = C * KH * KW;
  const ih0 = new Int32Array(NR);
  const iw0 = new Int32Array(NR);
  const base = new Int32Array(NR);
  for (let j0 = 0; j0 < total; j0 += NR) {
    const cols = Math.min(NR, total - j0);
    for (let q = 0; q < cols; q++) {
      const t = Math.floor((j0 + q) / L);
      const l = j0 + q - t * L;
      base[q] = imageAt(t);
      ih0[q] = Math.floor(l / OW) * sh - ph;
      iw0[q] = (l % OW) * sw - pw;
    }
    let dst = at + j0 * K;
    for (let c = 0; c < C; c++) {
      const plane = c * H * W;
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++, dst += NR) {
          for (let q = 0; q < cols; q++) {
            const ih = ih0[q]! + kh * dh;
            const iw = iw0[q]! + kw * dw;
            out[dst + q] = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[base[q]! + plane + ih * W + iw]! : 0;
          }
          for (let q = cols; q < NR; q++) out[dst + q] = 0;
        }
      }
    }
  }
}

/** Adds the bias (when given) and clamps, in place, over one image's O planes of L outputs; NaN stays NaN. */
function epilogue(o: F, at: number, O: number, L: number, bias: F | null, clamp: [number, number] | undefined): void {
  if (!clamp && !bias) return;
  const [lo, hi] = clamp ?? [-Infinity, Infinity];
  if (o instanceof Float32Array && biasClampF32(o, at, O, L, bias as Float32Array | null, lo, hi)) return;
  for (let c = 0; c < O; c++) {
    const add = bias ? bias[c]! : 0;
    for (let i = at + c * L, end = i + L; i < end; i++) {
      const v = o[i]! + add;
      o[i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}

function im2col(
  x: F, xOff: number, C: number, H: number, W: number, KH: number, KW: number,
  sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
  OH: number, OW: number, col: F,
): void {
  let r = 0;
  for (let c = 0; c < C; c++) {
    const plane = xOff + c * H * W;
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++, r++) {
        const rowOff = r * OH * OW;
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh - ph + kh * dh;
          const dst = rowOff + oh * OW;
          if (ih < 0 || ih >= H) {
            col.fill(0, dst, dst + OW);
            continue;
          }
          const srcRow = plane + ih * W;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * sw - pw + kw * dw;
            col[dst + ow] = iw >= 0 && iw < W ? x[srcRow + iw]! : 0;
          }
        }
      }
    }
  }
}
