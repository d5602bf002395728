/** @file conv2d on the CPU: im2col per image and group, then the blocked gemm. */
import { allocArray, type DType, type TypedArray } from '../../engine/dtype.js';
import { gemm } from './gemm.js';
import { depthwiseF32 } from './wasm.js';
import { type Strided, toDense } from './strided.js';

type F = Float32Array | Float64Array;

export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export function convOutSize(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** out[N,O,OH,OW] = conv2d(x[N,C,H,W], w[O,C/groups,KH,KW]) in NCHW. */
export function conv2d(x: Strided, w: Strided, out: TypedArray, p: Conv2dParams, dtype: DType): void {
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
  if (dtype === 'f32' && G === C && O === C && sh === 1 && sw === 1 &&
    depthwiseF32(x.data as Float32Array, x.strides, x.offset, x.shape, w.data as Float32Array, w.strides, w.offset, [KH, KW], out as Float32Array, [OH, OW], [ph, pw], [dh, dw])) return;
  const make = (n: number) => allocArray(dtype, n);
  const xd = toDense(x, make) as F;
  const wd = toDense(w, make) as F;
  const o = out as F;
  o.fill(0);
  const rows = Cg * KH * KW;
  const pointwise = KH === 1 && KW === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0;
  const col = pointwise ? null : (make(rows * L) as F);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const xOff = (n * C + g * Cg) * H * W;
      let src: F = xd;
      let srcOff = xOff;
      if (col) {
        im2col(xd, xOff, Cg, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, col);
        src = col;
        srcOff = 0;
      }
      gemm(Og, L, rows, wd, g * Og * rows, rows, src, srcOff, L, o, (n * O + g * Og) * L, L);
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
