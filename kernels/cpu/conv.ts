/** @file conv2d on the CPU: per group, the images' window matrices times the weights (on the wasm path a cache-sized block of the window matrix at a time, written straight into the gemm's packed layout), with the bias and clamp as epilogue. */
import { allocArray, type DType, type TypedArray } from '../../core/dtype.js';
import { gemmShared } from './gemm.js';
import { type ConvWindows, biasClampF32, convGemmF32, denseCopyF32, depthwiseF32, fillRowsF32, fillZero, heapAddress, wasmGemmApplies } from './wasm.js';
import { type Strided, isContiguous, toDense } from './strided.js';
import { type Conv2dAttrs, convOutSize } from '../../core/params.js';

type F = Float32Array | Float64Array;

/** Images with fewer output positions than this run side by side in one product. */
const NARROW = 256;

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
  // A weight view whose window axes merge into one (an input gradient's transposed, flipped
  // weights) is packed where it lies, by wasm, instead of copied densely first.
  const wStrided = dtype === 'f32' && !isContiguous(w.shape, w.strides) && heapAddress(w.data) >= 0;
  const wSplit = wStrided && (KH === 1 || KW === 1 || w.strides[2] === KW * w.strides[3]!)
    ? { K1: Cg, s1: w.strides[1]!, K2: KH * KW, s2: KW === 1 ? w.strides[2]! : w.strides[3]! } : undefined;
  const xd = (xCopy?.data ?? toDense(x, make)) as F;
  // The dense weights, made only where they are read so (the TypeScript paths, pointwise layers).
  const releases: (() => void)[] = [];
  let wDense: F | null = null;
  const wd = (): F => {
    if (wDense) return wDense;
    const copy = dtype === 'f32' && !isContiguous(w.shape, w.strides) ? denseCopyF32(w) : null;
    if (copy) releases.push(copy.done);
    return (wDense = (copy?.data ?? toDense(w, make)) as F);
  };
  const rows = Cg * KH * KW;
  const pointwise = KH === 1 && KW === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0;
  // The window matrix of one image, made only where the packed path does not run.
  let col: F | null = null;
  // The gemm accumulates into the output, so starting from the bias adds it for free.
  // (memory.fill zeroes a heap output: a typed array's fill over shared memory is ten times slower.)
  if (!b) fillZero(o);
  for (let n = 0; b && n < N; n++) {
    if (o instanceof Float32Array && fillRowsF32(o, n * O * L, O, L, b as Float32Array)) continue;
    for (let c = 0; c < O; c++) o.fill(b[c]!, (n * O + c) * L, (n * O + c + 1) * L);
  }
  // Per group, every image against the same weights: they are packed once, and wasm writes each
  // block of the window matrix straight into the gemm's packed layout.
  const viaWasm = !pointwise && dtype === 'f32' && wasmGemmApplies(Og, L, rows);
  // Few outputs per image (deep layers, weight gradients): every image's windows side by side in
  // one product, so the gemm's column panels are full.
  const together = viaWasm && N > 1 && L < NARROW;
  for (let g = 0; g < G; g++) {
    const xAt = (n: number) => (n * C + g * Cg) * H * W;
    const cAt = (n: number) => (n * O + g * Og) * L;
    const windows = (images: number, n: number): ConvWindows => ({
      x: xd as Float32Array, x0: xAt(n), imageStride: C * H * W, images, C: Cg, H, W, KH, KW, stride: p.stride, padding: p.padding, dilation: p.dilation, OH, OW,
    });
    const [count, images] = together ? [1, N] : [N, 1];
    const packed = viaWasm && (wSplit
      ? convGemmF32(Og, rows, w.data as Float32Array, w.offset + g * Og * w.strides[0]!, w.strides[0]!, count, (n) => windows(images, n), o as Float32Array, cAt, O * L, wSplit)
      : convGemmF32(Og, rows, wd() as Float32Array, g * Og * rows, rows, count, (n) => windows(images, n), o as Float32Array, cAt, O * L));
    if (packed) continue;
    const input = (n: number): [F, number] => {
      if (pointwise) return [xd, xAt(n)];
      col ??= make(rows * L) as F;
      im2col(xd, xAt(n), Cg, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, col);
      return [col, 0];
    };
    gemmShared(Og, L, rows, wd(), g * Og * rows, rows, N, input, L, o, cAt, L);
  }
  xCopy?.done();
  for (const release of releases) release();
  if (p.clamp) for (let n = 0; n < N; n++) epilogue(o, n * O * L, O, L, null, p.clamp);
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
