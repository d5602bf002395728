/** @file Argument and value errors: sizes, rates, learning rates and values that do not fit their dtype fail where given, as typed graft errors; results match PyTorch where it gives one. */
import { describe, expect, it } from 'vitest';
import { GraftError, GraftValueError, arange, eye, functional as F, linspace, nn, optim, randint, randn, tensor, zeros } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';

const backends = await testBackends();

describe('values that do not fit', () => {
  it('refuses i32 values outside i32 and i32 sums that overflow, instead of wrapping', () => {
    expect(() => tensor([3e9], { dtype: 'i32' })).toThrow(/tensor: value 3000000000 at index 0 cannot be converted to i32 without overflow/);
    expect(() => tensor([1, Number.NaN], { dtype: 'i32' })).toThrow(GraftValueError);
    expect(Array.from(tensor([2e9, 2e9], { dtype: 'f32' }).cast('i32').dataSync())).toEqual([2000000000, 2000000000]);
    expect(() => tensor([2e9, 2e9], { dtype: 'i32' }).sum().dataSync()).toThrow(/sum: the i32 sum 4000000000 overflows i32/);
    expect(() => tensor([1, 2], { dtype: 'i32' }).mean()).toThrow(/mean: .*i32/);
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: an i32 sum that leaves i32 fails when read, and one whose partial sums do but whose total does not is exact', async (_, backend) => {
    const big = 2147483647;
    // The CPU refuses when summing, WebGPU when the result is read: both before anyone sees a number.
    const sumOf = (t: ReturnType<typeof tensor>) => (async () => t.sum().data())();
    await expect(sumOf(tensor(Array.from({ length: 300 }, () => big), { dtype: 'i32', backend }))).rejects.toThrow(/sum: the i32 sum 644245094100 overflows i32/);
    // Partial sums past i32 (the halves of the run) whose total fits.
    const x = tensor([...Array.from({ length: 150 }, () => big), ...Array.from({ length: 150 }, () => -big)], { dtype: 'i32', backend });
    expect(Array.from(await x.sum().data())).toEqual([0]);
    const rows = tensor([[big, 1, -2], [-big, -1, 1], [5, 6, 7]], { dtype: 'i32', backend });
    expect(Array.from(await rows.sum(1).data())).toEqual([big - 1, -big, 18]);
    expect(Array.from(await rows.sum(0).data())).toEqual([5, 6, 6]);
    await expect(sumOf(tensor([-big, -big], { dtype: 'i32', backend }))).rejects.toThrow(/sum: the i32 sum -4294967294 overflows i32/);
    if (backend.name === 'webgpu') await expect(backend.sync()).resolves.toBeUndefined();
  });

  it('refuses sizes and ranges PyTorch refuses', () => {
    expect(() => randint(5, 1, [2])).toThrow(/randint: expected integers low < high, got low 5 and high 1/);
    expect(() => eye(-1)).toThrow(/eye: n must be a non-negative integer, got -1/);
    expect(() => linspace(0, 1, -1)).toThrow(/linspace: steps must be a non-negative integer, got -1/);
    expect(() => zeros([2 ** 33])).toThrow(/zeros|full: shape \[8589934592\] has 8589934592 elements, more than the 2147483647/);
    expect(() => arange(0, 2 ** 33)).toThrow(/arange: shape \[8589934592\] has 8589934592 elements/);
    expect(() => F.oneHot(tensor([0, 3], { dtype: 'i32' }), 3)).toThrow(/oneHot: class 3 at index 1 is outside \[0, 3\)/);
  });

  it('checks module and optimizer arguments where they are given', () => {
    expect(() => new nn.Linear(-1, 3)).toThrow(/Linear: inFeatures must be an integer >= 0, got -1/);
    expect(() => new nn.Dropout(1.5)).toThrow(/Dropout: p must be a number in \[0, 1\], got 1.5/);
    expect(() => new nn.Conv2d(3, 0, 3)).toThrow(/Conv2d: outChannels must be an integer >= 1/);
    const p = new nn.Linear(2, 2).parameters();
    expect(() => new optim.SGD(p, { lr: -1 })).toThrow(/SGD \(group 0\): lr must be a finite number >= 0, got -1/);
    expect(() => new optim.Adam(p, { lr: Number.NaN })).toThrow(/Adam \(group 0\): lr must be a finite number >= 0, got NaN/);
    expect(() => new optim.Adam(p, { betas: [0.9, 1] })).toThrow(/betas\[1\] must be a number in \[0, 1\)/);
    for (const bad of [() => new nn.Linear(1.5, 2), () => new optim.SGD(p, { lr: 'abc' as unknown as number })]) expect(bad).toThrow(GraftError);
  });

  it('an empty Linear outputs its bias, zeros, as PyTorch does', () => {
    const lin = new nn.Linear(0, 3);
    expect(Array.from(lin.forward(zeros([2, 0])).dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe.each(backends.map((b) => [b.name, b] as const))('casts and one-hot on %s', (_, backend) => {
  it('saturates float to i32 casts the same way (NaN to 0)', async () => {
    setBackend(backend);
    const x = tensor([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 3e9, -2.7, 2.7]);
    expect(Array.from(await x.cast('i32').data())).toEqual([2147483647, -2147483648, 0, 2147483647, -2, 2]);
  });

  it('one-hot rows match, and a class out of range is an error on reading', async () => {
    setBackend(backend);
    expect(Array.from(await F.oneHot(tensor([2, 0], { dtype: 'i32' }), 3).data())).toEqual([0, 0, 1, 1, 0, 0]);
    const bad = async () => F.oneHot(tensor([1, 5], { dtype: 'i32' }), 3).data();
    await expect(bad()).rejects.toThrow(/index 5 is out of range|class 5/);
    randn([1]).dispose();
  });
});

describe('optimizer state on load', () => {
  it('refuses state of another shape, a bad step and hyper-parameters out of their domain', () => {
    const model = new nn.Linear(3, 2);
    const opt = new optim.Adam(model.parameters(), { lr: 0.1 });
    opt.zeroGrad();
    model.forward(randn([4, 3])).sum().backward();
    opt.step();
    const sd = opt.stateDict();
    const fresh = () => new optim.Adam(model.parameters(), { lr: 0.1 });
    const withState = (patch: Record<string, unknown>) => ({ ...sd, state: new Map([[0, { ...sd.state.get(0)!, ...patch }]]) as typeof sd.state });
    expect(() => fresh().loadStateDict(withState({ expAvg: zeros([1]) }))).toThrow(/Adam\.loadStateDict: state expAvg of parameter 0 has shape \[1\], the parameter \[2,3\]/);
    expect(() => fresh().loadStateDict(withState({ step: -5 }))).toThrow(/state step of parameter 0 must be an integer >= 0, got -5/);
    expect(() => fresh().loadStateDict({ ...sd, paramGroups: sd.paramGroups.map((g) => ({ ...g, lr: 'abc' })) })).toThrow(/Adam \(loadStateDict group 0\): lr must be a finite number >= 0, got abc/);
    fresh().loadStateDict(sd);
  });
});
