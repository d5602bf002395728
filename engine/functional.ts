/** @file torch.nn.functional: composite ops built from primitives, so their gradients come free. */
import { noGrad } from './autograd.js';
import { eye, fullLike, rand, tensor } from './creation.js';
import { GraftDTypeError, GraftShapeError, GraftValueError, fmtShape } from '../core/errors.js';
import type { Generator } from './random.js';
import { causalKeep, normAxis } from '../core/shape.js';
import { F32_LOWEST, isFloat } from '../core/dtype.js';
import { autocastLower } from './amp/autocast.js';
import { Tensor, apply, where } from './tensor.js';
import { conv2dInputGrad } from './convGrad.js';


export { fullLike };

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);
export type Reduction = 'mean' | 'sum' | 'none';

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === 'mean' ? loss.mean() : reduction === 'sum' ? loss.sum() : loss;
}

// -- activations -----------------------------------------------------------------------------------

export function relu(x: Tensor): Tensor {
  return x.relu();
}
export function relu6(x: Tensor): Tensor {
  return x.clamp(0, 6);
}
export function sigmoid(x: Tensor): Tensor {
  return x.sigmoid();
}
export function tanh(x: Tensor): Tensor {
  return x.tanh();
}
export function silu(x: Tensor): Tensor {
  return x.mul(x.sigmoid());
}
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return x.where(x.gt(0), x.mul(negativeSlope));
}
/** GELU, exact (erf) by default or the tanh approximation, as torch's `approximate`. */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  if (opts.approximate === 'tanh') {
    const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(0.5).mul(inner.tanh().add(1));
  }
  return x.mul(0.5).mul(x.mul(Math.SQRT1_2).erf().add(1));
}

/** softmax along dim; the max is subtracted first (and detached: it cancels in the gradient). */
export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}

// -- losses ----------------------------------------------------------------------------------------

export interface NllOptions {
  weight?: Tensor;
  ignoreIndex?: number;
  reduction?: Reduction;
}

function checkTargets(op: string, input: Tensor, target: Tensor): void {
  if (target.dtype !== 'i32') throw new GraftDTypeError(`${op}: class targets must be i32, got ${target.dtype}`);
  const expect = [input.shape[0], ...input.shape.slice(2)];
  if (input.ndim < 2 || target.ndim !== expect.length || target.shape.some((d, i) => d !== expect[i])) {
    throw new GraftShapeError(`${op}: input ${fmtShape(input.shape)} needs targets of shape ${fmtShape(expect as number[])}, got ${fmtShape(target.shape)}`);
  }
}

/** Negative log-likelihood of log-probabilities [N, C, ...] at i32 class targets [N, ...]. */
export function nllLoss(logp: Tensor, target: Tensor, opts: NllOptions = {}): Tensor {
  checkTargets('nllLoss', logp, target);
  const ignore = opts.ignoreIndex ?? -100;
  const valid = target.ne(ignore);
  const safe = target.where(valid, 0);
  const picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1);
  let w = valid.cast(logp.dtype);
  if (opts.weight) w = w.mul(opts.weight.indexSelect(0, safe.flatten()).reshape(safe.shape));
  const loss = picked.neg().mul(w);
  if ((opts.reduction ?? 'mean') === 'mean') return loss.sum().div(w.sum());
  return reduce(loss, opts.reduction ?? 'mean');
}

export interface CrossEntropyOptions extends NllOptions {
  labelSmoothing?: number;
}

