/** @file Pooling CPU kernels: average pooling and the argmax window indices max pooling gathers by. */
import { allocArray, type DType, type TypedArray } from '../../core/dtype.js';
import { type Strided, toDense } from './strided.js';
import { maxPool2x2F32, maxPoolF32 } from './wasm.js';
import type { Pool2dParams } from '../../core/params.js';

/** out[N,C,OH,OW] = mean over each window; `countIncludePad` divides by the full window as PyTorch's default does. */
export function avgPool2d(x: Strided, out: TypedArray, p: Pool2dParams & { countIncludePad: boolean }, outShape: readonly number[], dtype: DType): void {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, , OH, OW] = outShape as [number, number, number, number];
  const xd = toDense(x, (n) => allocArray(dtype, n));
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  let o = 0;
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - ph;
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * sw - pw;
        let acc = 0;
        let count = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = h0 + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = w0 + kw;
            if (iw < 0 || iw >= W) continue;
            acc += xd[base + ih * W + iw]!;
            count++;
          }
        }
        out[o++] = acc / (p.countIncludePad ? KH * KW : count);
      }
    }
  }
}

/** out[N,C,OH,OW] = flat index (ih*W + iw) of each window's maximum, first on ties, NaN wins. */
export function maxPool2dIndices(x: Strided, out: TypedArray, p: Pool2dParams, outShape: readonly number[], dtype: DType): void {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, , OH, OW] = outShape as [number, number, number, number];
  const xd = toDense(x, (n) => allocArray(dtype, n));
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  let o = 0;
  if (KH === 2 && KW === 2 && sh === 2 && sw === 2 && ph === 0 && pw === 0 && dh === 1 && dw === 1) {
    if (xd instanceof Float32Array && out instanceof Int32Array && maxPool2x2F32(xd, 0, N * C, H, W, OH, OW, out)) return;
    // The usual 2x2 window, stride 2: every window lies inside the image, so no bounds checks; the
    // same first-wins, NaN-wins order as the general loop.
    for (let plane = 0; plane < N * C; plane++) {
      const base = plane * H * W;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0, at0 = 2 * oh * W + 2 * ow; ow < OW; ow++, at0 += 2) {
          let at = at0;
          let best = xd[base + at0]!;
          let v = xd[base + at0 + 1]!;
          if (v > best || (v !== v && best === best)) {
            best = v;
            at = at0 + 1;
          }
          v = xd[base + at0 + W]!;
          if (v > best || (v !== v && best === best)) {
            best = v;
            at = at0 + W;
          }
          v = xd[base + at0 + W + 1]!;
          if (v > best || (v !== v && best === best)) at = at0 + W + 1;
          out[o++] = at;
        }
      }
    }
    return;
  }
  if (xd instanceof Float32Array && out instanceof Int32Array && maxPoolF32(xd, 0, N * C, H, W, OH, OW, p, out)) return;
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let at = -1;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const v = xd[base + ih * W + iw]!;
            if (at < 0 || v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
              best = v;
              at = ih * W + iw;
            }
          }
        }
        out[o++] = at;
      }
    }
  }
}
