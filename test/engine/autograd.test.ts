/** @file Autograd: recording only where needed, accumulation, noGrad, detach, freed graphs. */
import { describe, expect, it } from 'vitest';
import { enableGrad, functional as F, getBackend, grad, noGrad, optim, randn, tensor } from '../../index.js';

describe('autograd', () => {
  it('runs no kernel for the gradient of an input that needs none (the network input, frozen weights)', () => {
    const backend = getBackend();
    const kernels: string[] = [];
    const original = backend.run.bind(backend);
    backend.run = ((op, ...rest) => {
      kernels.push(op);
      return original(op, ...rest);
    }) as typeof backend.run;
    try {
      // 2 x 12 x 12 output positions: the weight's gradient runs as a convolution (few positions make it a matmul).
      const x = randn([2, 3, 12, 12]);
      const w = randn([4, 3, 3, 3], { requiresGrad: true });
      const frozen = randn([4, 5]);
      const y = F.conv2d(x, w, null, { padding: 1 }).mean([2, 3]).matmul(frozen);
      kernels.length = 0;
      y.sum().backward();
      // The weight's gradient needs one convolution; x's (a second) and frozen's (a matmul) are not computed.
      expect(kernels.filter((k) => k === 'conv2d')).toHaveLength(1);
      expect(kernels.filter((k) => k === 'matmul')).toHaveLength(1);
      expect(w.grad!.shape).toEqual([4, 3, 3, 3]);
      expect(x.grad).toBeNull();
    } finally {
      backend.run = original;
    }
  });

  it('computes gradients of a small expression', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).sum(); // dy/dx = 2x
    y.backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
  });

  it('accumulates into .grad across backward calls and through shared inputs', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([5, 7]);
    const z = tensor([2], { requiresGrad: true });
    z.add(z).mul(z).sum().backward(); // d(2z^2)/dz = 4z
    expect(z.grad!.dataSync()[0]).toBe(8);
  });

  it('records no node when no input requires grad (a frozen subgraph)', () => {
    const w = randn([4, 4]);
    const x = randn([2, 4]);
    const frozen = x.matmul(w).relu();
    expect(frozen.gradFn).toBeNull();
    expect(frozen.requiresGrad).toBe(false);
    const head = tensor([[1], [1], [1], [1]], { requiresGrad: true });
    const out = frozen.matmul(head).sum();
    expect(out.gradFn!.op).toBe('sum');
    out.backward();
    expect(head.grad!.shape).toEqual([4, 1]);
    expect(w.grad).toBeNull();
  });

  it('noGrad turns recording off, enableGrad back on', () => {
    const x = tensor([1], { requiresGrad: true });
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = noGrad(() => enableGrad(() => x.mul(2)));
    expect(z.requiresGrad).toBe(true);
  });

  it('detach cuts the graph and shares memory', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const d = x.mul(2).detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    const e = x.detach();
    expect(e.storage).toBe(x.storage);
  });

  it('releases saved tensors after backward and refuses a second pass', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(y.gradFn!.released).toBe(true);
    expect(y.gradFn!.inputs).toEqual([]);
    expect(() => y.backward()).toThrow(/already freed/);
    const x2 = tensor([1, 2], { requiresGrad: true });
    const y2 = x2.exp().sum();
    y2.backward(undefined, { retainGraph: true });
    y2.backward();
    expect(x2.grad!.dataSync()[0]).toBeCloseTo(2 * Math.E, 5);
  });

  it('takes an explicit gradient for a non-scalar output', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    x.mul(2).backward(tensor([1, 0, 2]));
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 0, 4]);
  });

  it('casts carry gradients between float dtypes', () => {
    const x = tensor([1, 2], { dtype: 'f64', requiresGrad: true });
    x.cast('f32').mul(3).sum().backward();
    expect(x.grad!.dtype).toBe('f64');
    expect(Array.from(x.grad!.dataSync())).toEqual([3, 3]);
  });

  it('handles a deep chain without recursion limits', () => {
    const x = tensor([1], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.add(1e-4);
    y.sum().backward();
    expect(x.grad!.dataSync()[0]).toBe(1);
  });

  it('differentiates composites through softmax and cross-entropy', () => {
    const logits = tensor([[2, 1, 0]], { requiresGrad: true });
    F.crossEntropy(logits, tensor([0], { dtype: 'i32' })).backward();
    const p = F.softmax(logits.detach(), 1).dataSync();
    expect(logits.grad!.dataSync()[0]).toBeCloseTo(p[0]! - 1, 6);
    expect(logits.grad!.dataSync()[2]).toBeCloseTo(p[2]!, 6);
  });
});

