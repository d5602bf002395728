/** @file nn.Module semantics: names, modes, state dicts, layers and their PyTorch defaults. */
import { describe, expect, it } from 'vitest';
import { type Tensor, functional as F, manualSeed, nn, noGrad, randn, tensor, zeros } from '../../index.js';

class Block extends nn.Module {
  conv = new nn.Conv2d(4, 4, 3, { padding: 1, bias: false });
  bn = new nn.BatchNorm2d(4);
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x)).relu();
  }
}
class Net extends nn.Module {
  features = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.ReLU(), new Block(), new nn.MaxPool2d(2));
  pool = new nn.AdaptiveAvgPool2d(1);
  head = new nn.Linear(4, 10);
  forward(x: Tensor): Tensor {
    return this.head.forward(this.pool.forward(this.features.forward(x)).flatten(1));
  }
}

describe('Module', () => {
  it('names parameters with dotted paths in registration order', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      'features.0.weight', 'features.0.bias', 'features.2.conv.weight', 'features.2.bn.weight', 'features.2.bn.bias', 'head.weight', 'head.bias',
    ]);
    expect(net.namedModules().map(([n]) => n)).toEqual(['', 'features', 'features.0', 'features.1', 'features.2', 'features.2.conv', 'features.2.bn', 'features.3', 'pool', 'head']);
    expect(net.namedBuffers().map(([n]) => n)).toEqual(['features.2.bn.running_mean', 'features.2.bn.running_var', 'features.2.bn.num_batches_tracked']);
    expect(net.parameters().length).toBe(7);
  });

  it('runs forward and backward through every layer', () => {
    const net = new Net();
    const y = net.forward(randn([2, 3, 8, 8]));
    expect(y.shape).toEqual([2, 10]);
    F.crossEntropy(y, tensor([1, 2], { dtype: 'i32' })).backward();
    for (const [name, p] of net.namedParameters()) expect(p.grad, name).not.toBeNull();
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('train() and eval() reach every submodule', () => {
    const net = new Net().eval();
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
  });

  it('round-trips a state dict and reports missing and unexpected keys', () => {
    manualSeed(1);
    const a = new Net();
    manualSeed(2);
    const b = new Net();
    const x = randn([1, 3, 8, 8]);
    a.eval();
    b.eval();
    expect(Array.from(a.forward(x).dataSync())).not.toEqual(Array.from(b.forward(x).dataSync()));
    const res = b.loadStateDict(a.stateDict());
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(Array.from(b.forward(x).dataSync())).toEqual(Array.from(a.forward(x).dataSync()));

    const sd = a.stateDict();
    sd.delete('head.bias');
    sd.set('extra.weight', zeros([1]));
    expect(() => b.loadStateDict(sd)).toThrow(/Unexpected key\(s\) in state_dict: "extra.weight"[\s\S]*Missing key\(s\) in state_dict: "head.bias"/);
    expect(b.loadStateDict(sd, { strict: false })).toEqual({ missingKeys: ['head.bias'], unexpectedKeys: ['extra.weight'] });
  });

  it('state dict tensors are detached copies of the live parameters, not new memory', () => {
    const lin = new nn.Linear(2, 2);
    const sd = lin.stateDict();
    expect(sd.get('weight')!.storage).toBe(lin.weight.storage);
    expect(sd.get('weight')!.requiresGrad).toBe(false);
  });

  it('requiresGrad_ freezes parameters so they get no gradient', () => {
    const net = new Net();
    net.features.requiresGrad_(false);
    F.crossEntropy(net.forward(randn([2, 3, 8, 8])), tensor([0, 1], { dtype: 'i32' })).backward();
    expect(net.features.parameters().every((p) => p.grad === null)).toBe(true);
    expect(net.head.weight.grad).not.toBeNull();
  });

  it('prints a readable tree', () => {
    const s = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU()).toString();
    expect(s).toBe('Sequential(\n  (0): Linear(inFeatures=2, outFeatures=3, bias=true)\n  (1): ReLU()\n)');
  });
});

