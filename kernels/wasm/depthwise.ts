/** @file The WebAssembly SIMD depthwise-convolution kernels: four neighbouring outputs of a row per f32x4, over a zero-padded plane (stride 1) or its column phases (stride 2). */
import { Body, I32, V128, type WasmFunction } from './encode.js';

// Parameters, then loop state, then vectors.
const [XP, WP, OP, WPAD, OH, OW4, KH, KW, DH, DW] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const [OHI, OWI, KHI, KWI, XROW, WPTR, OPTR] = [10, 11, 12, 13, 14, 15, 16];
const ACC = 17;
const PARAMS = new Array<number>(10).fill(I32);
const LOCALS = [...new Array<number>(7).fill(I32), V128];

/** The loops over output rows and groups of four outputs around `window`, which sums into ACC; then the store. */
function planeLoops(b: Body, window: () => void): void {
  b.get(OP).set(OPTR);
  b.i32(0).set(OHI);
  b.loop(); // output rows
  b.i32(0).set(OWI);
  b.loop(); // groups of four outputs
  b.zero().set(ACC);
  window();
  b.get(OPTR).get(ACC).store(0);
  b.get(OPTR).i32(16).add().set(OPTR);
  b.get(OWI).i32(1).add().tee(OWI).get(OW4).ltU().brIf(0);
  b.end();
  b.get(OHI).i32(1).add().tee(OHI).get(OH).ltU().brIf(0);
  b.end();
}

/** xrow = xp + ((ohi + i*dh) * wpad + owi*4) * 4, with i on the stack pushed by `tapRow`. */
function rowAddress(b: Body, tapRow: () => void): void {
  b.get(XP).get(OHI);
  tapRow();
  b.get(DH).mul().add().get(WPAD).mul().get(OWI).i32(4).mul().add().i32(4).mul().add().set(XROW);
}

/**
 * depthwise(xp, wp, op, wpad, oh, ow4, kh, kw, dh, dw): one channel plane. x is the plane padded to
 * rows of `wpad` floats (zeros around, and past the last column far enough for the last vector), w
 * the kh x kw taps, o rows of 4*ow4 outputs: o[r][q] = sum x[r + i*dh][q + j*dw] * w[i][j].
 */
export function depthwiseFunction(): WasmFunction {
  const b = new Body();
  planeLoops(b, () => {
    b.get(WP).set(WPTR);
    b.i32(0).set(KHI);
    b.loop(); // taps down
    rowAddress(b, () => b.get(KHI));
    b.i32(0).set(KWI);
    b.loop(); // taps across
    b.get(ACC).get(XROW).get(KWI).get(DW).mul().i32(4).mul().add().load(0).get(WPTR).loadSplat(0).f32x4Mul().f32x4Add().set(ACC);
    b.get(WPTR).i32(4).add().set(WPTR);
    b.get(KWI).i32(1).add().tee(KWI).get(KW).ltU().brIf(0);
    b.end();
    b.get(KHI).i32(1).add().tee(KHI).get(KH).ltU().brIf(0);
    b.end();
  });
  return { name: 'depthwise', params: PARAMS, locals: LOCALS, body: b };
}

/**
 * The same kernel for a fixed kh x kw window: the taps are splat into registers once per plane and
 * the window is unrolled, so each four outputs cost kh*kw loads, multiplies and adds.
 */
export function depthwiseFixedFunction(kh: number, kw: number): WasmFunction {
  const b = new Body();
  const TAP = ACC + 1; // the taps as splat vectors, TAP .. TAP + kh*kw - 1
  for (let t = 0; t < kh * kw; t++) b.get(WP).loadSplat(4 * t).set(TAP + t);
  planeLoops(b, () => {
    for (let i = 0; i < kh; i++) {
      rowAddress(b, () => b.i32(i));
      for (let j = 0; j < kw; j++) b.get(ACC).get(XROW).get(DW).i32(4 * j).mul().add().load(0).get(TAP + i * kw + j).f32x4Mul().f32x4Add().set(ACC);
    }
  });
  return { name: `depthwise${kh}x${kw}`, params: PARAMS, locals: [...LOCALS, ...new Array<number>(kh * kw).fill(V128)], body: b };
}

/**
 * depthwise{kh}x{kw}s{sw}(xp, wp, op, wpad, oh, ow4, sh, phaseBytes, -, -): a fixed window with
 * column stride `sw` (and row stride `sh`), dilation 1. The padded plane arrives split into sw
 * column phases (phase p holds padded columns p, p + sw, ...; `wpad` floats a row, `phaseBytes`
 * apart), so the four inputs a tap reads for four neighbouring outputs are contiguous again:
 * tap j reads phase j % sw from column q + floor(j / sw).
 */
export function depthwiseStridedFunction(kh: number, kw: number, sw: number): WasmFunction {
  const [SH, PHASE] = [KH, KW];
  const b = new Body();
  const TAP = ACC + 1;
  for (let t = 0; t < kh * kw; t++) b.get(WP).loadSplat(4 * t).set(TAP + t);
  planeLoops(b, () => {
    for (let i = 0; i < kh; i++) {
      // xrow = xp + ((ohi*sh + i) * wpad + owi*4) * 4
      b.get(XP).get(OHI).get(SH).mul().i32(i).add().get(WPAD).mul().get(OWI).i32(4).mul().add().i32(4).mul().add().set(XROW);
      for (let j = 0; j < kw; j++) {
        b.get(ACC).get(XROW).get(PHASE).i32(j % sw).mul().add().i32(4 * Math.floor(j / sw)).add().load(0).get(TAP + i * kw + j).f32x4Mul().f32x4Add().set(ACC);
      }
    }
  });
  return { name: `depthwise${kh}x${kw}s${sw}`, params: PARAMS, locals: [...LOCALS, ...new Array<number>(kh * kw).fill(V128)], body: b };
}
