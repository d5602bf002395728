/** @file The fine-tuning loop and the CLI: feature caching, early stopping, best weights, NaN stop, run folders. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { full, manualSeed, nn, zeros } from '../../index.js';
import { main } from '../../transfer/cli.js';
import { type Dataset, perClass, resizeImages } from '../../transfer/data/dataset.js';
import { loadMnist } from '../../transfer/data/mnist.js';
import { FinetuneStoppedError, evaluate, finetune } from '../../transfer/finetune.js';
import { freeze } from '../../transfer/freeze.js';
import { loadSafetensors } from '../../transfer/import/safetensors.js';
import { KerasModel } from '../../transfer/zoo/keras.js';
import { mobilenetV2 } from '../../transfer/zoo/mobilenetv2.js';
import { MLP, SmallCNN } from '../../transfer/zoo/small.js';
import { TransferModel } from '../../transfer/zoo/transferModel.js';

let train: Dataset;
let val: Dataset;
let backbone: KerasModel;
const weights = (m: nn.Module) => m.parameters().flatMap((p) => Array.from(p.dataSync()));
beforeAll(async () => {
  const { train: t, test } = await loadMnist(20, 10, 1);
  train = perClass(t, 10);
  val = test;
  backbone = await mobilenetV2();
});

describe('finetune', () => {
  it('caches backbone features when the backbone is frozen, and learns the task', async () => {
    manualSeed(0);
    const model = new TransferModel(backbone, 576, 10, 'block_13_expand_relu');
    freeze(model, 'backbone');
    const r = await finetune(model, resizeImages(train, [32, 32], 3), resizeImages(val, [32, 32], 3), { epochs: 15, lr: 5e-3, batchSize: 20 });
    expect(r.cachedFeatures).toBe(true);
    expect(r.frozenParameters).toBeGreaterThan(2_000_000);
    expect(r.trainableParameters).toBe(576 * 10 + 10);
    expect(r.best.valAccuracy).toBeGreaterThan(0.4);
    // The best epoch's weights are the ones left in the model.
    model.eval();
    const ev = await evaluate((x) => model.forward(x), resizeImages(val, [32, 32], 3));
    expect(ev.accuracy).toBeCloseTo(r.best.valAccuracy, 6);
  });

  it('does not cache when augmentation changes the inputs', async () => {
    const model = new TransferModel(backbone, 576, 10, 'block_13_expand_relu');
    freeze(model, 'backbone');
    const r = await finetune(model, resizeImages(perClass(train, 2), [32, 32], 3), resizeImages(perClass(val, 2), [32, 32], 3), { epochs: 1, augment: { hflip: 0.5 } });
    expect(r.cachedFeatures).toBe(false);
  });

  it('stops early when validation accuracy stalls', async () => {
    const r = await finetune(new SmallCNN(1, 10), train, val, { epochs: 10, lr: 1e-9, patience: 2 });
    expect(r.stoppedEarly).toBe(true);
    expect(r.epochs.length).toBe(3);
  });

  it('stops with a clear message when the loss becomes NaN, leaving the weights from before training', async () => {
    manualSeed(4);
    const model = new MLP(784, [32], 10);
    const before = weights(model);
    const err = await finetune(model, train, val, { epochs: 3, lr: 1e30, optimizer: 'sgd', schedule: 'constant', batchSize: 10 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FinetuneStoppedError);
    expect((err as Error).message).toMatch(/the loss became (NaN|Infinity|-Infinity) at epoch 1, step \d+; the model holds its weights from before training\. Lower the learning rate/);
    expect((err as FinetuneStoppedError).report.stoppedOnNonFinite?.epoch).toBe(1);
    expect(weights(model)).toEqual(before);
  });

  it('after a NaN in a later epoch, the model holds the best epoch\'s weights and says which', async () => {
    manualSeed(4);
    const model = new MLP(784, [32], 10);
    const at = new Map<number, number[]>();
    const poison = new Map([...model.stateDict()].map(([k, t]) => [k, full(t.shape, Number.NaN)]));
    const err = await finetune(model, train, val, {
      epochs: 4, lr: 1e-3, batchSize: 10,
      onProgress: (p) => {
        if (p.phase === 'eval') at.set(p.epoch, weights(model));
        // After epoch 3's last step: its evaluation sees NaN weights, and epoch 4's loss is NaN.
        if (p.phase === 'train' && p.epoch === 3) model.loadStateDict(poison);
      },
    }).then(() => null, (e: unknown) => e as FinetuneStoppedError);
    expect(err).toBeInstanceOf(FinetuneStoppedError);
    const best = err!.report.best.epoch;
    expect([1, 2]).toContain(best);
    expect(err!.report.warnings).toEqual([expect.stringMatching(/^epoch 3: the validation loss is NaN/)]);
    expect(err!.message).toMatch(new RegExp(`at epoch 4, step \\d+; the model holds the weights of epoch ${best} \\(validation accuracy`));
    expect(weights(model).every(Number.isFinite)).toBe(true);
    expect(weights(model)).toEqual(at.get(best));
  });

  it('refuses data it cannot train on and options out of range, naming them, before any work', async () => {
    const nanVal = { ...val, x: val.x.slice() };
    nanVal.x[3 * 784 + 5] = Number.NaN;
    const m = new MLP(784, [8], 10);
    await expect(finetune(m, train, nanVal)).rejects.toThrow(/finetune: validation sample 3 holds NaN at element 5/);
    await expect(finetune(m, train, val, { test: { ...val, n: 0, x: new Float32Array(0), y: new Int32Array(0) } })).rejects.toThrow(/finetune: the test set is empty/);
    const badLabel = { ...train, y: train.y.slice() };
    badLabel.y[7] = 10;
    await expect(finetune(m, badLabel, val)).rejects.toThrow(/training sample 7 has label 10, outside the 10 classes/);
    await expect(finetune(m, train, val, { batchSize: 0 })).rejects.toThrow(/finetune: batchSize must be an integer >= 1, got 0/);
    await expect(finetune(m, train, val, { epochs: 1.5 })).rejects.toThrow(/epochs must be an integer >= 1, got 1\.5/);
    await expect(finetune(m, train, val, { lr: -1 })).rejects.toThrow(/lr must be a finite number > 0, got -1/);
    await expect(finetune(m, train, val, { labelSmoothing: 2 })).rejects.toThrow(/labelSmoothing must be a number in \[0, 1\], got 2/);
  });

  it('reports a validation loss that is not finite, and never picks that epoch as the best', async () => {
    manualSeed(2);
    // Finite inputs whose logits overflow: only the validation set is this large.
    const huge = { ...val, x: val.x.map((v) => v * 1e38 + 1e38) };
    const r = await finetune(new MLP(784, [16], 10), train, huge, { epochs: 2, lr: 1e-3, batchSize: 10 });
    expect(r.epochs.map((e) => Number.isFinite(e.valLoss))).toEqual([false, false]);
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/epoch 1: the validation loss is (NaN|Infinity) .*not eligible as the best/);
    expect(r.best.epoch).toBe(0);
  });
});

describe('graft finetune (CLI)', () => {
  it('writes a run folder with a JSON report, the best weights and an SVG learning curve', async () => {
    const out = mkdtempSync(join(tmpdir(), 'graft-run-'));
    await main(['finetune', '--labels-per-class', '3', '--epochs', '3', '--image-size', '32', '--out', out, '--quiet']);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.epochs.length).toBe(3);
    expect(report.totalSeconds).toBeGreaterThanOrEqual(report.seconds);
    expect(report.trainSamples).toBe(30);
    expect(report.cachedFeatures).toBe(true);
    expect(report.testAccuracy).toBeGreaterThan(0.1);
    expect(readFileSync(join(out, 'curve.svg'), 'utf8')).toMatch(/^<svg[\s\S]*validation accuracy[\s\S]*<\/svg>\n$/);
    const { tensors } = loadSafetensors(new Uint8Array(readFileSync(join(out, 'best.safetensors'))));
    const fresh = TransferModel.forBackbone(await mobilenetV2(), [3, 32, 32], 10, { featureLayer: 'block_13_expand_relu', poolGrid: 2 });
    expect(fresh.loadStateDict(tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(fresh.head.forward(zeros([1, fresh.featureDim])).shape).toEqual([1, 10]);
  });

  it('names a bad option', async () => {
    await expect(main(['finetune', '--model', 'vgg'])).rejects.toThrow(/--model expects one of mobilenetv2, resnet18, cnn, smallcnn, mlp, transformer, bert or an \.onnx file, got 'vgg'/);
    await expect(main(['train'])).rejects.toThrow(/unknown command 'train'/);
  });
});
