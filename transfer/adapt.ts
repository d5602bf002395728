/** @file Domain shift: discrepancy measures on features (linear MMD, CORAL distance), CORAL alignment, AdaBN. */
import { GraftShapeError, type Tensor, eye, fmtShape, nn, noGrad, tidy } from '../index.js';
import { type Dataset, batchOf } from './data/dataset.js';

function check2d(op: string, x: Tensor): void {
  if (x.ndim !== 2 || x.shape[0]! < 2) throw new GraftShapeError(`${op}: expected features [N >= 2, D], got ${fmtShape(x.shape)}`);
}

/** Unbiased covariance of rows: [D, D]. */
export function covariance(x: Tensor): Tensor {
  check2d('covariance', x);
  const c = x.sub(x.mean(0, true));
  return c.transpose(0, 1).matmul(c).div(x.shape[0]! - 1);
}

/** Linear-kernel MMD: the squared distance between the feature means. */
export function linearMmd(source: Tensor, target: Tensor): Tensor {
  check2d('linearMmd', source);
  check2d('linearMmd', target);
  const d = source.mean(0).sub(target.mean(0));
  return d.mul(d).sum();
}

/** CORAL distance (Sun and Saenko, 2016): ||C_s - C_t||_F^2 / (4 d^2). */
export function coralDistance(source: Tensor, target: Tensor): Tensor {
  const d = covariance(source).sub(covariance(target));
  const dim = source.shape[1]!;
  return d.mul(d).sum().div(4 * dim * dim);
}

/**
 * Square root and inverse square root of a symmetric positive-definite matrix by the coupled
 * Newton-Schulz iteration: only matmuls, so it runs on any backend.
 */
export function sqrtAndInvSqrt(a: Tensor, iterations = 20): [Tensor, Tensor] {
  const n = a.shape[0]!;
  const backend = a.storage.backend;
  const norm = a.mul(a).sum().sqrt();
  const I = eye(n, n, { backend, dtype: a.dtype });
  let y = a.div(norm);
  let z = I;
  for (let k = 0; k < iterations; k++) {
    const t = I.mul(3).sub(z.matmul(y)).mul(0.5);
    [y, z] = [y.matmul(t), t.matmul(z)];
  }
  const s = norm.sqrt();
  return [y.mul(s), z.div(s)];
}

/**
 * CORAL alignment: recolours source features so their covariance matches the target's,
 * x_s C_s^{-1/2} C_t^{1/2} (both covariances regularised by `eps` I). Train on the result, test on target.
 */
export function coralAlign(source: Tensor, target: Tensor, eps = 1): Tensor {
  return tidy(() => {
    const d = source.shape[1]!;
    const I = eye(d, d, { backend: source.storage.backend });
    const [, csInv] = sqrtAndInvSqrt(covariance(source).add(I.mul(eps)));
    const [ct] = sqrtAndInvSqrt(covariance(target).add(I.mul(eps)));
    return source.matmul(csInv).matmul(ct);
  });
}

export interface DomainReport {
  linearMmd: number;
  coralDistance: number;
}

/** Both measures between two feature sets, read back as numbers. */
export async function domainDiscrepancy(source: Tensor, target: Tensor): Promise<DomainReport> {
  const [m, c] = noGrad(() => [linearMmd(source, target), coralDistance(source, target)]);
  return { linearMmd: (await m!.data())[0]!, coralDistance: (await c!.data())[0]! };
}

/**
 * AdaBN (Li et al., 2016): re-estimates every BatchNorm layer's running statistics on target data
 * (a cumulative average over the given batches), leaving all weights untouched. Layers with frozen
 * statistics are re-estimated too and stay frozen afterwards.
 */
export function adaBN(model: nn.Module, target: Dataset, batchSize = 64): void {
  const bns = model.modules().filter((m): m is nn.BatchNorm => m instanceof nn.BatchNorm && m.trackRunningStats);
  const saved = bns.map((b) => ({ momentum: b.momentum, frozen: b.statsFrozen, training: b.training }));
  const wasTraining = model.training;
  model.eval();
  for (const b of bns) {
    noGrad(() => {
      b.runningMean!.copy_(0);
      b.runningVar!.copy_(1);
    });
    b.statsFrozen = false;
    b.training = true;
  }
  const order = Int32Array.from({ length: target.n }, (_, i) => i);
  let k = 0;
  for (let i = 0; i < target.n; i += batchSize, k++) {
    // Momentum 1/k turns the running update into the mean over the k batches seen so far.
    for (const b of bns) b.momentum = 1 / (k + 1);
    tidy(() => noGrad(() => void model.forward(batchOf(target, order, i, Math.min(target.n, i + batchSize))[0])));
  }
  bns.forEach((b, j) => {
    b.momentum = saved[j]!.momentum;
    b.statsFrozen = saved[j]!.frozen;
  });
  model.train(wasTraining);
  bns.forEach((b, j) => (b.training = saved[j]!.training));
}
