/** @file Seeded stratified splits into train, validation and test, with a clear error for classes too small to split. */
import { Generator, GraftValueError, permutation } from '../../index.js';

export interface SplitFractions {
  val: number;
  test: number;
}

/**
 * Indices of each part, stratified by class: every class gives round(n * fraction) examples (at
 * least one) to validation and to test and keeps at least one for training.
 */
export function stratifiedSplit(labels: Int32Array, classes: readonly string[], f: SplitFractions, seed: number, what: string): { train: number[]; val: number[]; test: number[] } {
  const parts = { train: [] as number[], val: [] as number[], test: [] as number[] };
  const order = permutation(labels.length, new Generator(seed));
  const byClass = classes.map(() => [] as number[]);
  for (const i of order) byClass[labels[i]!]!.push(i);
  const needed = 1 + (f.val > 0 ? 1 : 0) + (f.test > 0 ? 1 : 0);
  byClass.forEach((idx, c) => {
    if (idx.length < needed) {
      throw new GraftValueError(`${what}: class '${classes[c]}' has ${idx.length} example${idx.length === 1 ? '' : 's'}; a split into ${['train', f.val > 0 && 'validation', f.test > 0 && 'test'].filter(Boolean).join(', ')} needs at least ${needed} per class (add examples, or give train/, val/ and test/ folders)`);
    }
    const nVal = f.val > 0 ? Math.max(1, Math.round(idx.length * f.val)) : 0;
    const nTest = f.test > 0 ? Math.max(1, Math.round(idx.length * f.test)) : 0;
    let [v, t] = [nVal, nTest];
    // Large fractions of a small class: give back to training until it keeps one.
    while (v + t > idx.length - 1) {
      if (v >= t && v > 1) v--;
      else t--;
    }
    parts.val.push(...idx.slice(0, v));
    parts.test.push(...idx.slice(v, v + t));
    parts.train.push(...idx.slice(v + t));
  });
  return parts;
}
