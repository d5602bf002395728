/** @file The fine-tuning loop and the CLI: feature caching, early stopping, best weights, NaN stop, run folders. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraftError, manualSeed, nn, zeros } from '../../index.js';
import { main } from '../../transfer/cli.js';
import { type Dataset, perClass, resizeImages } from '../../transfer/data/dataset.js';
import { loadMnist } from '../../transfer/data/mnist.js';
import { evaluate, finetune } from '../../transfer/finetune.js';
import { freeze } from '../../transfer/freeze.js';
import { loadSafetensors } from '../../transfer/import/safetensors.js';
import { KerasModel } from '../../transfer/zoo/keras.js';
import { mobilenetV2 } from '../../transfer/zoo/mobilenetv2.js';
import { MLP, SmallCNN } from '../../transfer/zoo/small.js';
import { TransferModel } from '../../transfer/zoo/transferModel.js';

let train: Dataset;
let val: Dataset;
let backbone: KerasModel;
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

  it('stops with a clear message when the loss becomes NaN', async () => {
    const blowUp = () => finetune(new MLP(784, [32], 10), train, val, { epochs: 3, lr: 1e30, optimizer: 'sgd', schedule: 'constant', batchSize: 10 });
    await expect(blowUp()).rejects.toThrow(GraftError);
    await expect(blowUp()).rejects.toThrow(/the loss became (NaN|Infinity|-Infinity) .*lower the learning rate/);
  });
});

describe('graft finetune (CLI)', () => {
  it('writes a run folder with a JSON report, the best weights and an SVG learning curve', async () => {
    const out = mkdtempSync(join(tmpdir(), 'graft-run-'));
    await main(['finetune', '--labels-per-class', '3', '--epochs', '3', '--image-size', '32', '--out', out, '--quiet']);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.epochs.length).toBe(3);
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
    await expect(main(['finetune', '--model', 'vgg'])).rejects.toThrow(/--model: unknown model 'vgg'/);
    await expect(main(['train'])).rejects.toThrow(/unknown command 'train'/);
    expect(nn.Module).toBeDefined();
  });
});