/**
 * Cross-entropy of logits [N, C, ...] with i32 class targets [N, ...] or class probabilities
 * shaped like the logits; label smoothing mixes in the uniform distribution as PyTorch does.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const eps = opts.labelSmoothing ?? 0;
  const reduction = opts.reduction ?? 'mean';
  const logp = logSoftmax(logits, 1);
  const C = logits.shape[1]!;
  const classShape = logits.shape.map((_, i) => (i === 1 ? C : 1));
  const weightB = opts.weight?.reshape(classShape);
  if (target.dtype !== 'i32') {
    if (target.ndim !== logits.ndim || target.shape.some((d, i) => d !== logits.shape[i])) {
      throw new GraftShapeError(`crossEntropy: targets ${fmtShape(target.shape)} (${target.dtype}) must be i32 class indices of shape ${fmtShape([logits.shape[0]!, ...logits.shape.slice(2)])} or probabilities shaped like the logits ${fmtShape(logits.shape)}`);
    }
    let p = target.cast(logp.dtype);
    if (eps > 0) p = p.mul(1 - eps).add(eps / C);
    const lp = weightB ? logp.mul(weightB) : logp;
    return reduce(lp.mul(p).sum(1).neg(), reduction);
  }
  const nll = nllLoss(logp, target, { ...opts, reduction: 'none' });
  if (eps === 0) {
    if (reduction !== 'mean') return reduce(nll, reduction);
    return nllLoss(logp, target, { ...opts, reduction: 'mean' });
  }
  const valid = target.ne(opts.ignoreIndex ?? -100).cast(logp.dtype);
  const lp = weightB ? logp.mul(weightB) : logp;
  const smooth = lp.sum(1).neg().mul(valid);
  if (reduction === 'none') return nll.mul(1 - eps).add(smooth.mul(eps / C));
  if (reduction === 'sum') return nll.sum().mul(1 - eps).add(smooth.sum().mul(eps / C));
  // Mean divides by the summed weight of the targets (the count when unweighted), for both terms.
  const safe = target.where(target.ne(opts.ignoreIndex ?? -100), 0);
  const denom = opts.weight ? opts.weight.indexSelect(0, safe.flatten()).reshape(safe.shape).mul(valid).sum() : valid.sum();
  return nll.sum().mul(1 - eps).add(smooth.sum().mul(eps / C)).div(denom);
}

export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const d = input.sub(target);
  return reduce(d.mul(d), opts.reduction ?? 'mean');
}
export function l1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  return reduce(input.sub(target).abs(), opts.reduction ?? 'mean');
}
/** Binary cross-entropy on logits, in the overflow-free form max(x,0) - x*y + log(1 + exp(-|x|)). */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const loss = logits.relu().sub(logits.mul(target)).add(logits.abs().neg().exp().add(1).log());
  return reduce(loss, opts.reduction ?? 'mean');
}

// -- layers ----------------------------------------------------------------------------------------

/** x @ w^T + b, with w shaped [out, in] as in torch.nn.Linear. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const y = x.matmul(weight.transpose(0, 1));
  return bias ? y.add(autocastLower(bias)) : y;
}

export interface AttentionOptions {
  /** Boolean [.., L, S] (true: the query attends to the key) or float (added to the scores), broadcast against the scores. */
  attnMask?: Tensor | null;
  /** Each query attends to keys at its position or before. */
  isCausal?: boolean;
  /** Multiplies q k^T (default 1 / sqrt(head size)). */
  scale?: number;
  /** Dropout on the attention weights while training (default 0). */
  dropoutP?: number;
}

/**
 * softmax(q k^T * scale + mask) v over [.., L, E] queries, [.., S, E] keys and [.., S, Ev] values, as
 * torch.nn.functional.scaled_dot_product_attention; masked scores take the most negative float (a
 * fully masked row gives the mean of the values, where PyTorch gives NaN).
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions = {}): Tensor {
  if (q.ndim < 2 || k.ndim !== q.ndim || v.ndim !== q.ndim) throw new GraftShapeError(`scaledDotProductAttention: q, k and v need the same rank (>= 2), got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  const [l, e] = q.shape.slice(-2) as [number, number];
  const s = k.shape[k.ndim - 2]!;
  if (k.shape[k.ndim - 1] !== e || v.shape[v.ndim - 2] !== s) throw new GraftShapeError(`scaledDotProductAttention: keys ${fmtShape(k.shape)} and values ${fmtShape(v.shape)} do not fit queries ${fmtShape(q.shape)}`);
  const scale = o.scale ?? 1 / Math.sqrt(e);
  const fused = fusedAttention(q, k, v, o.attnMask ?? null, scale, o.isCausal ?? false, o.dropoutP ?? 0);
  if (fused) return fused;
  let scores = q.matmul(k.transpose(-2, -1)).mul(scale);
  if (o.isCausal) {
    const keep = tensor(causalKeep(l, s), { shape: [l, s], dtype: 'bool', backend: q.storage.backend });
    scores = where(keep, scores, F32_LOWEST);
  }
  const m = o.attnMask;
  if (m) scores = m.dtype === 'bool' ? where(m, scores, F32_LOWEST) : scores.add(m);
  let p = scores.softmax(-1);
  if (o.dropoutP) p = dropout(p, o.dropoutP, true);
  return p.matmul(v);
}

/** Features per row the fused attention kernels take (the WebGPU kernel keeps a row in registers). */
const FUSED_ATTENTION_MAX_FEATURES = 256;

