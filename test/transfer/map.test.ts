/** @file The weight mapper: renames by exact, prefix and regex rules, drops, and layout transforms. */
import { describe, expect, it } from 'vitest';
import { arange, randn } from '../../index.js';
import { WeightMapper } from '../../transfer/map.js';

describe('WeightMapper', () => {
  it('renames, transforms and drops by the first matching rule', () => {
    const src = new Map([
      ['dense/kernel', arange(6).reshape([2, 3])],
      ['conv1/kernel', randn([3, 3, 2, 4])],
      ['block_1/bn/gamma', randn([4])],
      ['optimizer/iter', randn([1])],
      ['other', randn([2])],
    ]);
    const m = new WeightMapper([
      { exact: 'dense/kernel', to: 'fc.weight', transform: { permute: [1, 0] } },
      { regex: /^block_(\d+)\/bn\/gamma$/, to: 'blocks.$1.bn.weight' },
      { prefix: 'conv1/', to: 'stem.', transform: { permute: [3, 2, 0, 1] } },
      { drop: /^optimizer\// },
    ]);
    const { tensors, untouched, dropped } = m.map(src);
    expect([...tensors.keys()]).toEqual(['fc.weight', 'stem.kernel', 'blocks.1.bn.weight', 'other']);
    expect(Array.from(tensors.get('fc.weight')!.dataSync())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(tensors.get('stem.kernel')!.shape).toEqual([4, 2, 3, 3]);
    expect(untouched).toEqual(['other']);
    expect(dropped).toEqual(['optimizer/iter']);
  });

  it('refuses two keys landing on one name', () => {
    const m = new WeightMapper([{ regex: /^(a|b)$/, to: 'x' }]);
    expect(() => m.map(new Map([['a', randn([1])], ['b', randn([1])]]))).toThrow(/keys map onto the same name 'x' \(the second is 'b'\)/);
  });
});
