/** @file Real training: an MLP and a small CNN learn MNIST digits to a stated held-out accuracy. */
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, functional as F, manualSeed, nn, noGrad, optim, tensor } from '../../index.js';
import { type Digits, loadMnist } from '../mnist.js';

let data: { train: Digits; test: Digits };
beforeAll(() => {
  data = loadMnist(500, 150); // 5,000 training and 1,500 held-out digits
});

function batch(d: Digits, from: number, to: number, shape: number[]): [Tensor, Tensor] {
  const x = tensor(d.x.subarray(from * 784, to * 784), { shape: [to - from, ...shape] });
  return [x, tensor(d.y.subarray(from, to))];
}

function accuracy(model: nn.Module, d: Digits, shape: number[]): number {
  model.eval();
  let correct = 0;
  noGrad(() => {
    for (let i = 0; i < d.n; i += 500) {
      const [x, y] = batch(d, i, Math.min(d.n, i + 500), shape);
      correct += model.forward(x).argmax(1).eq(y).sum().dataSync()[0]!;
    }
  });
  return correct / d.n;
}

function fit(model: nn.Module, shape: number[], epochs: number, lr: number, batchSize: number): number[] {
  const opt = new optim.Adam(model.parameters(), { lr });
  const losses: number[] = [];
  for (let e = 0; e < epochs; e++) {
    model.train();
    for (let i = 0; i + batchSize <= data.train.n; i += batchSize) {
      const [x, y] = batch(data.train, i, i + batchSize, shape);
      opt.zeroGrad();
      const loss = F.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.dataSync()[0]!);
    }
  }
  return losses;
}

describe('training on MNIST', () => {
  it('an MLP reaches >= 90% held-out accuracy', () => {
    manualSeed(0);
    const mlp = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
    const before = accuracy(mlp, data.test, [784]);
    const losses = fit(mlp, [784], 4, 2e-3, 50);
    const acc = accuracy(mlp, data.test, [784]);
    console.log(`MLP: held-out accuracy ${(before * 100).toFixed(1)}% -> ${(acc * 100).toFixed(1)}%`);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    expect(acc).toBeGreaterThanOrEqual(0.9);
  });

  it('a small CNN with BatchNorm reaches >= 90% held-out accuracy', () => {
    manualSeed(0);
    const cnn = new nn.Sequential(
      new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Flatten(), new nn.Dropout(0.1), new nn.Linear(16 * 7 * 7, 10),
    );
    fit(cnn, [1, 28, 28], 2, 2e-3, 50);
    const acc = accuracy(cnn, data.test, [1, 28, 28]);
    console.log(`CNN: held-out accuracy ${(acc * 100).toFixed(1)}%`);
    expect(acc).toBeGreaterThanOrEqual(0.9);
  });
});
