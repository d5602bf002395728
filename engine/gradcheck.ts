/** @file gradcheck: analytical gradients against f64 central differences, on the CPU path. */
import { noGrad } from './autograd.js';
import { fromArray } from './creation.js';
import { GraftError } from '../core/errors.js';
import { Generator } from './random.js';
import type { Tensor } from './tensor.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

/**
 * Checks d(sum(fn(inputs) * v))/d(input) for a fixed random v against central differences, for
 * every input that requires grad. Inputs should be f64. Returns true, or throws naming the input,
 * the element and both values.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): true {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const leaves = inputs.map((x) => {
    const t = fromArray(x.dataSync(), x.shape, x.dtype, x.storage.backend);
    if (x.requiresGrad) t.requiresGrad = true;
    return t;
  });
  const probe = noGrad(() => fn(...leaves));
  const gen = new Generator(opts.seed ?? 1234);
  const v = fromArray(Array.from({ length: probe.size }, () => gen.uniform() * 2 - 1), probe.shape, 'f64', probe.storage.backend);
  const objective = (xs: Tensor[]): Tensor => fn(...xs).cast('f64').mul(v).sum();
  objective(leaves).backward();
  leaves.forEach((leaf, i) => {
    if (!leaf.requiresGrad) return;
    const analytic = leaf.grad ? leaf.grad.cast('f64').dataSync() : new Float64Array(leaf.size);
    const base = leaf.dataSync();
    for (let j = 0; j < leaf.size; j++) {
      const at = (delta: number) => {
        const moved = Float64Array.from(base);
        moved[j]! += delta;
        const xs = leaves.map((l, k) => (k === i ? fromArray(moved, l.shape, l.dtype, l.storage.backend) : l.detach()));
        return noGrad(() => objective(xs).dataSync()[0]!);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      const a = analytic[j]!;
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) {
        throw new GraftError(`gradcheck: input ${i} element ${j}: analytical ${a} vs numerical ${numeric}`);
      }
    }
  });
  return true;
}
