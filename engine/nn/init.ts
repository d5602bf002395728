/** @file torch.nn.init: in-place initialisers for parameters. */
import { noGrad } from '../autograd.js';
import { full, randn, uniform } from '../creation.js';
import { GraftShapeError, fmtShape } from '../../core/errors.js';
import type { Generator } from '../random.js';
import { type Tensor, tidy } from '../tensor.js';

/** Fan-in and fan-out as PyTorch computes them: dim 1 and dim 0, times the receptive field. */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new GraftShapeError(`init: fan in and fan out need at least 2 dimensions, got ${fmtShape(t.shape)}`);
  const field = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * field, fanOut: t.shape[0]! * field };
}

/** Writes make()'s values into t, freeing every temporary at once. */
function fill(t: Tensor, make: () => Tensor): Tensor {
  tidy(() => noGrad(() => void t.copy_(make())));
  return t;
}
export function uniform_(t: Tensor, low = 0, high = 1, generator?: Generator): Tensor {
  return fill(t, () => uniform(t.shape, low, high, { dtype: t.dtype, generator, backend: t.storage.backend }));
}
export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  return fill(t, () => randn(t.shape, { dtype: t.dtype, generator, backend: t.storage.backend }).mul(std).add(mean));
}
export function constant_(t: Tensor, value: number): Tensor {
  return fill(t, () => full(t.shape, value, t.dtype, { backend: t.storage.backend }));
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

function gain(nonlinearity: 'relu' | 'leaky_relu' | 'linear' | 'tanh' | 'sigmoid', a: number): number {
  switch (nonlinearity) {
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': return Math.sqrt(2 / (1 + a * a));
    case 'tanh': return 5 / 3;
    default: return 1;
  }
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: 'relu' | 'leaky_relu' | 'linear' | 'tanh' | 'sigmoid';
  generator?: Generator;
}
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t);
  const fan = opts.mode === 'fanOut' ? fanOut : fanIn;
  const bound = gain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) * Math.sqrt(3 / fan);
  return uniform_(t, -bound, bound, opts.generator);
}
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t);
  const fan = opts.mode === 'fanOut' ? fanOut : fanIn;
  return normal_(t, 0, gain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) / Math.sqrt(fan), opts.generator);
}
export function xavierUniform_(t: Tensor, g = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = g * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, generator);
}
export function xavierNormal_(t: Tensor, g = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t);
  return normal_(t, 0, g * Math.sqrt(2 / (fanIn + fanOut)), generator);
}
