/** @file conv2d's input and weight gradients, written as conv2d itself (or a matmul) over views and padding. */
import type { Conv2dParams } from '../core/params.js';
import type { Tensor } from './tensor.js';
import { placeSlice } from './place.js';

/**
 * dL/dx: the transposed convolution of g with w, expressed as a forward conv2d: spread g by the
 * stride (zeros between rows and columns), pad by the dilated kernel's reach, and convolve with the
 * flipped kernel whose in and out channels are swapped within each group.
 */
export function conv2dInputGrad(g: Tensor, w: Tensor, xShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, o, oh, ow] = g.shape as [number, number, number, number];
  const [kh, kw] = [w.shape[2]!, w.shape[3]!];
  const [h, wd] = [xShape[2]!, xShape[3]!];
  const G = p.groups;
  const [sh, sw] = p.stride;
  const [dh, dw] = p.dilation;
  if ((sh > 1 || sw > 1) && dh === 1 && dw === 1) return inputGradByPhases(g, w, xShape, p);
  const spread = placeSlice(g, [n, o, oh * sh, ow * sw], [0, 0, 0, 0], [1, 1, sh, sw]);
  // Left: the dilated kernel's reach minus the forward padding. Right: whatever makes the output
  // exactly x's size (negative amounts crop the spread's trailing zeros).
  const padded = spread.pad([
    [0, 0],
    [0, 0],
    [dh * (kh - 1) - p.padding[0], h + p.padding[0] - oh * sh],
    [dw * (kw - 1) - p.padding[1], wd + p.padding[1] - ow * sw],
  ]);
  return padded.conv2d(transposedKernel(w, G), { stride: [1, 1], padding: [0, 0], dilation: [dh, dw], groups: G });
}

/** w [O, C/G, KH, KW] as the kernel of its transposed convolution: flipped, in and out channels swapped within each group (a view). */
function transposedKernel(w: Tensor, G: number): Tensor {
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  return w.reshape([G, o / G, cg, kh, kw]).transpose(1, 2).reshape([G * cg, o / G, kh, kw]).flip([2, 3]);
}

/**
 * A strided convolution's input gradient one output phase at a time: the x positions congruent to
 * (a, b) modulo the stride are reached only by the kernel taps congruent to (a + padding) modulo
 * it, so each phase is a unit-stride convolution of g with those taps (flipped), placed back every
 * stride-th position. The spread gradient's zeros (three quarters of it at stride 2) are never
 * multiplied.
 */
function inputGradByPhases(g: Tensor, w: Tensor, xShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, , oh, ow] = g.shape as [number, number, number, number];
  const [, cg, kh, kw] = w.shape as [number, number, number, number];
  const shape = [n, cg * p.groups, xShape[2]!, xShape[3]!];
  const G = p.groups;
  let dx: Tensor | null = null;
  for (let a = 0; a < p.stride[0]; a++) {
    for (let b = 0; b < p.stride[1]; b++) {
      const rows = phase(a, p.stride[0], p.padding[0], kh, shape[2]!, oh);
      const cols = phase(b, p.stride[1], p.padding[1], kw, shape[3]!, ow);
      if (!rows || !cols) continue; // no tap reaches these positions: their gradient is zero
      const taps = w.slice(2, rows.tap, null, p.stride[0]).slice(3, cols.tap, null, p.stride[1]);
      const gp = g.pad([[0, 0], [0, 0], [rows.left, rows.right], [cols.left, cols.right]]);
      const part = gp.conv2d(transposedKernel(taps, G), { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: G });
      const placed = placeSlice(part, shape, [0, 0, a, b], [1, 1, p.stride[0], p.stride[1]]);
      dx = dx ? dx.add(placed) : placed;
    }
  }
  return dx ?? g.newZeros(shape);
}

/**
 * Along one axis, phase `a` of stride `s`: x positions a, a + s, ... (`count` of them) take the
 * kernel taps tap, tap + s, ... (`taps`), so output u reads g from u + first on, where g padded by
 * `left` (negative: cropped) and `right` has exactly count + taps - 1 entries. Null where the phase
 * is empty or no tap reaches it.
 */
