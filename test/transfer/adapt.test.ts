/** @file Domain shift: discrepancy measures, CORAL alignment and AdaBN behave as their papers define them. */
import { describe, expect, it } from 'vitest';
import { Generator, eye, nn, noGrad, randn, tensor } from '../../index.js';
import { adaBN, coralAlign, coralDistance, covariance, linearMmd, sqrtAndInvSqrt } from '../../transfer/adapt.js';
import type { Dataset } from '../../transfer/data/dataset.js';

describe('domain adaptation', () => {
  it('measures no discrepancy between a set and itself, and a growing one under shift', () => {
    const a = randn([200, 8]);
    expect(linearMmd(a, a).dataSync()[0]).toBeCloseTo(0, 10);
    expect(coralDistance(a, a).dataSync()[0]).toBeCloseTo(0, 10);
    const shifted = a.add(0.5);
    expect(linearMmd(a, shifted).dataSync()[0]).toBeCloseTo(8 * 0.25, 4);
    const stretched = a.mul(3);
    expect(coralDistance(a, stretched).dataSync()[0]!).toBeGreaterThan(coralDistance(a, a.mul(1.5)).dataSync()[0]!);
  });

  it('takes matrix square roots with Newton-Schulz', () => {
    const m = randn([6, 6]);
    const spd = m.matmul(m.T).add(eye(6));
    const [s, inv] = sqrtAndInvSqrt(spd, 30);
    const back = s.matmul(s).dataSync();
    const ident = s.matmul(inv).dataSync();
    Array.from(spd.dataSync()).forEach((v, i) => expect(back[i]).toBeCloseTo(v, 3));
    ident.forEach((v, i) => expect(v).toBeCloseTo(i % 7 === 0 ? 1 : 0, 3));
  });

  it('CORAL alignment gives source features the target covariance', () => {
    const g = new Generator(3);
    const src = randn([500, 4], { generator: g });
    const tgt = randn([500, 4], { generator: g }).matmul(tensor([[2, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 0.5, 0], [0, 0, 0.3, 1.5]]));
    const aligned = coralAlign(src, tgt, 1e-3);
    const [ca, ct] = [covariance(aligned).dataSync(), covariance(tgt).dataSync()];
    ca.forEach((v, i) => expect(v).toBeCloseTo(ct[i]!, 1));
    expect(coralDistance(aligned, tgt).dataSync()[0]!).toBeLessThan(coralDistance(src, tgt).dataSync()[0]! / 20);
  });

  it('AdaBN re-estimates BatchNorm statistics on target data and changes no weight', () => {
    const net = new nn.Sequential(new nn.Conv2d(2, 3, 3, { padding: 1 }), new nn.BatchNorm2d(3), new nn.ReLU());
    const bn = net[1] as nn.BatchNorm;
    bn.statsFrozen = true;
    const weights = net.parameters().map((p) => Array.from(p.dataSync()));
    const x = randn([40, 2, 5, 5]).mul(2).add(3);
    const target: Dataset = { x: x.dataSync() as Float32Array, y: new Int32Array(40), n: 40, shape: [2, 5, 5], classes: ['a'] };
    adaBN(net, target, 20); // equal batches: the mean of batch means is the pooled mean
    const conv = noGrad(() => (net[0] as nn.Conv2d).forward(x));
    const mean = conv.mean([0, 2, 3]).dataSync();
    const variance = conv.var([0, 2, 3], { correction: 0 }).dataSync();
    bn.runningMean!.dataSync().forEach((v, i) => expect(v).toBeCloseTo(mean[i]!, 3));
    // The per-batch unbiased variances average to about the pooled variance.
    bn.runningVar!.dataSync().forEach((v, i) => expect(v / variance[i]!).toBeGreaterThan(0.9));
    expect(net.parameters().map((p) => Array.from(p.dataSync()))).toEqual(weights);
    expect(bn.statsFrozen).toBe(true);
    expect(bn.momentum).toBe(0.1);
  });
});
