/** @file conv2d's input and weight gradients, written as conv2d itself over views and padding. */
import type { Conv2dParams } from '../core/params.js';
import type { Tensor } from './tensor.js';

/**
 * dL/dx: the transposed convolution of g with w, expressed as a forward conv2d: spread g by the
 * stride (zeros between rows and columns), pad by the dilated kernel's reach, and convolve with the
 * flipped kernel whose in and out channels are swapped within each group.
 */
export function conv2dInputGrad(g: Tensor, w: Tensor, xShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, o, oh, ow] = g.shape as [number, number, number, number];
  const [, cg, kh, kw] = w.shape as [number, number, number, number];
  const [h, wd] = [xShape[2]!, xShape[3]!];
  const G = p.groups;
  const [sh, sw] = p.stride;
  const [dh, dw] = p.dilation;
  let spread = g;
  if (sh > 1 || sw > 1) {
    spread = g
      .reshape([n, o, oh, 1, ow, 1])
      .pad([[0, 0], [0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1]])
      .reshape([n, o, oh * sh, ow * sw]);
  }
  // Left: the dilated kernel's reach minus the forward padding. Right: whatever makes the output
  // exactly x's size (negative amounts crop the spread's trailing zeros).
  const padded = spread.pad([
    [0, 0],
    [0, 0],
    [dh * (kh - 1) - p.padding[0], h + p.padding[0] - oh * sh],
    [dw * (kw - 1) - p.padding[1], wd + p.padding[1] - ow * sw],
  ]);
  const og = o / G;
  const wt = w
    .reshape([G, og, cg, kh, kw])
    .transpose(1, 2)
    .reshape([G * cg, og, kh, kw])
    .flip([2, 3]);
  return padded.conv2d(wt, { stride: [1, 1], padding: [0, 0], dilation: [dh, dw], groups: G });
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
