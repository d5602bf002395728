/** @file Real training: an MLP and a small CNN learn MNIST digits to a stated held-out accuracy, on every backend. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, type Tensor, functional as F, manualSeed, nn, noGrad, optim, tensor, tidy } from '../../index.js';
import { getBackend, setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';
import type { Dataset as Digits } from '../../transfer/data/dataset.js';
import { loadMnist } from '../../transfer/data/mnist.js';

const BACKENDS = await testBackends();
let data: { train: Digits; test: Digits };
beforeAll(async () => {
  data = await loadMnist(500, 150); // 5,000 training and 1,500 held-out digits
});

function batch(d: Digits, from: number, to: number, shape: number[], backend: Backend): [Tensor, Tensor] {
  const x = tensor(d.x.subarray(from * 784, to * 784), { shape: [to - from, ...shape], backend });
  return [x, tensor(d.y.subarray(from, to), { backend })];
}

async function accuracy(model: nn.Module, d: Digits, shape: number[], backend: Backend): Promise<number> {
  model.eval();
  let correct = 0;
  for (let i = 0; i < d.n; i += 500) {
    const hits = tidy(() => noGrad(() => {
      const [x, y] = batch(d, i, Math.min(d.n, i + 500), shape, backend);
      return model.forward(x).argmax(1).eq(y).sum();
    }));
    correct += (await hits.data())[0]!;
    hits.dispose();
  }
  return correct / d.n;
}

/** Trains with Adam; each step runs in tidy() and reads nothing back; losses are read once at the end. */
async function fit(model: nn.Module, shape: number[], epochs: number, lr: number, batchSize: number, backend: Backend): Promise<number[]> {
  const opt = new optim.Adam(model.parameters(), { lr });
  const losses: Tensor[] = [];
  for (let e = 0; e < epochs; e++) {
    model.train();
    for (let i = 0; i + batchSize <= data.train.n; i += batchSize) {
      losses.push(tidy(() => {
        const [x, y] = batch(data.train, i, i + batchSize, shape, backend);
        opt.zeroGrad();
        const loss = F.crossEntropy(model.forward(x), y);
        loss.backward();
        opt.step();
        return loss.detach();
      }));
    }
  }
  return Promise.all(losses.map(async (l) => (await l.data())[0]!));
}

for (const backend of BACKENDS) {
  describe(`training on MNIST (${backend.name})`, () => {
    const previous = getBackend();
    beforeAll(() => setBackend(backend));
    afterAll(() => setBackend(previous));

    it('an MLP reaches >= 90% held-out accuracy', async () => {
      manualSeed(0);
      const mlp = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
      const before = await accuracy(mlp, data.test, [784], backend);
      const losses = await fit(mlp, [784], 4, 2e-3, 50, backend);
      const acc = await accuracy(mlp, data.test, [784], backend);
      console.log(`MLP on ${backend.name}: held-out accuracy ${(before * 100).toFixed(1)}% -> ${(acc * 100).toFixed(1)}%`);
      expect(losses.at(-1)!).toBeLessThan(losses[0]!);
      expect(acc).toBeGreaterThanOrEqual(0.9);
    });

    it('a small CNN with BatchNorm reaches >= 90% held-out accuracy', async () => {
      manualSeed(0);
      const cnn = new nn.Sequential(
        new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Flatten(), new nn.Dropout(0.1), new nn.Linear(16 * 7 * 7, 10),
      );
      await fit(cnn, [1, 28, 28], 2, 2e-3, 50, backend);
      const acc = await accuracy(cnn, data.test, [1, 28, 28], backend);
      console.log(`CNN on ${backend.name}: held-out accuracy ${(acc * 100).toFixed(1)}%`);
      expect(acc).toBeGreaterThanOrEqual(0.9);
    });
  });
}
