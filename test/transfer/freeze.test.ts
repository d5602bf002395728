/** @file Freezing: by pattern and depth, BatchNorm statistics kept, no backward work through a frozen prefix. */
import { describe, expect, it } from 'vitest';
import { type Tensor, functional as F, getBackend, manualSeed, nn, optim, randn, tensor } from '../../index.js';
import { GradualUnfreezer, blocksOf, freeze, freezeAllBut, globToRegExp, layerwiseLr, paramGroups, unfreeze } from '../../transfer/freeze.js';

class Net extends nn.Module {
  features = new nn.Sequential(
    new nn.Sequential(new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU()),
    new nn.Sequential(new nn.Conv2d(8, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU()),
    new nn.Sequential(new nn.Conv2d(8, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU()),
  );
  head = new nn.Linear(8, 4);
  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(x).mean([2, 3]));
  }
}

const batch = () => randn([4, 3, 6, 6]).mul(2).add(1);
const target = tensor([0, 1, 2, 3], { dtype: 'i32' });

/** Kernels the backend runs while `fn` executes. */
function kernelsRun(fn: () => void): number {
  const b = getBackend();
  const original = b.run;
  let n = 0;
  b.run = function (this: typeof b, ...args: Parameters<typeof b.run>) {
    n++;
    return original.apply(this, args);
  } as typeof b.run;
  try {
    fn();
  } finally {
    b.run = original;
  }
  return n;
}

describe('freeze', () => {
  it('freezes by module name: no grads, no optimizer state, BatchNorm statistics kept through train()', () => {
    manualSeed(0);
    const net = new Net();
    const frozen = freeze(net, 'features');
    expect(frozen.length).toBe(12);
    net.train();
    const stats = net.features.namedBuffers().map(([, t]) => Array.from(t.dataSync()));
    const opt = new optim.SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
    for (let i = 0; i < 3; i++) {
      opt.zeroGrad();
      F.crossEntropy(net.forward(batch()), target).backward();
      opt.step();
    }
    expect(net.features.parameters().every((p) => p.grad === null && !opt.state.has(p))).toBe(true);
    expect(net.head.weight.grad).not.toBeNull();
    expect(net.features.namedBuffers().map(([, t]) => Array.from(t.dataSync()))).toEqual(stats);
    unfreeze(net);
    net.forward(batch());
    expect(net.features.namedBuffers().map(([, t]) => Array.from(t.dataSync()))).not.toEqual(stats);
  });

  it('runs no backward work through a frozen prefix', () => {
    const net = new Net();
    const x = batch();
    const work = () => {
      const loss = F.crossEntropy(net.forward(x), target);
      return kernelsRun(() => loss.backward());
    };
    const full = work();
    freeze(net, 'features');
    const feats = net.features.forward(x);
    expect(feats.gradFn).toBeNull();
    const headOnly = work();
    expect(headOnly).toBeLessThan(full / 5);
  });

  it('freezes by depth, regex and glob', () => {
    const net = new Net();
    expect(blocksOf(net, 'features').map(([n]) => n)).toEqual(['features.0', 'features.1', 'features.2']);
    freezeAllBut(net, 1, 'features');
    const trainable = net.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable).toEqual(['features.2.0.weight', 'features.2.0.bias', 'features.2.1.weight', 'features.2.1.bias', 'head.weight', 'head.bias']);
    expect((net.features[0] as nn.Sequential)[1]).toHaveProperty('statsFrozen', true);
    expect((net.features[2] as nn.Sequential)[1]).toHaveProperty('statsFrozen', false);
    unfreeze(net);
    freeze(net, /\.bias$/);
    expect(net.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n).every((n) => n.endsWith('.bias'))).toBe(true);
    unfreeze(net);
    freeze(net, 'features.*.0');
    expect(net.namedParameters().filter(([, p]) => !p.requiresGrad).length).toBe(6);
    expect(globToRegExp('a.**.w').test('a.b.c.w')).toBe(true);
    expect(globToRegExp('a.*.w').test('a.b.c.w')).toBe(false);
    expect(() => freeze(net, 'backbone')).toThrow(/no parameter matches backbone/);
  });

  it('a RegExp tests full parameter names, and a function gets each name and parameter', () => {
    const seq = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
    // Everything but the last layer: the module '2' must not make /^(?!2\.)/ select '2.weight'.
    freeze(seq, /^(?!2\.)/);
    expect(seq.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n)).toEqual(['2.weight', '2.bias']);
    unfreeze(seq);
    expect(freeze(seq, (name, p) => name.endsWith('weight') && p.shape[0] === 4)).toEqual(['0.weight']);
    expect(() => freeze(seq, () => false)).toThrow(/no parameter matches/);
  });

  it('builds per-group learning rates and layer-wise decay', () => {
    const net = new Net();
    freeze(net, 'features.0');
    const groups = paramGroups(net, [{ pattern: 'head', lr: 1e-2 }, ...layerwiseLr(net, 1e-3, 0.5, 'features')]);
    expect(groups.map((g) => [g.lr, g.params.length])).toEqual([[1e-2, 2], [1e-3 * 0.5, 4], [1e-3, 4]]);
    const opt = new optim.AdamW(groups, { lr: 1 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([1e-2, 5e-4, 1e-3]);
  });

  it('unfreezes gradually from the top', () => {
    const net = new Net();
    const u = new GradualUnfreezer(net, 'features', 2);
    expect(u.epoch(0)).toEqual([]);
    expect(net.features.parameters().some((p) => p.requiresGrad)).toBe(false);
    expect(u.epoch(2)).toEqual(['features.2']);
    expect(u.epoch(4)).toEqual(['features.1', 'features.2']);
    expect(u.epoch(10)).toEqual(['features.0', 'features.1', 'features.2']);
    expect(net.parameters().every((p) => p.requiresGrad)).toBe(true);
  });
});