describe('in-place ops', () => {
  it('write the out-of-place values into the tensor itself, and refuse a tracked tensor outside noGrad', async () => {
    const t = tensor([1, -2, 3]);
    const storage = t.storage;
    expect(t.add_(1)).toBe(t);
    expect(await t.tolist()).toEqual([2, -1, 4]);
    t.sub_(tensor([1, 1, 1]), 2).mul_(3).div_(2);
    expect(await t.tolist()).toEqual([0, -4.5, 3]);
    t.clamp_(-1, 1);
    expect(await t.tolist()).toEqual([0, -1, 1]);
    t.fill_(7);
    expect(await t.tolist()).toEqual([7, 7, 7]);
    t.zero_();
    expect(await t.tolist()).toEqual([0, 0, 0]);
    expect(t.storage).toBe(storage);
    const w = tensor([1, 2], { requiresGrad: true });
    expect(() => w.mul_(2)).toThrow(/mul_: a tensor that requires grad cannot be modified in place while gradients are recorded/);
    noGrad(() => w.sub_(tensor([0.5, 0.5])));
    expect(await w.tolist()).toEqual([0.5, 1.5]);
    expect(w.requiresGrad).toBe(true);
  });

  it('a tensor saved for a gradient and then written in place fails backward with the op and the versions, as PyTorch checks', () => {
    const x = tensor([1, 2, 3]);
    const w = tensor([0.5, 0.5, 0.5], { requiresGrad: true });
    const y = x.mul(w).sum();
    x.mul_(2);
    expect(() => y.backward()).toThrow(/backward: mul's input 0 \[3\] \(f32\), saved for its gradient, was modified by an in-place operation: it is at version 1, expected 0/);
    // Written before the op ran: nothing to check.
    const z = x.mul(w).sum();
    z.backward();
    expect(Array.from(w.grad!.dataSync())).toEqual([2, 4, 6]);
  });
});

describe('higher-order gradients', () => {
  it('grad() gives gradients without touching .grad; with createGraph they differentiate again', async () => {
    const x = tensor([0.5, -1, 2], { requiresGrad: true });
    const y = x.pow(3).sum();
    const [dx] = grad(y, [x], { createGraph: true });
    expect(x.grad).toBeNull();
    expect(Array.from(dx!.dataSync())).toEqual([0.75, 3, 12]); // 3 x^2
    // d/dx sum(3 x^2) = 6 x
    const [ddx] = grad(dx!.sum(), [x]);
    expect(Array.from(ddx!.dataSync())).toEqual([3, -6, 12]);
  });

  it('backward({createGraph}) records the backward pass: a gradient penalty trains the weights through it', () => {
    const w = tensor([[0.5, -0.25], [1, 2]], { requiresGrad: true });
    const x = tensor([[1, 2]], { requiresGrad: true });
    const out = x.matmul(w).tanh().sum();
    const [gx] = grad(out, [x], { createGraph: true });
    // penalty = ||d out / d x||^2, differentiated with respect to w, against f64 central differences.
    gx!.pow(2).sum().backward();
    const analytic = Array.from(w.grad!.dataSync());
    const f = (wv: number[]) => {
      const wt = tensor(wv, { shape: [2, 2], dtype: 'f64', requiresGrad: true });
      const xt = tensor([[1, 2]], { dtype: 'f64', requiresGrad: true });
      const [g] = grad(xt.matmul(wt).tanh().sum(), [xt], { createGraph: true });
      return g!.pow(2).sum().dataSync()[0]!;
    };
    const w0 = [0.5, -0.25, 1, 2];
    w0.forEach((_, i) => {
      const [a, b] = [[...w0], [...w0]];
      a[i]! += 1e-6;
      b[i]! -= 1e-6;
      expect(analytic[i]).toBeCloseTo((f(a) - f(b)) / 2e-6, 4);
    });
  });

  it('names an input that does not require grad or that the outputs do not use', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const unused = tensor([3], { requiresGrad: true });
    expect(() => grad(x.sum(), [tensor([1])])).toThrow(/grad: input 0 \[1\] does not require grad/);
    expect(() => grad(x.sum(), [x, unused])).toThrow(/grad: input 1 \[1\] was not used to compute the outputs/);
    expect(grad(x.sum(), [x, unused], { allowUnused: true })[1]).toBeNull();
  });
});

describe('gradients kept by the caller', () => {
  it('zeroGrad({setToNone: false}) zeroes in place: a kept grad stays valid and the next backward adds into the same tensor', async () => {
    const p = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.1 });
    p.mul(2).sum().backward();
    const g = p.grad!;
    opt.zeroGrad({ setToNone: false });
    expect(p.grad).toBe(g);
    expect(await g.tolist()).toEqual([0, 0, 0]);
    p.mul(p).sum().backward();
    expect(p.grad).toBe(g);
    expect(await g.tolist()).toEqual([2, 4, 6]);
    // Accumulating without zeroing adds in place too.
    p.sum().backward();
    expect(await g.tolist()).toEqual([3, 5, 7]);
    // The default frees them, as before.
    opt.zeroGrad();
    expect(p.grad).toBeNull();
    expect(g.disposed).toBe(true);
  });

  it('one gradient reaching two leaves becomes two tensors, so adding into one in place leaves the other alone', async () => {
    const a = tensor([1, 1], { requiresGrad: true });
    const b = tensor([2, 2], { requiresGrad: true });
    a.add(b).sum().backward(); // add passes the same gradient to both inputs
    expect(a.grad).not.toBe(b.grad);
    a.mul(3).sum().backward();
    expect(await a.grad!.tolist()).toEqual([4, 4]);
    expect(await b.grad!.tolist()).toEqual([1, 1]);
  });
});