/**
 * The attention primitive for 3-d and 4-d q, k, v of matching batch dims, without dropout on the
 * weights (which needs them materialised); null where the composite path must run.
 */
function fusedAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, scale: number, causal: boolean, dropoutP: number): Tensor | null {
  if (dropoutP > 0 || (q.ndim !== 3 && q.ndim !== 4) || q.dtype !== k.dtype || q.dtype !== v.dtype || !isFloat(q.dtype)) return null;
  if (q.shape.slice(0, -2).join() !== k.shape.slice(0, -2).join() || k.shape.slice(0, -2).join() !== v.shape.slice(0, -2).join()) return null;
  if (Math.max(q.shape[q.ndim - 1]!, v.shape[v.ndim - 1]!) > FUSED_ATTENTION_MAX_FEATURES) return null;
  const four = (t: Tensor) => (t.ndim === 3 ? t.unsqueeze(1) : t);
  const [q4, k4, v4] = [four(q), four(k), four(v)];
  const [b, h, l] = q4.shape as [number, number, number];
  const s = k4.shape[2]!;
  let additive: Tensor | null = null;
  if (mask) {
    const m = mask.dtype === 'bool' ? where(mask, 0, F32_LOWEST).cast(q.dtype) : mask.cast(q.dtype);
    // The mask lines up with the scores' trailing dims: [.., L, S] of 3-d or 4-d q.
    const rank = q.ndim;
    const full = m.ndim > rank ? null : m.reshape([...new Array<number>(rank - m.ndim).fill(1), ...m.shape]);
    const m4 = full && rank === 3 ? full.unsqueeze(1) : full;
    if (!m4 || m4.shape.some((d, i) => d !== 1 && d !== [b, h, l, s][i])) throw new GraftShapeError(`scaledDotProductAttention: mask ${fmtShape(mask.shape)} does not broadcast to the scores [${q.shape.slice(0, -1).join(', ')}, ${s}]`);
    additive = m4.expand([b, h, l, s]);
  }
  const out = apply('attention', additive ? [q4, k4, v4, additive] : [q4, k4, v4], { scale, causal });
  return q.ndim === 3 ? out.squeeze(1) : out;
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  /**
   * Bounds applied to each output inside the convolution kernel, as tfjs's fused conv2d does:
   * [0, Infinity] is a fused ReLU, [0, 6] a fused ReLU6 (gradient as hardtanh's: zero at the bounds).
   */
  clamp?: [number, number];
}

