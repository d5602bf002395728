/** @file Augmentation: flips, crops and rotations are exact where they should be, seeded, and agree across backends. */
import { describe, expect, it } from 'vitest';
import { Generator, arange, randn, tensor } from '../../index.js';
import { Augment, randomCrop, randomFlip, rotate } from '../../transfer/augment.js';
import { testBackends } from '../backends.js';

const BACKENDS = await testBackends();

describe('augmentation', () => {
  it('flips with probability 1 and never with 0', () => {
    const x = randn([3, 2, 4, 5]);
    expect(Array.from(randomFlip(x, 1, new Generator(1)).dataSync())).toEqual(Array.from(x.flip(3).dataSync()));
    expect(Array.from(randomFlip(x, 0, new Generator(1)).dataSync())).toEqual(Array.from(x.dataSync()));
    expect(Array.from(randomFlip(x, 1, new Generator(1), true).dataSync())).toEqual(Array.from(x.flip(2).dataSync()));
  });

  it('crops windows of the zero-padded input', () => {
    const x = arange(16).reshape([1, 1, 4, 4]).add(1);
    const same = randomCrop(x, [4, 4], 0, new Generator(0));
    expect(Array.from(same.dataSync())).toEqual(Array.from(x.dataSync()));
    const g = new Generator(3);
    for (let i = 0; i < 10; i++) {
      const c = randomCrop(x, [4, 4], 2, g).dataSync();
      const nonzero = Array.from(c).filter((v) => v > 0);
      // Each nonzero value keeps its row-neighbours: a window, not a shuffle.
      for (let k = 1; k < c.length; k++) if (k % 4 && c[k]! > 0 && c[k - 1]! > 0) expect(c[k]! - c[k - 1]!).toBe(1);
      expect(nonzero.length).toBeGreaterThan(0);
    }
  });

  it('rotates by 90 degrees exactly and by 0 not at all', () => {
    const x = arange(9).reshape([1, 1, 3, 3]);
    expect(Array.from(rotate(x, [0]).dataSync())).toEqual(Array.from(x.dataSync()));
    // Counter-clockwise quarter turn: the right column becomes the top row.
    expect(Array.from(rotate(x, [90]).dataSync()).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([2, 5, 8, 1, 4, 7, 0, 3, 6]);
  });

  it('is reproducible from its seed and the same on every backend', async () => {
    const data = randn([4, 3, 8, 8]).dataSync();
    const outs = await Promise.all(
      BACKENDS.map(async (backend) => {
        const aug = new Augment({ hflip: 0.5, cropPadding: 2, rotate: 15 }, 42);
        return Array.from(await aug.apply(tensor(data, { shape: [4, 3, 8, 8], backend })).data());
      }),
    );
    const again = Array.from(new Augment({ hflip: 0.5, cropPadding: 2, rotate: 15 }, 42).apply(tensor(data, { shape: [4, 3, 8, 8] })).dataSync());
    expect(outs[0]).toEqual(again);
    for (const o of outs.slice(1)) o.forEach((v, i) => expect(v).toBeCloseTo(outs[0]![i]!, 4));
  });
});
