/** @file Bad input gets a graft error naming the op and the shapes, never a crash or a silent NaN. */
import { describe, expect, it } from 'vitest';
import { GraftDTypeError, GraftError, GraftShapeError, GraftStateError, GraftValueError, functional as F, nn, optim, randn, tensor, zeros } from '../../index.js';

describe('errors', () => {
  it('matmul names both shapes', () => {
    expect(() => randn([2, 3]).matmul(randn([4, 5]))).toThrow(new GraftShapeError('matmul: [2,3] x [4,5]: inner dimensions 3 and 4 differ'));
  });
  it('broadcasting names the op and the shapes', () => {
    expect(() => randn([2, 3]).add(randn([4]))).toThrow(/add: shapes \[2,3\] and \[4\] cannot be broadcast/);
  });
  it('bad axes name the dimension and the rank', () => {
    expect(() => randn([2, 3]).sum(2)).toThrow(/sum: dimension 2 is out of range for a tensor of rank 2/);
    expect(() => randn([2, 3]).transpose(0, -3)).toThrow(GraftShapeError);
    expect(() => randn([2, 3]).sum([1, -1])).toThrow(/appears twice/);
  });
  it('bad reshapes and views', () => {
    expect(() => randn([2, 3]).reshape([4, 2])).toThrow(/reshape: shape \[4,2\] is invalid for input of shape \[2,3\]/);
    expect(() => randn([2, 3]).T.view([6])).toThrow(/not contiguous; use reshape/);
    expect(() => randn([2, 3]).expand([3, 3])).toThrow(/expand: cannot expand shape \[2,3\] to \[3,3\]/);
  });
  it('dtype mistakes', () => {
    expect(() => tensor([1, 2], { dtype: 'i32', requiresGrad: true })).toThrow(GraftDTypeError);
    expect(() => F.crossEntropy(randn([2, 3]), tensor([0, 1]))).toThrow(/targets \[2\] \(f32\) must be i32 class indices of shape \[2\] or probabilities/);
    expect(() => tensor([true]).neg()).toThrow(/neg: not defined for bool/);
  });
  it('backward on a non-scalar without a gradient', () => {
    const x = randn([3], { requiresGrad: true });
    expect(() => x.mul(2).backward()).toThrow(new GraftStateError('backward: grad can be implicitly created only for scalar outputs, got shape [3]'));
    expect(() => randn([1]).backward()).toThrow(/does not require grad/);
  });
  it('reading a disposed tensor', async () => {
    const x = randn([2, 2]);
    x.dispose();
    expect(() => x.dataSync()).toThrow(new GraftStateError('dataSync: tensor of shape [2,2] (f32) was disposed'));
    await expect(x.data()).rejects.toThrow(/disposed/);
    expect(() => x.add(1)).toThrow(/add: tensor of shape \[2,2\] \(f32\) was disposed/);
  });
  it('out-of-range indices name the op and the value', () => {
    expect(() => randn([2, 3]).gather(1, tensor([[0, 3]], { dtype: 'i32' }))).toThrow(/gather: index 3 is out of range for dimension 1 of size 3/);
    expect(() => F.embedding(tensor([5], { dtype: 'i32' }), randn([4, 2]))).toThrow(/index 5 is out of range/);
    expect(() => F.crossEntropy(randn([2, 3]), tensor([0, 7], { dtype: 'i32' }))).toThrow(/index 7 is out of range/);
  });
  it('convolution and pooling shape problems', () => {
    expect(() => F.conv2d(randn([1, 3, 5, 5]), randn([4, 2, 3, 3]))).toThrow(/conv2d: input \[1,3,5,5\] and weight \[4,2,3,3\] do not fit groups=1/);
    expect(() => F.conv2d(randn([1, 3, 2, 2]), randn([4, 3, 3, 3]))).toThrow(/too small/);
    // The primitive called from untyped code without its full parameters: a typed error naming the missing one.
    expect(() => randn([1, 3, 5, 5]).conv2d(randn([4, 3, 3, 3]), { padding: [1, 1] } as never)).toThrow(new GraftShapeError('conv2d: stride must be two integers >= 1, got undefined'));
    expect(() => F.maxPool2d(randn([3, 5, 5]), 2)).toThrow(/expected a 4-d NCHW input, got \[3,5,5\]/);
  });
  it('loadStateDict reports size mismatches with the key and both shapes', () => {
    const m = new nn.Linear(3, 2);
    expect(() => m.loadStateDict({ weight: zeros([2, 4]), bias: zeros([2]) })).toThrow(
      'size mismatch for weight: copying a param with shape [2,4] from checkpoint, the shape in current model is [2,3].',
    );
  });
  it('every error is a GraftError', () => {
    try {
      randn([2]).reshape([3]);
    } catch (e) {
      expect(e).toBeInstanceOf(GraftError);
      expect((e as Error).name).toBe('GraftShapeError');
    }
  });
  it('the ops, layers and schedulers added for PyTorch parity name what was wrong', () => {
    expect(() => tensor([true, false]).argsort()).toThrow(new GraftDTypeError('argsort: expected a float or i32 tensor, got bool'));
    expect(() => randn([2, 3]).cumsum(2)).toThrow(GraftShapeError);
    expect(() => F.conv1d(randn([2, 3]), randn([4, 3, 3]))).toThrow(/conv1d: expected input \[N,C,L\] and weight \[O,C\/groups,K\], got \[2,3\] and \[4,3,3\]/);
    expect(() => F.convTranspose2d(randn([1, 3, 4, 4]), randn([2, 4, 3, 3]))).toThrow(/convTranspose2d: weight \[2,4,3,3\] does not fit input \[1,3,4,4\]/);
    expect(() => F.convTranspose2d(randn([1, 3, 4, 4]), randn([3, 4, 3, 3]), null, { stride: 2, outputPadding: 2 })).toThrow(/convTranspose2d: outputPadding 2 must be smaller than the stride or the dilation/);
    expect(() => F.groupNorm(randn([2, 6, 3]), 4)).toThrow(/groupNorm: 6 channels of \[2,6,3\] do not split into 4 groups/);
    expect(() => F.interpolate(randn([1, 1, 2, 2]), {})).toThrow(new GraftValueError('interpolate: give size or scaleFactor'));
    expect(() => F.interpolate(randn([1, 1, 2, 2]), { size: 3, alignCorners: true })).toThrow(/interpolate: alignCorners applies to bilinear only/);
    expect(() => F.interpolate(randn([2, 2]), { size: 3 })).toThrow(/interpolate: expected a 4-d NCHW input, got \[2,2\]/);
    const o = new optim.SGD([zeros([1]).requiresGrad_()], { lr: 0.1 });
    expect(() => new optim.LinearLR(o, 0)).toThrow(/LinearLR: startFactor must be in \(0, 1\] and endFactor in \[0, 1\], got 0 and 1/);
    expect(() => new optim.SequentialLR(o, [new optim.StepLR(o, 2)], [3])).toThrow(/SequentialLR: expected one more scheduler than milestones, got 1 schedulers and 1 milestones/);
    expect(() => new optim.OneCycleLR(o, 1, 0, { cycleMomentum: false })).toThrow(/OneCycleLR: totalSteps must be a positive integer, got 0/);
    expect(() => new optim.OneCycleLR(new optim.Adagrad([zeros([1]).requiresGrad_()]), 1, 10)).toThrow(/OneCycleLR: the optimizer must have a momentum \(SGD\) or betas \(Adam\) to cycle/);
    const oc = new optim.OneCycleLR(new optim.SGD([zeros([1]).requiresGrad_()], { lr: 0.1, momentum: 0.9 }), 1, 2);
    oc.step();
    oc.step();
    expect(() => oc.step()).toThrow(/OneCycleLR: tried to step 4 times; totalSteps is 2/);
    expect(() => new optim.ReduceLROnPlateau(o).step(Number.NaN)).toThrow(/ReduceLROnPlateau.step: expected a number, got NaN/);
  });
});