/** 2-d convolution of NCHW input with weight [O, C/groups, KH, KW], as torch.nn.functional.conv2d; the bias is added inside the kernel. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const stride = pair(opts.stride ?? 1);
  const dilation = pair(opts.dilation ?? 1);
  let input = x;
  let padding: [number, number];
  if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new GraftShapeError("conv2d: padding='same' needs stride 1");
    // Total padding d*(k-1), the odd pixel on the bottom/right as PyTorch places it.
    const total = [0, 1].map((i) => dilation[i]! * (weight.shape[2 + i]! - 1));
    padding = [Math.floor(total[0]! / 2), Math.floor(total[1]! / 2)];
    if (total[0]! % 2 || total[1]! % 2) {
      input = x.pad([[0, 0], [0, 0], [0, total[0]! % 2], [0, total[1]! % 2]]);
    }
  } else padding = opts.padding === 'valid' || opts.padding === undefined ? [0, 0] : pair(opts.padding);
  const attrs = { stride, padding, dilation, groups: opts.groups ?? 1, ...(opts.clamp ? { clamp: [opts.clamp[0], opts.clamp[1]] as [number, number] } : {}) };
  return input.conv2d(weight, attrs, bias ?? undefined);
}

/** 1-d convolution of [N, C, L] input with weight [O, C/groups, K] (torch.nn.functional.conv1d): conv2d over a height of 1. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: { stride?: number; padding?: number | 'same' | 'valid'; dilation?: number; groups?: number } = {}): Tensor {
  if (x.ndim !== 3 || weight.ndim !== 3) throw new GraftShapeError(`conv1d: expected input [N,C,L] and weight [O,C/groups,K], got ${fmtShape(x.shape)} and ${fmtShape(weight.shape)}`);
  const padding = typeof opts.padding === 'string' ? opts.padding : ([0, opts.padding ?? 0] as [number, number]);
  return conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, { stride: [1, opts.stride ?? 1], padding, dilation: [1, opts.dilation ?? 1], groups: opts.groups ?? 1 }).squeeze(2);
}

export interface ConvTranspose2dOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  groups?: number;
  dilation?: Pair;
}

/**
 * Transposed 2-d convolution of NCHW input with weight [C, O/groups, KH, KW]
 * (torch.nn.functional.conv_transpose2d): the gradient of conv2d with respect to its input, so the
 * output is (H - 1) * stride - 2 * padding + dilation * (KH - 1) + outputPadding + 1 high.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTranspose2dOptions = {}): Tensor {
  if (x.ndim !== 4 || weight.ndim !== 4) throw new GraftShapeError(`convTranspose2d: expected 4-d input [N,C,H,W] and weight [C,O/groups,KH,KW], got ${fmtShape(x.shape)} and ${fmtShape(weight.shape)}`);
  const [stride, padding, outputPadding, dilation] = [pair(opts.stride ?? 1), pair(opts.padding ?? 0), pair(opts.outputPadding ?? 0), pair(opts.dilation ?? 1)];
  const groups = opts.groups ?? 1;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (weight.shape[0] !== c || c % groups) throw new GraftShapeError(`convTranspose2d: weight ${fmtShape(weight.shape)} does not fit input ${fmtShape(x.shape)} with groups=${groups} (weight.shape[0] must be the input's channels)`);
  for (let i = 0; i < 2; i++) {
    if (!(outputPadding[i]! < stride[i]! || outputPadding[i]! < dilation[i]!)) throw new GraftShapeError(`convTranspose2d: outputPadding ${outputPadding[i]} must be smaller than the stride or the dilation`);
  }
  const out = [0, 1].map((i) => ([h, w][i]! - 1) * stride[i]! - 2 * padding[i]! + dilation[i]! * (weight.shape[2 + i]! - 1) + outputPadding[i]! + 1);
  if (out.some((d) => d <= 0)) throw new GraftShapeError(`convTranspose2d: input ${fmtShape(x.shape)} gives an empty output (${out.join('x')})`);
  const y = conv2dInputGrad(x, weight, [n, weight.shape[1]! * groups, out[0]!, out[1]!], { stride, padding, dilation, groups });
  return bias ? y.add(autocastLower(bias).reshape([1, -1, 1, 1])) : y;
}

/** Group normalisation over [N, C, ...]: each of numGroups channel groups normalised by its own mean and biased variance, then the per-channel affine (torch.nn.functional.group_norm). */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, opts: { eps?: number } = {}): Tensor {
  if (x.ndim < 2 || !Number.isInteger(numGroups) || numGroups < 1 || x.shape[1]! % numGroups) {
    throw new GraftShapeError(`groupNorm: ${x.shape[1]} channels of ${fmtShape(x.shape)} do not split into ${numGroups} groups`);
  }
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const g = x.reshape([n, numGroups, -1]);
  const mean = g.mean(2, true);
  const dev = g.sub(mean);
  const y = dev.div(dev.mul(dev).mean(2, true).add(opts.eps ?? 1e-5).sqrt()).reshape(x.shape);
  const perChannel = x.shape.map((d, i) => (i === 1 ? c : 1));
  const scaled = weight ? y.mul(weight.reshape(perChannel)) : y;
  return bias ? scaled.add(bias.reshape(perChannel)) : scaled;
}

