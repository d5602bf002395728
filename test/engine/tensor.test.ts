/** @file Tensor basics: creation, dtypes, zero-copy views, broadcasting, reading and printing. */
import { describe, expect, it } from 'vitest';
import { Generator, GraftShapeError, Tensor, arange, eye, full, linspace, manualSeed, ones, rand, randint, randn, randperm, tensor, where, zeros, noGrad } from '../../index.js';

describe('creation', () => {
  it('infers shape and dtype from nested arrays', async () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('f32');
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] }).dtype).toBe('i32');
    expect(tensor(3.5).shape).toEqual([]);
  });

  it('makes constants and ranges', () => {
    expect(Array.from(zeros([2, 2]).dataSync())).toEqual([0, 0, 0, 0]);
    expect(Array.from(ones([3], 'i32').dataSync())).toEqual([1, 1, 1]);
    expect(Array.from(full([2], 7).dataSync())).toEqual([7, 7]);
    expect(Array.from(arange(5).dataSync())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(arange(1, 2, 0.25).dataSync())).toEqual([1, 1.25, 1.5, 1.75]);
    expect(Array.from(linspace(0, 1, 5).dataSync())).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(Array.from(eye(2, 3).dataSync())).toEqual([1, 0, 0, 0, 1, 0]);
  });

  it('draws seeded random numbers reproducibly', () => {
    manualSeed(42);
    const a = Array.from(randn([1000]).dataSync());
    manualSeed(42);
    const b = randn([1000]).dataSync();
    expect(a).toEqual(Array.from(b));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(sd - 1)).toBeLessThan(0.1);
    const u = rand([1000], { generator: new Generator(1) }).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const r = randint(3, 7, [500], { generator: new Generator(2) }).dataSync();
    expect(new Set(r)).toEqual(new Set([3, 4, 5, 6]));
    expect(Array.from(randperm(10, { generator: new Generator(3) }).dataSync()).sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
  });
});

describe('views share memory and move no data', () => {
  it('reshape, permute, transpose, slice and expand are views', () => {
    const x = arange(24).reshape([2, 3, 4]);
    const views = [x.reshape([6, 4]), x.permute([2, 0, 1]), x.transpose(0, 2), x.slice(2, 1, 4, 2), x.select(1, 2), x.unsqueeze(0).expand([5, 2, 3, 4]), x.flatten(1), x.flip(0)];
    for (const v of views) expect(v.storage).toBe(x.storage);
    expect(x.transpose(0, 2).isContiguous()).toBe(false);
    expect(x.unsqueeze(0).expand([5, 2, 3, 4]).strides[0]).toBe(0);
  });

  it('read values through strides', () => {
    const x = arange(12).reshape([3, 4]);
    expect(Array.from(x.T.dataSync())).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(x.slice(1, 1, null, 2).dataSync())).toEqual([1, 3, 5, 7, 9, 11]);
    expect(Array.from(x.slice(0, -2).dataSync())).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(Array.from(x.narrow(1, 1, 2).dataSync())).toEqual([1, 2, 5, 6, 9, 10]);
    expect(Array.from(x.select(1, -1).dataSync())).toEqual([3, 7, 11]);
    expect(Array.from(x.flip(1).select(0, 0).dataSync())).toEqual([3, 2, 1, 0]);
    expect(x.T.reshape([12]).storage).not.toBe(x.storage);
    expect(x.squeeze().shape).toEqual([3, 4]);
    expect(x.unsqueeze(-1).shape).toEqual([3, 4, 1]);
    expect(x.reshape([-1, 2]).shape).toEqual([6, 2]);
    expect(x.chunk(2, 1).map((c) => c.shape)).toEqual([[3, 2], [3, 2]]);
  });

  it('copy_ writes through a view into its base', () => {
    const x = zeros([3, 4]);
    x.select(0, 1).copy_(tensor([1, 2, 3, 4]));
    x.slice(1, 0, null, 3).copy_(9);
    expect(Array.from(x.dataSync())).toEqual([9, 0, 0, 9, 9, 2, 3, 9, 9, 0, 0, 9]);
  });

  it('unfold gives torch.Tensor.unfold\'s windows as a view, and refuses writes into views that share memory', () => {
    const x = tensor([0, 1, 2, 3, 4, 5, 6]);
    const w = x.unfold(0, 3, 2);
    expect(w.shape).toEqual([3, 3]);
    expect(w.storage).toBe(x.storage);
    expect(Array.from(w.dataSync())).toEqual([0, 1, 2, 2, 3, 4, 4, 5, 6]);
    expect(tensor([[1, 2, 3], [4, 5, 6]]).unfold(-1, 2, 1).shape).toEqual([2, 2, 2]);
    expect(() => x.unfold(0, 8, 1)).toThrow(/unfold: windows of size 8, step 1 do not fit dimension 0 of \[7\]/);
    expect(() => x.unfold(0, 2, 0)).toThrow(GraftShapeError);
    expect(() => w.copy_(0)).toThrow(/copy_: the view \[3,3\] with strides \[2,1\] has elements that share memory/);
    expect(() => noGrad(() => tensor([1, 2]).reshape([2, 1]).expand([2, 3]).add_(1))).toThrow(/share memory/);
    x.unfold(0, 2, 3).copy_(tensor([[9, 8], [7, 6], [5, 4]]).narrow(0, 0, 2)); // windows 3 apart do not overlap
    expect(Array.from(x.dataSync())).toEqual([9, 8, 2, 7, 6, 5, 6]);
  });
});

