/** @file Every primitive's gradient rule, written with tensor ops so autograd runs on any backend. */
import { F32_LOWEST, isFloat } from '../core/dtype.js';
import { causalKeep } from '../core/shape.js';
import type { AvgPool2dAttrs, ReduceAttrs } from '../core/params.js';
import type { OpAttrs, OpName } from '../ops/schema.js';
import { conv2dInputGrad, conv2dWeightGrad } from './convGrad.js';
import { placeSlice } from './place.js';
import type { Tensor } from './tensor.js';

/**
 * Input gradients for one op, written with tensor ops; null where an input gets none. `needs[i]`
 * says whether input i wants one: a rule may skip the work for the others (a frozen layer's
 * weights, the network's input), as autograd discards them anyway.
 */
export type GradRule<K extends OpName> = (g: Tensor, inputs: Tensor[], out: Tensor, attrs: OpAttrs[K], needs: readonly boolean[]) => (Tensor | null)[];

/** Sums a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.shape.length - shape.length;
  let r = lead > 0 ? g.sum([...Array(lead).keys()]) : g;
  const dims = shape.flatMap((d, i) => (d === 1 && r.shape[i] !== 1 ? [i] : []));
  if (dims.length) r = r.sum(dims, true);
  return r;
}
/** Re-inserts reduced axes (size 1) so a reduction's gradient broadcasts against its input. */
function unreduce(g: Tensor, a: ReduceAttrs): Tensor {
  if (a.keepdim) return g;
  const shape = [...g.shape];
  for (const d of a.dims) shape.splice(d, 0, 1);
  return g.reshape(shape);
}
const floatOnly = (x: Tensor, g: Tensor | null): Tensor | null => (g && isFloat(x.dtype) ? g : null);
const mask = (t: Tensor, like: Tensor): Tensor => t.cast(like.dtype);

/** Gradient of a (sum-)pooled plane: the transposed depthwise convolution with a constant window. */
function avgPoolGrad(g: Tensor, x: Tensor, a: AvgPool2dAttrs): Tensor {
  const [, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = a.kernel;
  const [oh, ow] = [g.shape[2]!, g.shape[3]!];
  let scaled: Tensor;
  if (a.countIncludePad) scaled = g.div(kh * kw);
  else {
    const count = (o: number, k: number, s: number, p: number, size: number) => Math.min(o * s - p + k, size) - Math.max(o * s - p, 0);
    const div = new Float64Array(oh * ow);
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) div[i * ow + j] = count(i, kh, a.stride[0], a.padding[0], h) * count(j, kw, a.stride[1], a.padding[1], w);
    scaled = g.div(g.newTensor(div, [oh, ow]));
  }
  const ones = g.newOnes([c, 1, kh, kw]);
  return conv2dInputGrad(scaled, ones, x.shape, { stride: a.stride, padding: a.padding, dilation: [1, 1], groups: c });
}