/** Source positions and weights along one dimension for interpolate: nearest (floor of dst * scale) or linear (with align_corners as PyTorch). */
function sourceIndex(inSize: number, outSize: number, mode: 'nearest' | 'bilinear', alignCorners: boolean): { i0: number[]; i1: number[]; t: number[] } {
  const i0: number[] = [];
  const i1: number[] = [];
  const t: number[] = [];
  for (let o = 0; o < outSize; o++) {
    if (mode === 'nearest') {
      i0.push(Math.min(Math.floor((o * inSize) / outSize), inSize - 1));
      continue;
    }
    const src = alignCorners ? (outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0) : Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0.push(lo);
    i1.push(Math.min(lo + 1, inSize - 1));
    t.push(src - lo);
  }
  return { i0, i1, t };
}

/**
 * Resizes the spatial dimensions of NCHW input to `size` (or by `scaleFactor`), as
 * torch.nn.functional.interpolate: 'nearest' (PyTorch's floor rule) or 'bilinear' with
 * alignCorners false (pixel centres, PyTorch's default) or true. Differentiable in the input.
 */
export function interpolate(x: Tensor, opts: { size?: Pair; scaleFactor?: number | [number, number]; mode?: 'nearest' | 'bilinear'; alignCorners?: boolean }): Tensor {
  if (x.ndim !== 4) throw new GraftShapeError(`interpolate: expected a 4-d NCHW input, got ${fmtShape(x.shape)}`);
  const mode = opts.mode ?? 'nearest';
  if (mode === 'nearest' && opts.alignCorners !== undefined) throw new GraftValueError('interpolate: alignCorners applies to bilinear only, as in PyTorch');
  const [h, w] = [x.shape[2]!, x.shape[3]!];
  let size: [number, number];
  if (opts.size !== undefined) size = pair(opts.size);
  else if (opts.scaleFactor !== undefined) {
    const s = typeof opts.scaleFactor === 'number' ? [opts.scaleFactor, opts.scaleFactor] : opts.scaleFactor;
    size = [Math.floor(h * s[0]!), Math.floor(w * s[1]!)];
  } else throw new GraftValueError('interpolate: give size or scaleFactor');
  if (size.some((d) => !Number.isInteger(d) || d < 1)) throw new GraftShapeError(`interpolate: output size [${size.join(',')}] must be positive integers`);
  let y = x;
  for (const [dim, inSize, outSize] of [[2, h, size[0]], [3, w, size[1]]] as const) {
    const { i0, i1, t } = sourceIndex(inSize, outSize, mode, opts.alignCorners ?? false);
    const index = (ix: number[]) => tensor(ix, { dtype: 'i32', backend: x.storage.backend });
    if (mode === 'nearest') y = y.indexSelect(dim, index(i0));
    else {
      const wShape = dim === 2 ? [1, 1, outSize, 1] : [1, 1, 1, outSize];
      const weight = tensor(t, { shape: wShape, dtype: x.dtype, backend: x.storage.backend });
      y = y.indexSelect(dim, index(i0)).mul(weight.neg().add(1)).add(y.indexSelect(dim, index(i1)).mul(weight));
    }
  }
  return y;
}

export interface Pool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
}

/** Max pooling; `returnIndices` also gives the flat index of each maximum within its plane. */
export function maxPool2d(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): Tensor {
  return maxPool2dWithIndices(x, kernelSize, opts)[0];
}
export function maxPool2dWithIndices(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): [Tensor, Tensor] {
  const kernel = pair(kernelSize);
  const attrs = { kernel, stride: pair(opts.stride ?? kernel), padding: pair(opts.padding ?? 0), dilation: pair(opts.dilation ?? 1) };
  const idx = apply('maxPool2dIndices', [x.detach()], attrs);
  const [n, c, oh, ow] = idx.shape as [number, number, number, number];
  const values = x.flatten(2).gather(2, idx.reshape([n, c, oh * ow])).reshape([n, c, oh, ow]);
  return [values, idx];
}