describe('layers', () => {
  it('Linear and Conv2d initialise within PyTorch bounds', () => {
    const lin = new nn.Linear(100, 50);
    const w = lin.weight.dataSync();
    expect(Math.max(...w)).toBeLessThanOrEqual(0.1);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-0.1);
    expect(Math.max(...w)).toBeGreaterThan(0.09);
    const conv = new nn.Conv2d(8, 4, 3, { groups: 2 });
    expect(conv.weight.shape).toEqual([4, 4, 3, 3]);
    expect(Math.max(...conv.weight.dataSync())).toBeLessThanOrEqual(1 / 6);
  });

  it('BatchNorm2d updates running statistics in training only', () => {
    const bn = new nn.BatchNorm2d(2);
    const x = randn([8, 2, 4, 4]).mul(3).add(5);
    bn.forward(x);
    const m = bn.runningMean!.dataSync();
    const mean = x.mean([0, 2, 3]).dataSync();
    expect(m[0]).toBeCloseTo(0.1 * mean[0]!, 5);
    expect(bn.getBuffer('num_batches_tracked')!.dataSync()[0]).toBe(1);
    bn.eval();
    const before = Array.from(bn.runningMean!.dataSync());
    const y = bn.forward(x);
    expect(Array.from(bn.runningMean!.dataSync())).toEqual(before);
    // eval normalises with the running statistics
    const rv = bn.runningVar!.dataSync();
    expect(y.dataSync()[0]).toBeCloseTo((x.dataSync()[0]! - before[0]!) / Math.sqrt(rv[0]! + 1e-5), 4);
  });

  it('BatchNorm with statsFrozen keeps statistics through train()', () => {
    const bn = new nn.BatchNorm2d(2);
    bn.statsFrozen = true;
    bn.train();
    bn.forward(randn([4, 2, 3, 3]).add(4));
    expect(Array.from(bn.runningMean!.dataSync())).toEqual([0, 0]);
    expect(bn.getBuffer('num_batches_tracked')!.dataSync()[0]).toBe(0);
  });

  it('LayerNorm normalises the last dims', () => {
    const ln = new nn.LayerNorm(6);
    const y = ln.forward(randn([3, 6]).mul(4).add(2));
    const mean = y.mean(1).dataSync();
    const sd = y.var(1, { correction: 0 }).dataSync();
    for (let i = 0; i < 3; i++) {
      expect(mean[i]).toBeCloseTo(0, 5);
      expect(sd[i]).toBeCloseTo(1, 3);
    }
  });

  it('Embedding looks rows up and zeroes the padding row', () => {
    const e = new nn.Embedding(5, 3, { paddingIdx: 0 });
    expect(Array.from(e.weight.select(0, 0).dataSync())).toEqual([0, 0, 0]);
    const y = e.forward(tensor([[1, 4], [0, 1]], { dtype: 'i32' }));
    expect(y.shape).toEqual([2, 2, 3]);
    expect(Array.from(y.select(0, 0).select(0, 0).dataSync())).toEqual(Array.from(e.weight.select(0, 1).dataSync()));
    y.sum().backward();
    expect(Array.from(e.weight.grad!.select(0, 1).dataSync())).toEqual([2, 2, 2]);
  });

  it('Dropout zeroes and rescales in training and is the identity in eval', () => {
    const d = new nn.Dropout(0.25);
    const y = d.forward(zeros([10000]).add(1)).dataSync();
    const kept = y.filter((v) => v !== 0);
    expect(kept.length / y.length).toBeGreaterThan(0.72);
    expect(kept.length / y.length).toBeLessThan(0.78);
    expect(kept[0]).toBeCloseTo(1 / 0.75, 6);
    d.eval();
    expect(Array.from(d.forward(tensor([1, 2])).dataSync())).toEqual([1, 2]);
  });

  it('activations, pooling and flatten have the expected shapes and values', () => {
    const x = tensor([[-1, 0.5, 7]]);
    expect(Array.from(new nn.ReLU6().forward(x).dataSync())).toEqual([0, 0.5, 6]);
    expect(new nn.GELU().forward(x).dataSync()[2]).toBeCloseTo(7, 5);
    expect(new nn.AvgPool2d(2).forward(randn([1, 2, 4, 4])).shape).toEqual([1, 2, 2, 2]);
    expect(new nn.Flatten().forward(randn([2, 3, 4])).shape).toEqual([2, 12]);
    expect(noGrad(() => new nn.AdaptiveAvgPool2d([2, 3]).forward(randn([1, 1, 5, 7]))).shape).toEqual([1, 1, 2, 3]);
  });
});