describe('broadcasting and dtypes', () => {
  it('broadcasts like NumPy', () => {
    const a = tensor([[1], [2], [3]]);
    const b = tensor([10, 20]);
    expect(a.add(b).shape).toEqual([3, 2]);
    expect(Array.from(a.add(b).dataSync())).toEqual([11, 21, 12, 22, 13, 23]);
    expect(Array.from(where(tensor([true, false]), a, 0).dataSync())).toEqual([1, 0, 2, 0, 3, 0]);
  });

  it('promotes dtypes as PyTorch does', () => {
    const i = tensor([1, 2, 3], { dtype: 'i32' });
    expect(i.add(1).dtype).toBe('i32');
    expect(i.add(0.5).dtype).toBe('f32');
    expect(i.div(2).dtype).toBe('f32');
    expect(Array.from(i.div(2).dataSync())).toEqual([0.5, 1, 1.5]);
    expect(() => i.mean()).toThrow(/mean: expected a floating-point tensor, got i32/);
    expect(i.cast('f32').mean().dtype).toBe('f32');
    expect(i.sum().dtype).toBe('i32');
    expect(i.gt(1).dtype).toBe('bool');
    expect(tensor([true, true, false]).sum().dataSync()[0]).toBe(2);
    expect(i.float().add(tensor([1], { dtype: 'f64' })).dtype).toBe('f64');
    expect(Array.from(tensor([-1.7, 2.9]).int().dataSync())).toEqual([-1, 2]);
  });

  it('reduces with keepdim and finds maxima', () => {
    const x = tensor([[1, 5, 3], [7, 2, 9]]);
    expect(Array.from(x.sum(1).dataSync())).toEqual([9, 18]);
    expect(x.sum(1, true).shape).toEqual([2, 1]);
    expect(Array.from(x.amax(0).dataSync())).toEqual([7, 5, 9]);
    expect(Array.from(x.amin(1).dataSync())).toEqual([1, 2]);
    // PyTorch's max and min: all values, along a dimension with indices, or against another tensor.
    expect(x.max().dataSync()[0]).toBe(9);
    const [values, indices] = x.max(1, true);
    expect([values.shape, Array.from(values.dataSync()), Array.from(indices.dataSync()), indices.dtype]).toEqual([[2, 1], [5, 9], [1, 2], 'i32']);
    const ties = tensor([[3, 1, 3], [2, 2, 0]]).min(1);
    expect([Array.from(ties.values.dataSync()), Array.from(ties.indices.dataSync())]).toEqual([[1, 0], [1, 2]]);
    expect(Array.from(x.max(tensor([4, 4, 4])).dataSync())).toEqual([4, 5, 4, 7, 4, 9]);
    expect(Array.from(x.min(tensor([4, 4, 4])).dataSync())).toEqual([1, 4, 3, 4, 2, 4]);
    expect(() => (x.max as (d: unknown) => unknown)([0, 1])).toThrow(/max: takes one dimension .* use amax\(dims\) to reduce over several/);
    expect(Array.from(x.argmax(1).dataSync())).toEqual([1, 2]);
    expect(x.argmax().dataSync()[0]).toBe(5);
    expect(Array.from(x.argmin(0).dataSync())).toEqual([0, 1, 0]);
    expect(x.mean().dataSync()[0]).toBeCloseTo(27 / 6, 6);
    expect(x.var().dataSync()[0]).toBeCloseTo(9.5, 5);
  });

  it('matmul follows PyTorch for vectors and batches', () => {
    const a = tensor([[1, 2], [3, 4]]);
    expect(Array.from(a.matmul(tensor([1, 1])).dataSync())).toEqual([3, 7]);
    expect(tensor([1, 1]).matmul(tensor([2, 3])).shape).toEqual([]);
    expect(randn([5, 1, 2, 3]).matmul(randn([4, 3, 6])).shape).toEqual([5, 4, 2, 6]);
  });
});