/** Each op's rule; null: the op has no gradient (integer or boolean outputs). */
export const GRADS: { [K in OpName]: GradRule<K> | null } = {
  neg: (g) => [g.neg()],
  exp: (g, _, y) => [g.mul(y)],
  log: (g, [x]) => [g.div(x!)],
  sqrt: (g, _, y) => [g.div(y.mul(2))],
  abs: (g, [x]) => [g.mul(mask(x!.gt(0), g).sub(mask(x!.lt(0), g)))],
  sin: (g, [x]) => [g.mul(x!.cos())],
  cos: (g, [x]) => [g.mul(x!.sin()).neg()],
  tanh: (g, _, y) => [g.mul(y.mul(y).neg().add(1))],
  sigmoid: (g, _, y) => [g.mul(y.mul(y.neg().add(1)))],
  erf: (g, [x]) => [g.mul(x!.mul(x!).neg().exp().mul(2 / Math.sqrt(Math.PI)))],
  relu: (g, [x]) => [g.mul(mask(x!.gt(0), g))],
  // Selections on comparisons, not logical ops (those go through i32, which the CPU's SIMD
  // programs do not run): zero below min or above max, as before.
  clamp: (g, [x], _, { min, max }) => [g.maskedFill(x!.lt(min), 0).maskedFill(x!.gt(max), 0)],
  cast: (g, [x]) => [floatOnly(x!, g.cast(x!.dtype))],
  contiguous: (g) => [g],
  add: (g, [a, b]) => [sumTo(g, a!.shape), sumTo(g, b!.shape)],
  sub: (g, [a, b]) => [sumTo(g, a!.shape), sumTo(g.neg(), b!.shape)],
  mul: (g, [a, b]) => [sumTo(g.mul(b!), a!.shape), sumTo(g.mul(a!), b!.shape)],
  div: (g, [a, b], y) => [sumTo(g.div(b!), a!.shape), sumTo(g.mul(y).div(b!).neg(), b!.shape)],
  pow: (g, [a, b], y) => [
    sumTo(g.mul(b!).mul(a!.pow(b!.sub(1))), a!.shape),
    // d/db a^b = a^b log a, taken as 0 where a == 0 (as PyTorch does) so 0^b stays finite.
    sumTo(g.mul(y).mul(a!.log()).where(a!.eq(0).logicalNot(), 0), b!.shape),
  ],
  // Ties split the gradient evenly, as PyTorch does.
  maximum: (g, [a, b]) => {
    const share = mask(a!.gt(b!), g).add(mask(a!.eq(b!), g).mul(0.5));
    return [sumTo(g.mul(share), a!.shape), sumTo(g.mul(share.neg().add(1)), b!.shape)];
  },
  minimum: (g, [a, b]) => {
    const share = mask(a!.lt(b!), g).add(mask(a!.eq(b!), g).mul(0.5));
    return [sumTo(g.mul(share), a!.shape), sumTo(g.mul(share.neg().add(1)), b!.shape)];
  },
  lt: null,
  gt: null,
  eq: null,
  where: (g, [c, a, b]) => [null, sumTo(g.where(c!, 0), a!.shape), sumTo(g.where(c!.logicalNot(), 0), b!.shape)],
  sum: (g, [x], _, a) => [unreduce(g, a).expand(x!.shape)],
  mean: (g, [x], _, a) => {
    const n = a.dims.reduce((p, d) => p * x!.shape[d]!, 1);
    return [unreduce(g, a).div(n).expand(x!.shape)];
  },
  // Ties share the gradient evenly (PyTorch's amax rule).
  max: (g, [x], y, a) => {
    const hit = mask(x!.eq(unreduce(y, a)), g);
    return [unreduce(g, a).mul(hit).div(hit.sum(a.dims, true))];
  },
  argmax: null,
  reshape: (g, [x]) => [g.reshape(x!.shape)],
  permute: (g, _, __, { dims }) => {
    const inv = new Array<number>(dims.length);
    dims.forEach((d, i) => (inv[d] = i));
    return [g.permute(inv)];
  },
  expand: (g, [x]) => [sumTo(g, x!.shape)],
  slice: (g, [x], _, { starts, steps }) => [placeSlice(g, x!.shape, starts, steps)],
  flip: (g, _, __, { dims }) => [g.flip(dims)],
  // Each window offset k is a strided slice of x: its gradients placed there and summed.
  unfold: (g, [x], _, { dim, size, step }) => {
    const last = g.ndim - 1;
    const starts = x!.shape.map(() => 0);
    const steps = x!.shape.map((_, d) => (d === dim ? step : 1));
    let dx: Tensor | null = null;
    for (let k = 0; k < size; k++) {
      starts[dim] = k;
      const part = placeSlice(g.narrow(last, k, 1).reshape(g.shape.slice(0, last)), x!.shape, starts, steps);
      dx = dx ? dx.add(part) : part;
    }
    return [dx ?? g.newZeros(x!.shape)];
  },
  matmul: (g, [a, b], _, __, needs) => [
    needs[0] ? sumTo(g.matmul(b!.transpose(-1, -2)), a!.shape) : null,
    needs[1] ? sumTo(a!.transpose(-1, -2).matmul(g), b!.shape) : null,
  ],
  conv2d: (g, [x, w, b], out, p, needs) => {
    // The clamp passes gradient strictly inside its bounds, as hardtanh (ReLU6) does (selections,
    // as clamp's rule, so the CPU's SIMD programs run them).
    const gy = p.clamp ? g.where(out.lt(p.clamp[1]), 0).where(out.gt(p.clamp[0]), 0) : g;
    const win = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups };
    const grads = [needs[0] ? conv2dInputGrad(gy, w!, x!.shape, win) : null, needs[1] ? conv2dWeightGrad(gy, x!, w!.shape, win) : null];
    return b ? [...grads, needs[2] ? gy.sum([0, 2, 3]) : null] : grads;
  },
  avgPool2d: (g, [x], _, a) => [avgPoolGrad(g, x!, a)],
  maxPool2dIndices: null,
  gather: (g, [x, i], _, { dim }) => [g.newZeros(x!.shape).scatterAdd(dim, i!, g), null],
  scatterAdd: (g, [, index], __, { dim }) => [g, null, g.gather(dim, index!)],
  concat: (g, ins, _, { dim }) => {
    let at = 0;
    return ins.map((x) => {
      const part = g.narrow(dim, at, x.shape[dim]!);
      at += x.shape[dim]!;
      return part;
    });
  },
  pad: (g, _, __, { pads }) => [g.pad(pads.map(([a, b]) => [-a, -b] as [number, number]))],
  // The gradient of a running sum is the running sum of the gradient taken from the other end.
  cumsum: (g, _, __, { dim }) => [g.flip([dim]).cumsum(dim).flip([dim])],
  // y = softmax(x): dx = y (g - sum(g y)); y = logSoftmax(x): dx = g - exp(y) sum(g).
  softmax: (g, _, y, { dim }) => [y.mul(g.sub(g.mul(y).sum(dim, true)))],
  logSoftmax: (g, _, y, { dim }) => [g.sub(y.exp().mul(g.sum(dim, true)))],
  argsort: null,
  // The forward never forms the scores; the backward recomputes them and the softmax (the [L, S] matrix exists only here).
  attention: (g, [q, k, v, mask], _y, { scale, causal }) => {
    const [l, s] = [q!.shape[2]!, k!.shape[2]!];
    let scores = q!.matmul(k!.transpose(2, 3)).mul(scale);
    if (mask) scores = scores.add(mask);
    if (causal) {
      scores = scores.where(q!.newTensor(causalKeep(l, s), [l, s], 'bool'), F32_LOWEST);
    }
    const p = scores.softmax(-1);
    const dp = g.matmul(v!.transpose(2, 3));
    const ds = p.mul(dp.sub(dp.mul(p).sum(-1, true)));
    return [ds.matmul(k!).mul(scale), ds.transpose(2, 3).matmul(q!).mul(scale), p.transpose(2, 3).matmul(g), ...(mask ? [ds] : [])];
  },
};