describe('loss modules and ModuleDict', () => {
  it('loss modules give their functional forms with the options they hold', () => {
    const logits = randn([4, 3]);
    const target = tensor([0, 2, 1, 2], { dtype: 'i32' });
    const same = (a: Tensor, b: Tensor) => expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    same(new nn.CrossEntropyLoss({ labelSmoothing: 0.1 }).forward(logits, target), F.crossEntropy(logits, target, { labelSmoothing: 0.1 }));
    same(new nn.NLLLoss({ reduction: 'sum' }).forward(F.logSoftmax(logits, 1), target), F.nllLoss(F.logSoftmax(logits, 1), target, { reduction: 'sum' }));
    const [a, b] = [randn([5]), randn([5])];
    same(new nn.MSELoss().forward(a, b), F.mseLoss(a, b));
    same(new nn.L1Loss({ reduction: 'none' }).forward(a, b), F.l1Loss(a, b, { reduction: 'none' }));
    same(new nn.BCEWithLogitsLoss().forward(a, b.sigmoid()), F.binaryCrossEntropyWithLogits(a, b.sigmoid()));
  });

  it('ModuleDict names its modules in parameters and state dicts, in insertion order, and refuses names PyTorch refuses', () => {
    class Heads extends nn.Module {
      heads = new nn.ModuleDict({ cls: new nn.Linear(4, 3), reg: new nn.Linear(4, 1) });
      forward(x: Tensor): Tensor {
        return this.heads.get('cls')!.forward(x);
      }
    }
    const m = new Heads();
    expect(m.namedParameters().map(([k]) => k)).toEqual(['heads.cls.weight', 'heads.cls.bias', 'heads.reg.weight', 'heads.reg.bias']);
    expect([...m.stateDict().keys()]).toEqual(['heads.cls.weight', 'heads.cls.bias', 'heads.reg.weight', 'heads.reg.bias']);
    expect(m.heads.keys()).toEqual(['cls', 'reg']);
    m.heads.set('aux', new nn.Identity());
    expect(m.heads.size).toBe(3);
    expect(m.heads.delete('reg')).toBe(true);
    expect(m.namedParameters().map(([k]) => k)).toEqual(['heads.cls.weight', 'heads.cls.bias']);
    expect(() => m.heads.set('a.b', new nn.Identity())).toThrow(/'a\.b' is not a valid module name/);
    expect(() => m.heads.set('training', new nn.Identity())).toThrow(/'training' would shadow an attribute/);
    expect(() => m.heads.forward()).toThrow(/ModuleDict has no forward/);
  });
});

