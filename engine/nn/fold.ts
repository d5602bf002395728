/** @file Eval-mode BatchNorm folded into the convolution before it: one convolution instead of a convolution and two passes over its output. */
import { isGradEnabled, noGrad } from '../autograd.js';
import { batchNormAffine } from '../functional.js';
import { keep } from '../memory.js';
import { type Tensor, tidy } from '../tensor.js';
import type { Conv2d } from './layers.js';
import type { BatchNorm } from './norm.js';

interface Folded {
  key: string;
  weight: Tensor;
  bias: Tensor;
}

const cache = new WeakMap<Conv2d, Folded>();

/** Identity and contents of every tensor the folded weights come from: a changed parameter or statistic gives a new key. */
function sourceKey(conv: Conv2d, bn: BatchNorm): string {
  const parts = [conv.weight, conv.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar];
  return `${parts.map((t) => (t ? `${t.id}.${t.storage.version}` : '-')).join(':')}:${bn.eps}`;
}

/** w' = w * s per output channel, b' = b * s + shift, with (s, shift) BatchNorm's eval-mode affine map. */
function fold(conv: Conv2d, bn: BatchNorm): { weight: Tensor; bias: Tensor } {
  const { scale, shift } = batchNormAffine(bn.runningMean!, bn.runningVar!, bn.weight, bn.bias, bn.eps);
  const weight = conv.weight.mul(scale.reshape([-1, 1, 1, 1]));
  const bias = conv.bias ? conv.bias.mul(scale).add(shift) : shift;
  return { weight, bias };
}

/**
 * `bn(conv(x))` (then clamped, when `clamp` is given: a ReLU or ReLU6 after the pair), as one
 * convolution when `bn` uses its running statistics (eval mode, or frozen):
 * the folded weights are cached until a parameter or statistic changes, and are built inside the
 * graph (so gradients reach the originals) when autograd records through them. With batch
 * statistics it runs the two layers as written.
 */
export function convBatchNorm(conv: Conv2d, bn: BatchNorm, x: Tensor, clamp?: [number, number]): Tensor {
  if (!bn.usesRunningStats || bn.numFeatures !== conv.outChannels) {
    const y = bn.forward(conv.forward(x));
    return clamp ? y.clamp(clamp[0], clamp[1]) : y;
  }
  const sources = [conv.weight, conv.bias, bn.weight, bn.bias];
  if (isGradEnabled() && sources.some((t) => t?.requiresGrad)) {
    const g = fold(conv, bn);
    return conv.convForward(x, g.weight, g.bias, clamp);
  }
  const key = sourceKey(conv, bn);
  let f = cache.get(conv);
  if (f?.key !== key || f.weight.disposed || f.bias.disposed) {
    f?.weight.dispose();
    f?.bias.dispose();
    const made = tidy(() => noGrad(() => fold(conv, bn)));
    f = { key, weight: keep(made.weight), bias: keep(made.bias) };
    cache.set(conv, f);
  }
  return conv.convForward(x, f.weight, f.bias, clamp);
}
