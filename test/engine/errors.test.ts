/** @file Bad input gets a graft error naming the op and the shapes, never a crash or a silent NaN. */
import { describe, expect, it } from 'vitest';
import { GraftDTypeError, GraftError, GraftShapeError, GraftStateError, functional as F, nn, randn, tensor, zeros } from '../../index.js';

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
});