describe('reading and printing', () => {
  it('item and tolist', async () => {
    expect(await tensor([[2.5]]).item()).toBe(2.5);
    expect(await arange(4).reshape([2, 2]).tolist()).toEqual([[0, 1], [2, 3]]);
  });

  it('prints like PyTorch', () => {
    expect(tensor([[1, 2], [3, 4]]).toString()).toBe('tensor([[1., 2.],\n        [3., 4.]])');
    expect(tensor([0.5, -1.25]).toString()).toBe('tensor([ 0.5000, -1.2500])');
    expect(tensor([1, 2], { dtype: 'i32' }).toString()).toBe('tensor([1, 2], dtype=i32)');
    expect(tensor(3, { requiresGrad: true }).toString()).toBe('tensor(3., requiresGrad=true)');
    expect(tensor([1], { requiresGrad: true }).mul(2).toString()).toBe('tensor([2.], gradFn=<mul>)');
    expect(arange(2000).toString()).toContain('...');
  });

  it('data() copies: writing the result does not touch the tensor', async () => {
    const t = tensor([1, 2]);
    const d = await t.data();
    d[0] = 100;
    expect(t.dataSync()[0]).toBe(1);
  });

  it('Tensor is the class returned by every constructor', () => {
    expect(zeros([1])).toBeInstanceOf(Tensor);
  });
});

describe('PyTorch names', () => {
  it('numel, maskedFill with a broadcast mask and its gradient, and what console.log prints', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    expect(x.numel()).toBe(6);
    const y = x.maskedFill(tensor([true, false, true]), -1);
    expect(await y.tolist()).toEqual([[-1, 2, -1], [-1, 5, -1]]);
    y.sum().backward();
    expect(await x.grad!.tolist()).toEqual([[0, 1, 0], [0, 1, 0]]);
    expect(() => x.maskedFill(tensor([1, 0, 1]), 0)).toThrow(/maskedFill: mask must be bool, got f32/);
    expect(() => x.maskedFill(tensor([[true], [false], [true]]), 0)).toThrow(/maskedFill: mask \[3,1\] does not broadcast to \[2,3\]/);
    const { inspect } = await import('node:util');
    expect(inspect(tensor([1.5, 2]))).toBe(String(tensor([1.5, 2])));
    expect(inspect(tensor([1.5, 2]))).toMatch(/^tensor\(\[1\.5000, 2\.0000\]\)$/);
  });

  it('prod over dimensions, keepdim, integers and bools, and the empty product', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(await x.prod(1).tolist()).toEqual([6, 120]);
    expect(x.prod(0, true).shape).toEqual([1, 3]);
    expect(await x.prod().item()).toBe(720);
    expect(await tensor([[2, 3], [4, 5]], { dtype: 'i32' }).prod(1).tolist()).toEqual([6, 20]);
    expect(await tensor([true, true, false]).prod().item()).toBe(0);
    expect(await zeros([2, 0]).prod(1).tolist()).toEqual([1, 1]);
  });
});
