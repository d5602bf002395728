/** @file Eval-mode BatchNorm folded into the convolution before it: the same values and gradients as the two layers, on every backend, and never stale. */
import { describe, expect, it } from 'vitest';
import { type Backend, type Tensor, functional as F, manualSeed, nn, noGrad, randn, uniform } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';

const backends = await testBackends();

/** The two layers run one after the other, never folded (the reference). */
const unfolded = (conv: nn.Conv2d, bn: nn.BatchNorm, x: Tensor) => bn.forward(conv.forward(x));

function layers(backend: Backend, groups = 1, bias = true): { conv: nn.Conv2d; bn: nn.BatchNorm2d; x: Tensor } {
  setBackend(backend);
  manualSeed(7);
  const conv = new nn.Conv2d(4, 6, 3, { padding: 1, groups: groups === 1 ? 1 : 2, bias });
  const bn = new nn.BatchNorm2d(6);
  noGrad(() => {
    bn.runningMean!.copy_(randn([6]));
    bn.runningVar!.copy_(uniform([6], 0.5, 2));
    bn.weight!.copy_(randn([6]));
    bn.bias!.copy_(randn([6]));
  });
  return { conv, bn, x: randn([2, 4, 5, 5]) };
}

const close = async (a: Tensor, b: Tensor) => {
  const [u, v] = [await a.data(), await b.data()];
  expect(u.length).toBe(v.length);
  for (let i = 0; i < u.length; i++) expect(Math.abs(u[i]! - v[i]!), `element ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(v[i]!)));
};

describe.each(backends.map((b) => [b.name, b] as const))('%s: conv + BatchNorm folding', (_, backend) => {
  it('gives the two layers\' values in eval mode, with and without a conv bias, grouped or not', async () => {
    for (const [groups, bias] of [[1, true], [1, false], [2, true]] as const) {
      const { conv, bn, x } = layers(backend, groups, bias);
      bn.eval();
      await close(noGrad(() => nn.convBatchNorm(conv, bn, x)), noGrad(() => unfolded(conv, bn, x)));
      await close(noGrad(() => new nn.Sequential(conv, bn).forward(x)), noGrad(() => unfolded(conv, bn, x)));
    }
  });

  it('a clamp fused into the convolution gives the convolution then the clamp, after the bias', async () => {
    const { conv, x } = layers(backend);
    for (const [lo, hi] of [[0, Infinity], [0, 0.5], [-0.4, 0.3]] as const) {
      const fused = noGrad(() => F.conv2d(x, conv.weight, conv.bias, { padding: 1, clamp: [lo, hi] }));
      await close(fused, noGrad(() => F.conv2d(x, conv.weight, conv.bias, { padding: 1 }).clamp(lo, hi)));
      const plain = noGrad(() => F.conv2d(x, conv.weight, conv.bias, { padding: 1 }));
      await close(noGrad(() => nn.convBatchNorm(conv, new nn.BatchNorm2d(6).eval(), x, [lo, hi])), plain.mul(1 / Math.sqrt(1 + 1e-5)).clamp(lo, hi));
    }
  });

  it('uses batch statistics in train mode, and sees every change to weights and statistics', async () => {
    const { conv, bn, x } = layers(backend);
    bn.train();
    const seq = new nn.Sequential(conv, bn);
    const before = Array.from(await bn.runningMean!.data());
    const batchMean = conv.forward(x).mean([0, 2, 3]);
    seq.forward(x);
    // Train mode normalised with the batch and moved the statistics towards it, as PyTorch does.
    const after = await bn.runningMean!.data();
    const m = await batchMean.data();
    before.forEach((b, i) => expect(after[i]).toBeCloseTo(0.9 * b + 0.1 * m[i]!, 5));
    bn.eval();
    const first = noGrad(() => seq.forward(x));
    await close(first, noGrad(() => unfolded(conv, bn, x)));
    noGrad(() => bn.runningVar!.copy_(bn.runningVar!.mul(4)));
    await close(noGrad(() => seq.forward(x)), noGrad(() => unfolded(conv, bn, x)));
    conv.loadStateDict(new Map([['weight', randn(conv.weight.shape)], ['bias', randn([6])]]));
    const changed = noGrad(() => seq.forward(x));
    await close(changed, noGrad(() => unfolded(conv, bn, x)));
    expect(Array.from(await changed.data())).not.toEqual(Array.from(await first.data()));
  });

  it('passes gradients to the conv and BatchNorm parameters when they train with frozen statistics', async () => {
    const grads = async (fold: boolean) => {
      const { conv, bn, x } = layers(backend);
      bn.eval();
      const y = fold ? nn.convBatchNorm(conv, bn, x) : unfolded(conv, bn, x);
      y.mul(y).sum().backward();
      return Promise.all([conv.weight, conv.bias!, bn.weight!, bn.bias!].map((p) => p.grad!));
    };
    const [a, b] = [await grads(true), await grads(false)];
    for (let i = 0; i < a.length; i++) await close(a[i]!, b[i]!);
  });
});
