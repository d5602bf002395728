/** @file The fine-tuning loop: seeded shuffles, evaluation each epoch, early stopping, best weights, schedules, clipping, feature caching. */
import { type Backend, GraftError, Generator, type Tensor, functional as F, getBackend, nn, noGrad, optim, permutation, tidy } from '../index.js';

import { Augment, type AugmentOptions } from './augment.js';
import { saveCheckpoint } from './checkpoint.js';
import { type Dataset, batchOf } from './data/dataset.js';
import { type GroupSpec, paramGroups } from './freeze.js';
import { TransferModel, poolFeatures } from './zoo/transferModel.js';

export interface FinetuneOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  optimizer?: 'adamw' | 'sgd';
  momentum?: number;
  /** Per-step schedule: linear warm-up then cosine decay, or constant. */
  schedule?: 'cosine' | 'constant';
  warmupSteps?: number;
  clipGradNorm?: number;
  labelSmoothing?: number;
  /** Discriminative learning rates by parameter-name pattern. */
  groups?: GroupSpec[];
  augment?: AugmentOptions;
  /** Stop when validation accuracy has not improved for this many epochs. */
  patience?: number;
  seed?: number;
  /** Where to keep the best weights as a checkpoint (safetensors). */
  checkpointPath?: string;
  /** Cache backbone features when the backbone is fully frozen and no augmentation touches its input (default true). */
  cacheFeatures?: boolean;
  /** Called as training goes; a returned promise is awaited, which lets a page repaint between steps. */
  onProgress?: (p: Progress) => void | Promise<void>;
  backend?: Backend;
  /** A held-out set scored once with the best weights (selection uses the validation set only). */
  test?: Dataset;
}

export interface Progress {
  phase: 'features' | 'train' | 'eval';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss?: number;
  /** Set on the 'eval' event that ends each epoch. */
  valLoss?: number;
  valAccuracy?: number;
  elapsed: number;
  message?: string;
}

export interface EpochReport {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  lr: number;
  seconds: number;
}

export interface FinetuneReport {
  epochs: EpochReport[];
  best: { epoch: number; valAccuracy: number };
  stoppedEarly: boolean;
  /** Accuracy of the best weights on `test`, when one was given. */
  testAccuracy?: number;
  cachedFeatures: boolean;
  trainableParameters: number;
  frozenParameters: number;
  seconds: number;
}

/** True when training cannot change what the backbone computes, so its outputs can be computed once. */
export function backboneIsFrozen(model: TransferModel): boolean {
  const mods = model.backbone.modules();
  return model.backbone.parameters().every((p) => !p.requiresGrad) && mods.every((m) => !(m instanceof nn.BatchNorm) || m.statsFrozen || !m.trackRunningStats);
}

/** Accuracy and mean loss of `forward` over a dataset, in batches, without a graph. */
export async function evaluate(forward: (x: Tensor) => Tensor, data: Dataset, batchSize = 128, backend?: Backend): Promise<{ accuracy: number; loss: number }> {
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  let correct = 0;
  let lossSum = 0;
  for (let i = 0; i < data.n; i += batchSize) {
    const [hits, loss] = tidy(() =>
      noGrad(() => {
        const [x, y] = batchOf(data, order, i, Math.min(data.n, i + batchSize), backend);
        const logits = forward(x);
        return [logits.argmax(1).eq(y).sum(), F.crossEntropy(logits, y, { reduction: 'sum' })];
      }),
    );
    correct += (await hits.data())[0]!;
    lossSum += (await loss.data())[0]!;
    hits.dispose();
    loss.dispose();
  }
  return { accuracy: correct / data.n, loss: lossSum / data.n };
}

/** A backbone that returns several named layers' outputs in one pass (KerasModel). */
export interface Tappable extends nn.Module {
  outputsOf(x: Tensor, names: readonly string[]): Map<string, Tensor>;
}

