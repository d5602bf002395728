/** @file NaN propagates through every op that picks a value (relu, clamp, max/min, pooling) on every backend, as in PyTorch. */
import { describe, expect, it } from 'vitest';
import { type Tensor, functional as F, tensor } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';

const backends = await testBackends();

/** NaN positions and the other values, NaN compared as NaN. */
async function values(t: Tensor): Promise<(number | 'NaN')[]> {
  return [...(await t.data())].map((v) => (Number.isNaN(v) ? 'NaN' : v));
}

describe.each(backends.map((b) => [b.name, b] as const))('NaN propagation on %s', (_, backend) => {
  const nanRow = [Number.NaN, -1, 2, -3];

  it('relu, clamp and tanh keep NaN', async () => {
    setBackend(backend);
    const x = tensor(nanRow);
    expect(await values(x.relu())).toEqual(['NaN', 0, 2, 0]);
    expect(await values(x.clamp(-2, 1))).toEqual(['NaN', -1, 1, -2]);
    const t = await values(x.tanh());
    expect(t[0]).toBe('NaN');
    t.slice(1).forEach((v, i) => expect(v as number).toBeCloseTo(Math.tanh(nanRow[i + 1]!), 6));
  });

  it('maximum and minimum return NaN where either side is NaN', async () => {
    setBackend(backend);
    const a = tensor([Number.NaN, 1, 5, Number.NaN]);
    const b = tensor([0, Number.NaN, 3, Number.NaN]);
    expect(await values(a.maximum(b))).toEqual(['NaN', 'NaN', 5, 'NaN']);
    expect(await values(a.minimum(b))).toEqual(['NaN', 'NaN', 3, 'NaN']);
  });

  it('maskedSelect takes the elements a broadcast mask selects, in order, with their gradient', async () => {
    setBackend(backend);
    const x = tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    const mask = tensor([true, false, true]);
    const picked = backend.readSync ? x.maskedSelect(mask) : await x.maskedSelectAsync(mask);
    expect(await values(picked)).toEqual([1, 3, 4, 6]);
    picked.sum().backward();
    expect(await values(x.grad!)).toEqual([1, 0, 1, 1, 0, 1]);
    if (!backend.readSync) expect(() => x.maskedSelect(mask)).toThrow(/maskedSelect: the output size depends on the mask's values, which the webgpu backend reads asynchronously/);
    expect(await values(await x.maskedSelectAsync(tensor([[false], [false]])))).toEqual([]);
  });

  it('sort puts NaN as the largest value and keeps equal values in order; topk takes from the right end', async () => {
    setBackend(backend);
    const x = tensor([[3, Number.NaN, 1, 3, -2, Number.NaN, 1]]);
    const up = x.sort(1);
    expect(await values(up.values)).toEqual([-2, 1, 1, 3, 3, 'NaN', 'NaN']);
    expect(await values(up.indices)).toEqual([4, 2, 6, 0, 3, 1, 5]);
    const down = x.sort(1, true);
    expect(await values(down.values)).toEqual(['NaN', 'NaN', 3, 3, 1, 1, -2]);
    expect(await values(down.indices)).toEqual([1, 5, 0, 3, 2, 6, 4]);
    const [top, at] = tensor([[0.5, 4, -1, 2], [7, 7, 0, 1]]).topk(2);
    expect([await values(top), await values(at)]).toEqual([[4, 2, 7, 7], [1, 3, 0, 1]]);
    expect(await values(tensor([5, 1, 4]).topk(2, 0, false).values)).toEqual([1, 4]);
    expect(() => tensor([1, 2]).topk(3)).toThrow(/topk: k=3 is out of range for dimension 0 of size 2/);
  });

  it('max, min and argmax reductions pick NaN', async () => {
    setBackend(backend);
    const x = tensor([[1, Number.NaN, 3], [4, 5, 6], [Number.NaN, 9, -1]]);
    expect(await values(x.amax(1))).toEqual(['NaN', 6, 'NaN']);
    expect(await values(x.amin(0))).toEqual(['NaN', 'NaN', -1]);
    // max(dim) as PyTorch's: the NaN and its index.
    const [v, i] = x.max(1);
    expect(await values(v)).toEqual(['NaN', 6, 'NaN']);
    expect(await values(i)).toEqual([1, 2, 0]);
    expect(await values(x.min(0).indices)).toEqual([2, 0, 2]);
    expect(await values(x.argmax(1))).toEqual([1, 2, 0]);
    // A long row, so the reduction runs its workgroup tree and not only one thread's loop.
    const long = Array.from({ length: 5000 }, (_, i) => i % 97);
    long[4321] = Number.NaN;
    expect(await values(tensor(long).max())).toEqual(['NaN']);
  });

  it('maxPool2d picks NaN in its window', async () => {
    setBackend(backend);
    const x = tensor([1, 2, Number.NaN, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], { shape: [1, 1, 4, 4] });
    expect(await values(F.maxPool2d(x, 2))).toEqual([6, 'NaN', 14, 16]);
  });
});