export function avgPool2d(x: Tensor, kernelSize: Pair, opts: Omit<Pool2dOptions, 'dilation'> & { countIncludePad?: boolean } = {}): Tensor {
  const kernel = pair(kernelSize);
  return apply('avgPool2d', [x], {
    kernel,
    stride: pair(opts.stride ?? kernel),
    padding: pair(opts.padding ?? 0),
    countIncludePad: opts.countIncludePad ?? true,
  });
}

/** Average pooling to a fixed output size, with PyTorch's window bounds floor(i*H/O) .. ceil((i+1)*H/O). */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  if (x.ndim !== 4) throw new GraftShapeError(`adaptiveAvgPool2d: expected a 4-d NCHW input, got ${fmtShape(x.shape)}`);
  const [oh, ow] = pair(outputSize);
  const [h, w] = [x.shape[2]!, x.shape[3]!];
  if (h % oh === 0 && w % ow === 0) return avgPool2d(x, [h / oh, w / ow]);
  // Uneven windows: averaging matrices on both sides, P_h x P_w^T.
  const pool = (o: number, n: number): Tensor => {
    const m = new Float64Array(o * n);
    for (let i = 0; i < o; i++) {
      const s = Math.floor((i * n) / o);
      const e = Math.ceil(((i + 1) * n) / o);
      for (let j = s; j < e; j++) m[i * n + j] = 1 / (e - s);
    }
    return tensor(m, { shape: [o, n], dtype: x.dtype, backend: x.storage.backend });
  };
  return pool(oh, h).matmul(x).matmul(pool(ow, w).transpose(0, 1));
}

