/** @file Gradient clipping by global norm, without a read back to the host. */
import { noGrad } from '../autograd.js';
import { zeros } from '../creation.js';
import { GraftError } from '../../core/errors.js';
import type { Tensor } from '../tensor.js';
import { concat } from '../functional.js';

/**
 * Scales all gradients so their joint norm is at most maxNorm and returns the norm before clipping
 * (a 0-d tensor). The scale is a tensor op, so no value is read back.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2): Tensor {
  return noGrad(() => {
    const withGrad = [...params].filter((p) => p.grad);
    if (withGrad.length === 0) return zeros([]);
    if (!(normType > 0)) throw new GraftError(`clipGradNorm: normType must be positive, got ${normType}`);
    const flat = concat(withGrad.map((p) => p.grad!.abs().flatten()));
    const total = normType === Infinity ? flat.max() : flat.pow(normType).sum().pow(1 / normType);
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
    for (const p of withGrad) {
      const old = p.grad!;
      p.grad = old.mul(coef);
      old.dispose();
    }
    return total;
  });
}