/** Spatially pooled outputs of several layers for every sample, in one eval-mode pass per batch. */
export async function extractFeatures(backbone: Tappable, data: Dataset, layers: readonly string[], poolGrid = 1, batchSize = 64, onBatch?: (done: number) => void): Promise<Map<string, Dataset>> {
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  const wasTraining = backbone.training;
  backbone.eval();
  const chunks = new Map(layers.map((l) => [l, [] as Float32Array[]]));
  const dims = new Map<string, number>();
  for (let i = 0; i < data.n; i += batchSize) {
    const outs = tidy(() => noGrad(() => {
      const m = backbone.outputsOf(batchOf(data, order, i, Math.min(data.n, i + batchSize))[0], layers);
      return layers.map((l) => poolFeatures(m.get(l)!, poolGrid));
    }));
    for (let k = 0; k < layers.length; k++) {
      chunks.get(layers[k]!)!.push((await outs[k]!.data()) as Float32Array);
      dims.set(layers[k]!, outs[k]!.shape[1]!);
      outs[k]!.dispose();
    }
    onBatch?.(Math.min(data.n, i + batchSize));
  }
  backbone.train(wasTraining);
  return new Map(layers.map((l) => {
    const x = new Float32Array(data.n * dims.get(l)!);
    let at = 0;
    for (const c of chunks.get(l)!) {
      x.set(c, at);
      at += c.length;
    }
    return [l, { ...data, x, shape: [dims.get(l)!] }];
  }));
}

/** Backbone features of every sample, computed once in eval mode. */
async function cacheFeatures(model: TransferModel, data: Dataset, batchSize: number, backend: Backend | undefined, onBatch: (done: number) => Promise<void>): Promise<Dataset> {
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  const wasTraining = model.backbone.training;
  model.backbone.eval();
  const chunks: Float32Array[] = [];
  for (let i = 0; i < data.n; i += batchSize) {
    const f = tidy(() => noGrad(() => model.features(batchOf(data, order, i, Math.min(data.n, i + batchSize), backend)[0])));
    chunks.push((await f.data()) as Float32Array);
    f.dispose();
    await onBatch(Math.min(data.n, i + batchSize));
  }
  model.backbone.train(wasTraining);
  const x = new Float32Array(data.n * model.featureDim);
  let at = 0;
  for (const c of chunks) {
    x.set(c, at);
    at += c.length;
  }
  return { ...data, x, shape: [model.featureDim] };
}

function countParams(model: nn.Module): { trainable: number; frozen: number } {
  let trainable = 0;
  let frozen = 0;
  for (const p of model.parameters()) p.requiresGrad ? (trainable += p.size) : (frozen += p.size);
  return { trainable, frozen };
}

/**
 * Fine-tunes `model` on `train`, evaluating on `val` after each epoch and keeping the best weights
 * (restored into the model at the end). Parameters that do not require grad are left alone.
 */