/** Normalises over the trailing `normalizedShape` dims with biased variance, as torch's layer_norm. */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, opts: { eps?: number } = {}): Tensor {
  const k = normalizedShape.length;
  if (x.shape.slice(x.ndim - k).some((d, i) => d !== normalizedShape[i])) {
    throw new GraftShapeError(`layerNorm: input ${fmtShape(x.shape)} does not end in normalized shape ${fmtShape(normalizedShape)}`);
  }
  const dims = [...Array(k).keys()].map((i) => x.ndim - k + i);
  const mean = x.mean(dims, true);
  const dev = x.sub(mean);
  const v = dev.mul(dev).mean(dims, true);
  let y = dev.div(v.add(opts.eps ?? 1e-5).sqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

export interface BatchNormOptions {
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation over dim 1 of [N, C, ...]. In training it normalises with the batch's
 * biased variance and moves the running statistics (unbiased variance) by `momentum`, in place;
 * otherwise it uses the running statistics.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight?: Tensor | null,
  bias?: Tensor | null,
  opts: BatchNormOptions = {},
): Tensor {
  if (x.ndim < 2) throw new GraftShapeError(`batchNorm: expected input [N, C, ...], got ${fmtShape(x.shape)}`);
  const C = x.shape[1]!;
  const bshape = x.shape.map((d, i) => (i === 1 ? C : 1));
  const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const eps = opts.eps ?? 1e-5;
  if (!(opts.training ?? false)) {
    if (!runningMean || !runningVar) throw new GraftShapeError('batchNorm: evaluation needs running statistics');
    // An affine map per channel: its scale and shift are computed on [C], then two passes over x instead of four.
    const { scale, shift } = batchNormAffine(runningMean, runningVar, weight ?? null, bias ?? null, eps);
    return x.mul(scale.reshape(bshape)).add(shift.reshape(bshape));
  }
  const n = x.size / C;
  if (n <= 1) throw new GraftShapeError(`batchNorm: expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
  const mean = x.mean(dims, true);
  const dev = x.sub(mean);
  const v = dev.mul(dev).mean(dims, true);
  if (runningMean && runningVar) {
    const m = opts.momentum ?? 0.1;
    noGrad(() => {
      runningMean.copy_(runningMean.mul(1 - m).add(mean.reshape([C]).mul(m)));
      runningVar.copy_(runningVar.mul(1 - m).add(v.reshape([C]).mul((m * n) / (n - 1))));
    });
  }
  let y = dev.div(v.add(eps).sqrt());
  if (weight) y = y.mul(weight.reshape(bshape));
  if (bias) y = y.add(bias.reshape(bshape));
  return y;
}

/** Eval-mode BatchNorm as y = x * scale + shift per channel: scale = weight / sqrt(var + eps), shift = bias - mean * scale. */
export function batchNormAffine(runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): { scale: Tensor; shift: Tensor } {
  const inv = runningVar.add(eps).rsqrt();
  const scale = weight ? inv.mul(weight) : inv;
  const shift = bias ? bias.sub(runningMean.mul(scale)) : runningMean.mul(scale).neg();
  return { scale, shift };
}

/** Zeroes each element with probability p while training and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, training = true, generator?: Generator): Tensor {
  if (!(p >= 0 && p <= 1)) throw new GraftValueError(`dropout: probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const keep = rand(x.shape, { generator, backend: x.storage.backend, dtype: x.dtype }).ge(p);
  return x.mul(keep.cast(x.dtype)).div(1 - p);
}

/** Rows of `weight` at i32 indices (any shape): output [...indices.shape, dim]. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  if (indices.dtype !== 'i32') throw new GraftDTypeError(`embedding: indices must be i32, got ${indices.dtype}`);
  return weight.indexSelect(0, indices.flatten()).reshape([...indices.shape, weight.shape[1]!]);
}

/** One-hot encoding of i32 class indices: [..., numClasses], f32. */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new GraftValueError(`oneHot: numClasses must be an integer >= 1, got ${numClasses}`);
  if (indices.dtype !== 'i32') throw new GraftDTypeError(`oneHot: indices must be i32 class indices, got ${indices.dtype}`);
  if (indices.storage.backend.readSync) {
    // PyTorch refuses a class outside [0, numClasses); a zero row would hide it.
    const v = indices.dataSync();
    const bad = v.findIndex((c) => c < 0 || c >= numClasses);
    if (bad >= 0) throw new GraftValueError(`oneHot: class ${v[bad]} at index ${bad} is outside [0, ${numClasses})`);
  }
  // Rows of the identity by gather: on WebGPU a class out of range is then charged to the result.
  const table = eye(numClasses, numClasses, { backend: indices.storage.backend });
  const out = embedding(indices, table);
  table.dispose();
  return out;
}

// -- layout ----------------------------------------------------------------------------------------

/** Joins tensors along an existing dimension (torch.cat). */
export function concat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new GraftShapeError('concat: expected at least one tensor');
  const d = normAxis('concat', dim, tensors[0]!.ndim);
  return apply('concat', [...tensors], { dim: d });
}
export const cat = concat;

/** Joins tensors along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new GraftShapeError('stack: expected at least one tensor');
  const d = normAxis('stack', dim, tensors[0]!.ndim + 1);
  return concat(tensors.map((t) => t.unsqueeze(d)), d);
}

/**
 * Constant padding with PyTorch's argument order: pairs for the last dimension first,
 * (left, right, top, bottom, ...). Negative amounts crop.
 */
export function pad(x: Tensor, pads: readonly number[], opts: { value?: number } = {}): Tensor {
  if (pads.length % 2 || pads.length / 2 > x.ndim) {
    throw new GraftShapeError(`pad: ${pads.length} padding values do not fit a tensor of rank ${x.ndim} (need an even count, at most ${2 * x.ndim})`);
  }
  const perDim = x.shape.map((): [number, number] => [0, 0]);
  for (let i = 0; i < pads.length / 2; i++) perDim[x.ndim - 1 - i] = [pads[2 * i]!, pads[2 * i + 1]!];
  return x.pad(perDim, opts.value ?? 0);
}

export { where };
