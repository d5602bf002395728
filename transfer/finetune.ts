/** @file The fine-tuning loop: seeded shuffles, evaluation each epoch, early stopping, best weights, schedules, clipping, feature caching. */
import { type Backend, GraftError, GraftValueError, Generator, type Tensor, functional as F, getBackend, nn, noGrad, optim, permutation, tidy } from '../index.js';

import { Augment, type AugmentOptions } from './augment.js';
import { saveCheckpoint } from './checkpoint.js';
import { type Dataset, batchOf, sampleSize } from './data/dataset.js';
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
  /** The epoch whose weights the model holds at the end (0: none improved on the weights before training). */
  best: { epoch: number; valAccuracy: number };
  stoppedEarly: boolean;
  /** Set when training stopped because the loss stopped being finite; the best weights were restored. */
  stoppedOnNonFinite?: { epoch: number; step: number; loss: number };
  /** Things that did not stop training but make its numbers doubtful (a validation loss that is not finite). */
  warnings: string[];
  /** Accuracy of the best weights on `test`, when one was given. */
  testAccuracy?: number;
  cachedFeatures: boolean;
  trainableParameters: number;
  frozenParameters: number;
  seconds: number;
}

/** Thrown when the loss stops being finite: the model holds the best weights (or those from before training), and `report` what was done. */
export class FinetuneStoppedError extends GraftError {
  constructor(
    message: string,
    readonly report: FinetuneReport,
  ) {
    super(message);
  }
}

function checkOptions(o: FinetuneOptions): void {
  const int = (name: keyof FinetuneOptions, min: number) => {
    const v = o[name];
    if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < min)) throw new GraftValueError(`finetune: ${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  const num = (name: keyof FinetuneOptions, ok: (v: number) => boolean, what: string) => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))) throw new GraftValueError(`finetune: ${name} must be ${what}, got ${String(v)}`);
  };
  int('epochs', 1);
  int('batchSize', 1);
  int('patience', 1);
  int('warmupSteps', 0);
  int('seed', 0);
  num('lr', (v) => v > 0, 'a finite number > 0');
  num('weightDecay', (v) => v >= 0, 'a finite number >= 0');
  num('momentum', (v) => v >= 0, 'a finite number >= 0');
  num('clipGradNorm', (v) => v > 0, 'a finite number > 0');
  num('labelSmoothing', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
}

/** A dataset training can use: not empty, finite inputs, labels naming one of its classes. */
function checkData(d: Dataset, what: string): void {
  if (d.n === 0) throw new GraftValueError(`finetune: the ${what} set is empty`);
  const per = sampleSize(d);
  for (let i = 0; i < d.x.length; i++) {
    if (!Number.isFinite(d.x[i]!)) throw new GraftValueError(`finetune: ${what} sample ${Math.floor(i / per)} holds ${d.x[i]} at element ${i % per}`);
  }
  for (let i = 0; i < d.n; i++) {
    const c = d.y[i]!;
    if (c < 0 || c >= d.classes.length) throw new GraftValueError(`finetune: ${what} sample ${i} has label ${c}, outside the ${d.classes.length} classes`);
  }
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
  checkOptions(o);
  checkData(train, 'training');
  checkData(val, 'validation');
  if (o.test) checkData(o.test, 'test');
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
  const report: FinetuneReport = { epochs: [], best: { epoch: 0, valAccuracy: -1 }, stoppedEarly: false, warnings: [], cachedFeatures: cached, ...(() => {
    const c = countParams(model);
    return { trainableParameters: c.trainable, frozenParameters: c.frozen };
  })(), seconds: 0 };
  // Only what training changes is kept: the head's state when the backbone's features are cached.
  const snapshot = () => new Map([...trainable.stateDict()].map(([k, t]) => [k, t.clone()]));
  let best = snapshot();
  let sinceBest = 0;
  const stopNonFinite = (loss: number, epoch: number, step: number): never => {
    trainable.loadStateDict(best);
    for (const t of best.values()) t.dispose();
    report.stoppedOnNonFinite = { epoch, step, loss };
    report.seconds = (Date.now() - start) / 1000;
    const kept = report.best.epoch > 0 ? `the model holds the weights of epoch ${report.best.epoch} (validation accuracy ${(report.best.valAccuracy * 100).toFixed(1)}%)` : 'the model holds its weights from before training';
    throw new FinetuneStoppedError(`finetune: the loss became ${loss} at epoch ${epoch}, step ${step}; ${kept}. Lower the learning rate (${lr}) or enable clipGradNorm`, report);
  };

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
          losses.forEach((l) => l.dispose());
          stopNonFinite(v, epoch + 1, s + 1);
        }
        await emit({ phase: 'train', epoch: epoch + 1, step: s + 1, steps: stepsPerEpoch, loss: v });
      }
    }
    const lossValues = await Promise.all(losses.map(async (l) => (await l.data())[0]!));
    losses.forEach((l) => l.dispose());
    const bad = lossValues.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) stopNonFinite(lossValues[bad]!, epoch + 1, bad + 1);
    const trainLoss = lossValues.reduce((a, b) => a + b, 0) / lossValues.length;
    model.eval();
    const ev = await evaluate(forward, valData, batchSize * 2, backend);
    // Finite inputs with a non-finite loss: the model overflows on validation data; that epoch cannot be the best.
    const valFinite = Number.isFinite(ev.loss);
    const warning = valFinite ? undefined : `epoch ${epoch + 1}: the validation loss is ${ev.loss} (the model's outputs on validation data are not finite); this epoch is not eligible as the best`;
    if (warning) report.warnings.push(warning);
    await emit({ phase: 'eval', epoch: epoch + 1, step: stepsPerEpoch, steps: stepsPerEpoch, loss: trainLoss, valLoss: ev.loss, valAccuracy: ev.accuracy, message: warning });
    report.epochs.push({ epoch: epoch + 1, trainLoss, valLoss: ev.loss, valAccuracy: ev.accuracy, lr: opt.paramGroups[0]!.lr, seconds: (Date.now() - t0) / 1000 });
    if (valFinite && ev.accuracy > report.best.valAccuracy) {
      report.best = { epoch: epoch + 1, valAccuracy: ev.accuracy };
      for (const t of best.values()) t.dispose();
      best = snapshot();
      sinceBest = 0;
      if (o.checkpointPath) await saveCheckpoint(o.checkpointPath, { model }, { epoch: epoch + 1, extra: { valAccuracy: ev.accuracy } });
    } else if (o.patience !== undefined && ++sinceBest >= o.patience) {
      report.stoppedEarly = true;
      break;
    }
  }
  trainable.loadStateDict(best);
  for (const t of best.values()) t.dispose();
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

