/** @file Optimizers: frozen parameters untouched and stateless, schedules, clipping. */
import { describe, expect, it } from 'vitest';
import { nn, optim, randn, tensor, zeros } from '../../index.js';

describe('optimizers', () => {
  it('never touch or keep state for parameters that do not require grad', () => {
    const net = new nn.Sequential(new nn.Linear(3, 4), new nn.Linear(4, 2));
    const frozen = net[0] as nn.Linear;
    frozen.requiresGrad_(false);
    const before = Array.from(frozen.weight.dataSync());
    for (const opt of [new optim.Adam(net.parameters(), { lr: 0.1 }), new optim.SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0.1 })]) {
      net.zeroGrad();
      net.forward(randn([5, 3])).pow(2).mean().backward();
      opt.step();
      expect(Array.from(frozen.weight.dataSync())).toEqual(before);
      expect(opt.state.has(frozen.weight)).toBe(false);
      expect(opt.state.has((net[1] as nn.Linear).weight)).toBe(true);
    }
  });

  it('apply per-group learning rates', () => {
    const a = tensor([1], { requiresGrad: true });
    const b = tensor([1], { requiresGrad: true });
    const opt = new optim.SGD([{ params: [a], lr: 0.5 }, { params: [b] }], { lr: 0.1 });
    a.add(b).sum().backward();
    opt.step();
    expect(a.dataSync()[0]).toBeCloseTo(0.5, 6);
    expect(b.dataSync()[0]).toBeCloseTo(0.9, 6);
  });

  it('reject a parameter listed twice', () => {
    const a = tensor([1], { requiresGrad: true });
    expect(() => new optim.SGD([{ params: [a] }, { params: [a] }], { lr: 0.1 })).toThrow(/more than one parameter group/);
  });
});

describe('schedules', () => {
  const opt = () => new optim.SGD([tensor([1], { requiresGrad: true })], { lr: 1 });
  it('StepLR', () => {
    const s = new optim.StepLR(opt(), 2, 0.5);
    const lrs = [s.getLastLr()[0]];
    for (let i = 0; i < 5; i++) {
      s.step();
      lrs.push(s.getLastLr()[0]);
    }
    expect(lrs).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25]);
  });
  it('CosineAnnealingLR', () => {
    const s = new optim.CosineAnnealingLR(opt(), 4, 0.1);
    const lrs = [s.getLastLr()[0]!];
    for (let i = 0; i < 4; i++) {
      s.step();
      lrs.push(s.getLastLr()[0]!);
    }
    expect(lrs[0]).toBeCloseTo(1);
    expect(lrs[2]).toBeCloseTo(0.55);
    expect(lrs[4]).toBeCloseTo(0.1);
  });
  it('CosineWithWarmupLR warms up linearly, then decays', () => {
    const s = new optim.CosineWithWarmupLR(opt(), 3, 10);
    const lrs = [s.getLastLr()[0]!];
    for (let i = 0; i < 10; i++) {
      s.step();
      lrs.push(s.getLastLr()[0]!);
    }
    expect(lrs.slice(0, 4)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(lrs[10]).toBeCloseTo(0, 6);
    for (let i = 4; i < 10; i++) expect(lrs[i + 1]!).toBeLessThan(lrs[i]!);
  });
});

describe('clipGradNorm', () => {
  it('scales gradients down to the norm and returns the norm before clipping', () => {
    const a = tensor([3, 0], { requiresGrad: true });
    const b = tensor([4], { requiresGrad: true });
    a.mul(a.detach()).sum().add(b.mul(b.detach()).sum()).backward(); // grads 3,0,4 -> norm 5
    const n = optim.clipGradNorm([a, b], 1);
    expect(n.dataSync()[0]).toBeCloseTo(5, 5);
    expect(a.grad!.dataSync()[0]).toBeCloseTo(0.6, 5);
    expect(b.grad!.dataSync()[0]).toBeCloseTo(0.8, 5);
    optim.clipGradNorm([a, b], 10);
    expect(b.grad!.dataSync()[0]).toBeCloseTo(0.8, 5);
  });
  it('SequentialLR refuses OneCycleLR, which sets the momentum too', () => {
    const o = new optim.SGD([zeros([1]).requiresGrad_()], { lr: 0.1, momentum: 0.9 });
    expect(() => new optim.SequentialLR(o, [new optim.LinearLR(o), new optim.OneCycleLR(o, 1, 10)], [3])).toThrow(/SequentialLR: OneCycleLR cannot run inside it/);
  });
});