describe('forward hooks', () => {
  it('see a layer inside a model (its raw output, not folded with the BatchNorm after it), may replace it, and go when removed', () => {
    manualSeed(3);
    const conv = new nn.Conv2d(2, 3, 3, { padding: 1 });
    const bn = new nn.BatchNorm2d(3);
    const model = new nn.Sequential(conv, bn, new nn.ReLU()).eval();
    const x = randn([1, 2, 5, 5]);
    const folded = Array.from(model.forward(x).dataSync());
    const seen: Tensor[] = [];
    const handle = conv.registerForwardHook((m, inputs, out) => {
      expect(m).toBe(conv);
      expect(inputs[0]).toBe(x);
      seen.push(out);
    });
    const y = model.forward(x);
    expect(seen.length).toBe(1);
    expect(Array.from(seen[0]!.dataSync())).toEqual(Array.from(F.conv2d(x, conv.weight, conv.bias, { padding: 1 }).dataSync()));
    const scaled = bn.registerForwardHook((_m, _i, out) => out.mul(0));
    expect(Array.from(model.forward(x).dataSync()).every((v) => v === 0)).toBe(true);
    scaled.remove();
    handle.remove();
    // Unhooked, the pair folds again: the same bits as before any hook; hooked, the same values to rounding.
    expect(Array.from(model.forward(x).dataSync())).toEqual(folded);
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(folded[i]!, 5));
    expect(seen.length).toBe(2);
    expect(Object.prototype.hasOwnProperty.call(conv, 'forward')).toBe(false);
  });
});

describe('Conv1d, ConvTranspose2d and GroupNorm modules', () => {
  it('have PyTorch parameter names and shapes, and call their functional forms', () => {
    manualSeed(5);
    const c1 = new nn.Conv1d(4, 6, 3, { stride: 2, padding: 1, groups: 2 });
    expect([...c1.stateDict()].map(([k, v]) => [k, [...v.shape]])).toEqual([['weight', [6, 2, 3]], ['bias', [6]]]);
    const x1 = randn([2, 4, 9]);
    expect(Array.from(c1.forward(x1).dataSync())).toEqual(Array.from(F.conv1d(x1, c1.weight, c1.bias, { stride: 2, padding: 1, groups: 2 }).dataSync()));
    const ct = new nn.ConvTranspose2d(3, 4, 3, { stride: 2, padding: 1, outputPadding: 1 });
    expect([...ct.stateDict()].map(([k, v]) => [k, [...v.shape]])).toEqual([['weight', [3, 4, 3, 3]], ['bias', [4]]]);
    expect(ct.forward(randn([2, 3, 4, 5])).shape).toEqual([2, 4, 8, 10]);
    const gn = new nn.GroupNorm(3, 6);
    expect([...gn.stateDict()].map(([k, v]) => [k, [...v.shape]])).toEqual([['weight', [6]], ['bias', [6]]]);
    const x = randn([2, 6, 3, 4]);
    const y = gn.forward(x);
    // Each group of two channels is normalised on its own: mean 0, biased variance 1.
    const g = y.reshape([2, 3, -1]);
    for (const v of g.mean(2).dataSync()) expect(Math.abs(v)).toBeLessThan(1e-6);
    for (const v of g.var(2, { correction: 0 }).dataSync()) expect(v).toBeCloseTo(1, 3);
    expect(() => new nn.GroupNorm(4, 6)).toThrow(/GroupNorm: numChannels 6 must be divisible by numGroups 4/);
    expect(() => gn.forward(randn([2, 5, 3]))).toThrow(/GroupNorm: expected input with 6 channels/);
  });
});

describe('buffers of user modules', () => {
  it('registerBuffer puts persistent buffers in the state dict in PyTorch\'s order (a module\'s own entries before its children\'s), and loads them back', () => {
    class Scaler extends nn.Module {
      lin = new nn.Linear(2, 2);
      constructor() {
        super();
        this.registerBuffer('scale', tensor([2, 3]));
        this.registerBuffer('cache', tensor([0, 0]), false);
      }
      forward(x: Tensor): Tensor {
        return this.lin.forward(x).mul(this.getBuffer('scale')!);
      }
    }
    const m = new Scaler();
    // PyTorch 1.13 gives ['scale', 'lin.weight', 'lin.bias'] for the same module.
    expect([...m.stateDict().keys()]).toEqual(['scale', 'lin.weight', 'lin.bias']);
    expect(m.namedBuffers().map(([k]) => k)).toEqual(['scale', 'cache']);
    const sd = m.stateDict();
    sd.set('scale', tensor([5, 7]));
    m.loadStateDict(sd);
    expect(Array.from(m.getBuffer('scale')!.dataSync())).toEqual([5, 7]);
  });
});