function phase(a: number, s: number, pad: number, k: number, size: number, outSize: number): { tap: number; taps: number; left: number; right: number } | null {
  const count = Math.ceil((size - a) / s);
  const tap = (a + pad) % s;
  const taps = tap < k ? Math.ceil((k - tap) / s) : 0;
  if (count <= 0 || taps === 0) return null;
  const left = taps - 1 - Math.floor((a + pad) / s);
  return { tap, taps, left, right: count + taps - 1 - outSize - left };
}

/**
 * dL/dw: per group, the correlation of x with g, run as a conv2d whose batch is x's channels and
 * whose kernel is g (stride and dilation trade places). x is first padded (or cropped) to exactly
 * the rows and columns the windows reach, so the result is the kernel's size: with a stride, the
 * conv's own symmetric padding would compute positions past the kernel (a 1x1, stride-2
 * downsample's gradient four times over) only to crop them.
 */
export function conv2dWeightGrad(g: Tensor, x: Tensor, wShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, , h, wd] = x.shape as [number, number, number, number];
  const [, o, oh, ow] = g.shape as [number, number, number, number];
  const [, cg, kh, kw] = wShape as [number, number, number, number];
  const G = p.groups;
  const og = o / G;
  // The padded input's extent the windows reach: the dilated kernel plus the strided outputs.
  const reach = [p.dilation[0] * (kh - 1) + p.stride[0] * (oh - 1) + 1, p.dilation[1] * (kw - 1) + p.stride[1] * (ow - 1) + 1];
  const pads: [number, number][] = [[0, 0], [0, 0], [p.padding[0], reach[0]! - h - p.padding[0]], [p.padding[1], reach[1]! - wd - p.padding[1]]];
  const padded = () => (pads.flat().some((a) => a !== 0) ? x.pad(pads) : x);
  if (G === 1 && n * oh * ow <= MATMUL_MAX_POSITIONS) return weightGradByMatmul(g, padded(), wShape, p);
  // Where the reach is the symmetric padding, the conv pads for itself.
  const exact = reach[0] === h + 2 * p.padding[0] && reach[1] === wd + 2 * p.padding[1];
  const xp = exact ? x : padded();
  const [hp, wp] = [xp.shape[2]!, xp.shape[3]!];
  const xt = xp.reshape([n, G, cg, hp, wp]).permute([2, 1, 0, 3, 4]).reshape([cg, G * n, hp, wp]);
  const gt = g.reshape([n, G, og, oh, ow]).permute([1, 2, 0, 3, 4]).reshape([G * og, n, oh, ow]);
  const r = xt.conv2d(gt, { stride: p.dilation, padding: exact ? p.padding : [0, 0], dilation: p.stride, groups: G });
  return r.transpose(0, 1);
}

/**
 * Few output positions (deep layers: batch x positions of a few dozen) make the correlation a
 * product with a short inner dimension whose result is the weight: there dL/dw is g [O, N*L] times
 * x's windows [N*L, C*KH*KW], so it comes out in the weight's own layout. (As a conv2d, the result
 * is [C, O, KH, KW] and every reader of the gradient, the optimizer first, reads it transposed.)
 */
const MATMUL_MAX_POSITIONS = 256;

function weightGradByMatmul(g: Tensor, xp: Tensor, wShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, c] = [xp.shape[0]!, xp.shape[1]!];
  const [o, oh, ow] = [g.shape[1]!, g.shape[2]!, g.shape[3]!];
  const [kh, kw] = [wShape[2]!, wShape[3]!];
  const [dh, dw] = p.dilation;
  // [C, N, OH, OW, KH, KW]: each output position's window, taps dilation apart.
  let win = xp.permute([1, 0, 2, 3]).unfold(2, dh * (kh - 1) + 1, p.stride[0]).unfold(3, dw * (kw - 1) + 1, p.stride[1]);
  if (dh > 1) win = win.slice(4, 0, null, dh);
  if (dw > 1) win = win.slice(5, 0, null, dw);
  // The windows as rows [N*L, C*KH*KW] (a dense B packs by vectors).
  const cols = win.permute([1, 2, 3, 0, 4, 5]).reshape([n * oh * ow, c * kh * kw]);
  return g.permute([1, 0, 2, 3]).reshape([o, n * oh * ow]).matmul(cols).reshape(wShape);
}
