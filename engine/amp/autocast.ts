/** @file Autocast (torch.autocast): inside its scope each primitive takes its inputs in the precision its policy names. */
import type { DType } from '../../core/dtype.js';
import { GraftValueError } from '../../core/errors.js';
import type { OpName } from '../../ops/schema.js';

/**
 * 'lower': float inputs are cast to the autocast dtype (the matmul-shaped ops, where f16 pays);
 * 'f32': f16 inputs are widened to f32 (ops whose range or accumulated error f16 cannot hold: exp,
 * log, pow and the reductions, so softmax, norms and losses, built from them, come out in f32);
 * 'keep': inputs as they are (elementwise ops then promote mixed inputs to the wider dtype).
 * PyTorch's lists are per function; graft's composites inherit theirs from these primitives. One
 * deliberate difference: mean runs in f32, because layerNorm, groupNorm and batchNorm are means.
 */
export type AutocastPolicy = 'lower' | 'f32' | 'keep';

export const AUTOCAST: { readonly [K in OpName]: AutocastPolicy } = {
  neg: 'keep', exp: 'f32', log: 'f32', sqrt: 'keep', abs: 'keep', sin: 'keep', cos: 'keep', tanh: 'keep', sigmoid: 'keep',
  erf: 'keep', relu: 'keep', clamp: 'keep', cast: 'keep', contiguous: 'keep',
  add: 'keep', sub: 'keep', mul: 'keep', div: 'keep', pow: 'f32', maximum: 'keep', minimum: 'keep', lt: 'keep', gt: 'keep', eq: 'keep', where: 'keep',
  sum: 'f32', mean: 'f32', max: 'keep', argmax: 'keep',
  reshape: 'keep', permute: 'keep', expand: 'keep', slice: 'keep', flip: 'keep', unfold: 'keep',
  matmul: 'lower', conv2d: 'lower', attention: 'lower',
  avgPool2d: 'keep', maxPool2dIndices: 'keep', gather: 'keep', scatterAdd: 'keep', concat: 'keep', pad: 'keep',
  cumsum: 'f32', softmax: 'f32', logSoftmax: 'f32', argsort: 'keep',
};

let active: DType | null = null;

/** The dtype 'lower' ops cast to inside an autocast scope, or null outside one. */
export function autocastDtype(): DType | null {
  return active;
}

export interface AutocastOptions {
  /** The lower precision; f16 (bf16 has no WGSL type). */
  dtype?: 'f16';
  /** false runs `fn` with autocast off, also inside an enclosing scope (PyTorch's enabled=False). */
  enabled?: boolean;
}

/**
 * Runs `fn` (synchronous: the scope ends when it returns) with autocast on: matmul, conv2d, linear
 * and attention compute in f16 from f32 weights (the casts are differentiable, so gradients reach
 * the f32 parameters), exp, log, pow and reductions in f32. Run backward outside the scope, as in
 * PyTorch; backward never autocasts. On a WebGPU adapter without shader-f16 the first cast fails
 * with an error naming the feature.
 */
export function autocast<T>(fn: () => T, opts: AutocastOptions = {}): T {
  const dtype = opts.dtype ?? 'f16';
  if (dtype !== 'f16') throw new GraftValueError(`autocast: dtype must be 'f16', got ${JSON.stringify(dtype)}`);
  const saved = active;
  active = opts.enabled === false ? null : dtype;
  try {
    return fn();
  } finally {
    active = saved;
  }
}

/**
 * A float32 tensor in the autocast dtype inside a scope (as it is elsewhere): for a term a composite
 * adds to a 'lower' op's result, such as linear's bias, which PyTorch's addmm takes in f16 too.
 */
export function autocastLower<T extends { dtype: DType; cast(d: DType): T }>(t: T): T {
  return active && t.dtype === 'f32' ? t.cast(active) : t;
}

/** Runs `fn` with autocast off (the backward pass). */
export function withoutAutocast<T>(fn: () => T): T {
  return autocast(fn, { enabled: false });
}