export async function finetune(model: nn.Module, train: Dataset, val: Dataset, o: FinetuneOptions = {}): Promise<FinetuneReport> {
  const start = Date.now();
  const epochs = o.epochs ?? 10;
  const batchSize = o.batchSize ?? 32;
  const backend = o.backend ?? getBackend();
  const emit = async (p: Omit<Progress, 'elapsed' | 'epochs'>) => o.onProgress?.({ ...p, epochs, elapsed: (Date.now() - start) / 1000 });
  const augment = o.augment ? new Augment(o.augment, (o.seed ?? 0) + 1) : null;

  // With a frozen backbone and unchanged inputs, train the head on features computed once.
  const cached = model instanceof TransferModel && (o.cacheFeatures ?? true) && !augment?.active && backboneIsFrozen(model);
  let trainData = train;
  let valData = val;
  let testData = o.test;
  let forward: (x: Tensor) => Tensor = (x) => model.forward(x);
  let trainable: nn.Module = model;
  if (cached) {
    const tm = model as TransferModel;
    const all = train.n + val.n + (o.test?.n ?? 0);
    await emit({ phase: 'features', epoch: 0, step: 0, steps: all, message: 'backbone frozen: caching its features once' });
    trainData = await cacheFeatures(tm, train, batchSize * 2, backend, (d) => emit({ phase: 'features', epoch: 0, step: d, steps: all }));
    valData = await cacheFeatures(tm, val, batchSize * 2, backend, (d) => emit({ phase: 'features', epoch: 0, step: train.n + d, steps: all }));
    if (o.test) testData = await cacheFeatures(tm, o.test, batchSize * 2, backend, (d) => emit({ phase: 'features', epoch: 0, step: train.n + val.n + d, steps: all }));
    forward = (x) => tm.head.forward(x);
    trainable = tm.head;
  }

  const params = paramGroups(trainable, o.groups ?? []);
  if (params.length === 0) throw new GraftError('finetune: no parameter requires grad (everything is frozen)');
  const lr = o.lr ?? 1e-3;
  const opt = o.optimizer === 'sgd'
    ? new optim.SGD(params, { lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 0 })
    : new optim.AdamW(params, { lr, weightDecay: o.weightDecay ?? 0.01 });
  const stepsPerEpoch = Math.ceil(trainData.n / batchSize);
  const total = stepsPerEpoch * epochs;
  const sched = o.schedule === 'constant' ? null : new optim.CosineWithWarmupLR(opt, o.warmupSteps ?? Math.min(50, Math.floor(total / 10)), total);

  const order = new Generator(o.seed ?? 0);
  const report: FinetuneReport = { epochs: [], best: { epoch: -1, valAccuracy: -1 }, stoppedEarly: false, cachedFeatures: cached, ...(() => {
    const c = countParams(model);
    return { trainableParameters: c.trainable, frozenParameters: c.frozen };
  })(), seconds: 0 };
  let best: Map<string, Tensor> | null = null;
  let sinceBest = 0;

  for (let epoch = 0; epoch < epochs; epoch++) {
    const t0 = Date.now();
    model.train();
    const perm = permutation(trainData.n, order);
    const losses: Tensor[] = [];
    for (let s = 0; s < stepsPerEpoch; s++) {
      const loss = tidy(() => {
        let [x, y] = batchOf(trainData, perm, s * batchSize, Math.min(trainData.n, (s + 1) * batchSize), backend);
        if (augment?.active) x = augment.apply(x);
        opt.zeroGrad();
        const l = F.crossEntropy(forward(x), y, { labelSmoothing: o.labelSmoothing ?? 0 });
        l.backward();
        if (o.clipGradNorm) optim.clipGradNorm(params.flatMap((g) => g.params), o.clipGradNorm);
        opt.step();
        return l.detach();
      });
      sched?.step();
      losses.push(loss);
      if (s % 10 === 9 || s === stepsPerEpoch - 1) {
        const v = (await loss.data())[0]!;
        if (!Number.isFinite(v)) {
          throw new GraftError(`finetune: the loss became ${v} at epoch ${epoch + 1}, step ${s + 1}; lower the learning rate (${opt.paramGroups[0]!.lr}) or enable clipGradNorm`);
        }
        await emit({ phase: 'train', epoch: epoch + 1, step: s + 1, steps: stepsPerEpoch, loss: v });
      }
    }
    const lossValues = await Promise.all(losses.map(async (l) => (await l.data())[0]!));
    losses.forEach((l) => l.dispose());
    const trainLoss = lossValues.reduce((a, b) => a + b, 0) / lossValues.length;
    if (!Number.isFinite(trainLoss)) throw new GraftError(`finetune: the loss became ${trainLoss} in epoch ${epoch + 1}; lower the learning rate or enable clipGradNorm`);
    model.eval();
    const ev = await evaluate(forward, valData, batchSize * 2, backend);
    await emit({ phase: 'eval', epoch: epoch + 1, step: stepsPerEpoch, steps: stepsPerEpoch, loss: trainLoss, valLoss: ev.loss, valAccuracy: ev.accuracy });
    report.epochs.push({ epoch: epoch + 1, trainLoss, valLoss: ev.loss, valAccuracy: ev.accuracy, lr: opt.paramGroups[0]!.lr, seconds: (Date.now() - t0) / 1000 });
    if (ev.accuracy > report.best.valAccuracy) {
      report.best = { epoch: epoch + 1, valAccuracy: ev.accuracy };
      for (const t of best?.values() ?? []) t.dispose();
      best = new Map([...model.stateDict()].map(([k, t]) => [k, t.clone()]));
      sinceBest = 0;
      if (o.checkpointPath) await saveCheckpoint(o.checkpointPath, { model }, { epoch: epoch + 1, extra: { valAccuracy: ev.accuracy } });
    } else if (o.patience !== undefined && ++sinceBest >= o.patience) {
      report.stoppedEarly = true;
      break;
    }
  }
  if (best) model.loadStateDict(best);
  if (testData) {
    model.eval();
    report.testAccuracy = (await evaluate(forward, testData, batchSize * 2, backend)).accuracy;
  }
  report.seconds = (Date.now() - start) / 1000;
  return report;
}

/** Class predictions for a dataset (argmax of the logits). */
export async function predict(model: nn.Module, data: Dataset, batchSize = 128): Promise<Int32Array> {
  model.eval();
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  const out = new Int32Array(data.n);
  for (let i = 0; i < data.n; i += batchSize) {
    const p = tidy(() => noGrad(() => model.forward(batchOf(data, order, i, Math.min(data.n, i + batchSize))[0]).argmax(1)));
    out.set(await p.data(), i);
    p.dispose();
  }
  return out;
}

