/** @file `graft finetune`: its options, their checks before any work, and the run that writes a run folder at the end. */
import { stat } from 'node:fs/promises';
import { GraftError, type Tensor, functional as F, init, manualSeed, noGrad, tensor, tidy } from '../../index.js';
import { type DomainReport, adaBN, domainDiscrepancy } from '../adapt.js';
import { rotate } from '../augment.js';
import { type Dataset, batchOf, resizeImages, splitPerClass } from '../data/dataset.js';
import { IMAGENET, normalize } from '../data/images.js';
import { FinetuneStoppedError, type FinetuneReport, type Progress, finetune, predict } from '../finetune.js';
import { htmlReport } from '../report/html.js';
import { saveSafetensors } from '../import/safetensors.js';
import { lineChart } from '../report/svg.js';
import { TransferModel } from '../zoo/transferModel.js';
import { type DataKind, dataKind, loadData } from './data.js';
import { DEFAULT_MODEL, ZOO, buildModel, checkModel } from './models.js';
import { type Command, UsageError, type Values } from './options.js';
import { COMMON_OPTIONS, checkOutFolder, machine, runFolderName, writeRunFolder } from './runFolder.js';

const spec = {
  task: { type: 'choice', choices: ['image', 'text'], help: 'text: defaults to --data spam (SpamAssassin) and --model bert (the encoder npm run pretrain wrote)' },
  lora: { type: 'int', min: 1, max: 256, metavar: 'R', help: 'for --model bert: train LoRA adapters of rank R on the attention queries and values (and the head) only' },
  model: { type: 'string', metavar: `${ZOO.join('|')}|FILE.onnx`, help: 'model (default: mobilenetv2 for images, mlp for numeric CSV, transformer for text). mobilenetv2 is pre-trained (nsfwjs weights); resnet18 is pre-trained with --weights (torchvision names), else from scratch; an .onnx file is imported as a trainable graph with a new head' },
  weights: { type: 'string', metavar: 'FILE', help: 'load a state dict into the model first (.safetensors, .pt, .onnx or tfjs model.json, told apart by their bytes), strictly' },
  head: { type: 'string', metavar: 'NODE', help: 'for an .onnx --model: the classifier node to replace (default: its last Gemm or MatMul)' },
  'max-len': { type: 'int', min: 1, max: 4096, metavar: 'N', default: 64, help: 'for text: words per example (longer texts are cut, shorter padded)' },
  'non-strict': { type: 'flag', help: 'load --weights with strict=False: skip missing and unexpected keys and report their counts' },
  data: { type: 'string', metavar: 'mnist|DIR|FILE.csv|FILE.safetensors', default: 'mnist', help: 'target data: a folder of class folders of PNG/JPEG images or .txt texts (optionally under train/ val/ test/; otherwise split 70/15/15 per class with --seed), a CSV (numeric columns or a text column, and a label column), or a safetensors file with x, y, x_test and y_test' },
  'labels-per-class': { type: 'int', min: 1, metavar: 'N', default: 100, help: 'label budget per class' },
  'image-size': { type: 'int', min: 16, max: 1024, metavar: 'N', default: 64, help: 'input size of image models (images from a folder are decoded at this size)' },
  'feature-layer': { type: 'string', metavar: 'NAME', default: 'block_13_expand_relu', help: 'mobilenetv2 layer whose output feeds the head' },
  'pool-grid': { type: 'int', min: 1, max: 16, metavar: 'N', default: 2, help: 'average the feature maps over an N x N grid of cells (1 = global)' },
  freeze: { type: 'strings', metavar: 'PATTERN[,PATTERN]', help: 'freeze parameters by glob or /regex/ over their names (default: the whole backbone)' },
  'trainable-blocks': { type: 'int', min: 0, metavar: 'N', help: 'instead of --freeze, fine-tune the last N MobileNetV2 blocks up to the feature layer' },
  epochs: { type: 'int', min: 1, metavar: 'N', default: 20, help: 'epochs' },
  lr: { type: 'number', above: 0, metavar: 'X', default: 3e-3, help: 'learning rate (AdamW, cosine schedule with warm-up)' },
  'batch-size': { type: 'int', min: 1, metavar: 'N', default: 32, help: 'batch size' },
  'weight-decay': { type: 'number', min: 0, metavar: 'X', default: 0.01, help: 'AdamW weight decay' },
  'label-smoothing': { type: 'number', min: 0, max: 1, metavar: 'X', default: 0, help: 'label smoothing of the cross-entropy' },
  patience: { type: 'int', min: 1, metavar: 'N', help: 'stop when validation accuracy has not improved for N epochs' },
  augment: { type: 'flag', help: 'random flips, crops and rotations (disables feature caching)' },
  'target-shift': { type: 'choice', choices: ['invert', 'rotate'], help: 'make validation and test a shifted domain (inverted or rotated images)' },
  'domain-report': { type: 'flag', help: 'measure train-vs-test discrepancy on backbone features (linear MMD, CORAL) first' },
  adabn: { type: 'flag', help: 're-estimate BatchNorm statistics on the validation inputs before training (AdaBN)' },
  ...COMMON_OPTIONS,
  out: { type: 'string', metavar: 'DIR', help: 'run folder (default runs/<time>); written only when the run ends' },
  quiet: { type: 'flag', help: 'no progress on stderr' },
} as const;

export const finetuneCommand: Command<typeof spec> = {
  name: 'finetune',
  summary: 'Fine-tunes a model on a labelled set and writes report.json, best.safetensors and curve.svg to a run folder.\nWith no options: MobileNetV2 (nsfwjs weights) on MNIST digits, 100 labels per class.',
  spec,
};

type Options = Values<typeof spec>;

const BACKBONE_ONLY = ['feature-layer', 'pool-grid', 'trainable-blocks', 'domain-report', 'adabn'] as const;

/** Everything about the command line that can be known without loading anything: combinations, files, the run folder; returns the model to build. */
async function check(o: Options, given: ReadonlySet<string>): Promise<{ model: string; kind: DataKind; data: string }> {
  const data = o.task === 'text' && !given.has('data') ? 'spam' : o.data;
  if (data !== 'mnist' && data !== 'spam') {
    const s = await stat(data).catch(() => null);
    if (!s) throw new UsageError(`--data ${data}: no such file or folder`, 'finetune');
  }
  const found = await dataKind(data).catch((e: Error) => {
    throw new UsageError(e.message.startsWith('--data') ? e.message : `--data: ${e.message}`, 'finetune');
  });
  const kind: DataKind = found === 'safetensors' ? 'image' : found;
  if (o.task && o.task !== kind) throw new UsageError(`--task ${o.task} but --data ${data} holds ${kind} data`, 'finetune');
  const model = o.model ?? (o.task === 'text' ? 'bert' : DEFAULT_MODEL[kind]);
  if (given.has('lora') && model !== 'bert') throw new UsageError('--lora applies only to --model bert', 'finetune');
  if (given.has('lora') && given.has('freeze')) throw new UsageError('--lora freezes everything but its adapters and the head; --freeze chooses otherwise: give one', 'finetune');
  // A safetensors file's samples may be flat (mlp) or images: the model decides.
  if (found !== 'safetensors') await checkModel(model, kind);
  if (model !== 'mobilenetv2') {
    const wrong = BACKBONE_ONLY.filter((k) => given.has(k));
    if (wrong.length) throw new UsageError(`${wrong.map((k) => `--${k}`).join(', ')} ${wrong.length === 1 ? 'applies' : 'apply'} only to --model mobilenetv2 (got --model ${model})`, 'finetune');
  }
  if (given.has('head') && !model.toLowerCase().endsWith('.onnx')) throw new UsageError('--head applies only to an .onnx --model', 'finetune');
  if (given.has('freeze') && given.has('trainable-blocks')) throw new UsageError('--freeze and --trainable-blocks choose the trainable layers in two ways; give one', 'finetune');
  if (o['non-strict'] && !o.weights) throw new UsageError('--non-strict needs --weights', 'finetune');
  if (o.weights) await checkFile('--weights', o.weights, 'a weight file');
  if (o.out) await checkOutFolder(o.out, 'finetune');
  return { model, kind, data };
}

async function checkFile(flag: string, path: string, want: string): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new UsageError(`${flag} ${path}: no such file`, 'finetune');
  if (!s.isFile()) throw new UsageError(`${flag} ${path}: is a folder, not ${want}`, 'finetune');
}

let phaseStart = { phase: '', elapsed: 0 };

function bar(p: Progress, quiet: boolean): void {
  if (quiet) return;
  // ETA from the time spent in this phase (feature caching and training run at different speeds).
  const phase = p.phase === 'features' ? 'features' : 'train';
  if (phase !== phaseStart.phase) phaseStart = { phase, elapsed: p.elapsed };
  const frac = p.steps ? p.step / p.steps : 0;
  const width = 24;
  const filled = Math.round(frac * width);
  const label = p.phase === 'features' ? 'features' : `epoch ${p.epoch}/${p.epochs}`;
  const done = p.phase === 'features' ? frac : (p.epoch - 1 + frac) / p.epochs;
  const spent = p.elapsed - phaseStart.elapsed;
  const eta = done > 0 ? (spent / done) * (1 - done) : 0;
  const loss = p.loss !== undefined ? ` loss ${p.loss.toFixed(4)}` : '';
  process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${label} ${p.step}/${p.steps}${loss} ETA ${eta.toFixed(0)}s   `);
  if (p.message) process.stderr.write(`\n${p.message}\n`);
}

/** A shifted copy of image data: inverted intensities, or each image rotated by 30 degrees. */
function shiftDomain(d: Dataset, kind: 'invert' | 'rotate'): Dataset {
  if (kind === 'invert') return { ...d, x: d.x.map((v) => 1 - v) };
  const x = rotate(tensor(d.x, { shape: [d.n, ...d.shape] }), Array.from({ length: d.n }, () => 30));
  return { ...d, x: x.dataSync() as Float32Array };
}

/** Pooled backbone features of a dataset as one [N, D] tensor. */
function pooled(model: TransferModel, d: Dataset): Tensor {
  const order = Int32Array.from({ length: d.n }, (_, i) => i);
  model.backbone.eval();
  const parts: Tensor[] = [];
  for (let i = 0; i < d.n; i += 64) parts.push(tidy(() => noGrad(() => model.features(batchOf(d, order, i, Math.min(d.n, i + 64))[0]))));
  return F.concat(parts, 0);
}

export async function runFinetune(o: Options, given: ReadonlySet<string>): Promise<void> {
  const chosen = await check(o, given);
  const seed = o.seed;
  manualSeed(seed);
  const backend = await init({ backend: o.backend });
  const data = await loadData({ data: chosen.data, budget: o['labels-per-class'], seed, imageSize: o['image-size'], maxLen: o['max-len'], textEncoding: chosen.model === 'bert' ? 'bert' : 'words' });
  const { model, input, imagenet, note } = await buildModel({
    model: chosen.model, weights: o.weights, nonStrict: o['non-strict'], imageSize: o['image-size'], featureLayer: o['feature-layer'], poolGrid: o['pool-grid'],
    freeze: o.freeze, trainableBlocks: o['trainable-blocks'], head: o.head, maxLen: o['max-len'], lora: o.lora,
  }, data.train, data.vocab);
  const sized = (d: Dataset) => (input && (d.shape[0] !== input[0] || d.shape[1] !== input[1] || d.shape[2] !== input[2]) ? resizeImages(d, [input[1]!, input[2]!], input[0]) : d);
  const fit = (d: Dataset) => (imagenet ? normalize(sized(d), IMAGENET) : sized(d));
  const shift = o['target-shift'];
  const shifted = (d: Dataset) => (shift ? shiftDomain(d, shift) : d);
  for (const [part, d] of [['validation', data.val], ['test', data.test]] as const) {
    if (!d.n) throw new GraftError(`--data ${chosen.data}: the ${part} part is empty; each class needs examples in it`);
  }
  const [train, val, test] = [fit(data.train), fit(shifted(data.val)), fit(shifted(data.test))];
  let domain: (DomainReport & { before?: string; afterAdaBN?: DomainReport }) | undefined;
  if (model instanceof TransferModel && (o['domain-report'] || shift)) {
    const sample = (d: Dataset) => splitPerClass(d, 20, seed).picked;
    const measure = () => domainDiscrepancy(pooled(model, sample(train)), pooled(model, sample(test)));
    domain = { ...(await measure()), before: 'fine-tuning' };
    if (o.adabn) {
      adaBN(model.backbone, val);
      domain.afterAdaBN = await measure();
    }
  } else if (o.adabn && model instanceof TransferModel) adaBN(model.backbone, val);
  const out = o.out ?? runFolderName('');
  const quiet = o.quiet;
  if (!quiet && domain) {
    console.error(`domain discrepancy on backbone features before fine-tuning: linear MMD ${domain.linearMmd.toPrecision(4)}, CORAL ${domain.coralDistance.toPrecision(4)}` +
      (domain.afterAdaBN ? `; after AdaBN: linear MMD ${domain.afterAdaBN.linearMmd.toPrecision(4)}, CORAL ${domain.afterAdaBN.coralDistance.toPrecision(4)}` : ''));
  }
  const perClassCounts = train.classes.map((_, c) => train.y.filter((y) => y === c).length);
  const budgetNote = perClassCounts.every((c) => c === o['labels-per-class']) ? `${o['labels-per-class']} per class` : `per class ${perClassCounts.join(', ')} (budget ${o['labels-per-class']})`;
  if (!quiet) console.error(`graft finetune: ${note}\n  data: ${data.source}; ${train.n} training samples (${budgetNote}), ${val.n} validation, ${test.n} test\n  backend: ${backend.name}; run folder: ${out}`);
  let report: FinetuneReport;
  let stopped: FinetuneStoppedError | undefined;
  try {
    report = await finetune(model, train, val, {
      test,
      epochs: o.epochs, lr: o.lr, batchSize: o['batch-size'], seed,
      weightDecay: o['weight-decay'], labelSmoothing: o['label-smoothing'],
      augment: o.augment ? { hflip: 0.5, cropPadding: 4, rotate: 10 } : undefined, patience: o.patience,
      onProgress: (p) => bar(p, quiet),
    });
  } catch (e) {
    // A non-finite loss still leaves a run worth keeping: the epochs so far and the restored best weights.
    if (!(e instanceof FinetuneStoppedError)) throw e;
    stopped = e;
    report = e.report;
  }
  if (!quiet) process.stderr.write('\n');
  // End to end: from the process's start (module loading, weights, data, features, training) to here.
  const totalSeconds = Math.round(process.uptime() * 10) / 10;
  const full = { command: 'finetune', totalSeconds, model: note, data: data.source, targetShift: shift ?? null, adabn: o.adabn, domain, trainSamples: train.n, valSamples: val.n, testSamples: test.n, labelsPerClass: o['labels-per-class'], machine: machine(backend.name), ...report, stopped: stopped?.message };
  const predictions = await predict(model, test);
  const html = await htmlReport({ title: `graft finetune: ${note.split(';')[0]}`, model: note, data: data.source, report, test: sized(shifted(data.test)), predictions, texts: data.testTexts });
  await writeRunFolder(out, {
    'report.html': html,
    'best.safetensors': await saveSafetensors(model.stateDict(), { 'graft.valAccuracy': String(report.best.valAccuracy) }),
    'report.json': JSON.stringify(full, null, 2),
    'curve.svg': lineChart([
      { name: 'train loss', points: report.epochs.map((e) => [e.epoch, e.trainLoss]) },
      { name: 'validation loss', points: report.epochs.map((e) => [e.epoch, e.valLoss]) },
      { name: 'validation accuracy', points: report.epochs.map((e) => [e.epoch, e.valAccuracy]) },
    ], { title: `graft finetune: ${note.split(';')[0]}`, xLabel: 'epoch', yLabel: 'loss / accuracy' }),
  });
  for (const w of report.warnings) console.error(`graft: warning: ${w}`);
  if (stopped) throw new GraftError(`${stopped.message}. Wrote ${out}/report.json, report.html, best.safetensors, curve.svg`);
  console.log(`test accuracy ${(report.testAccuracy! * 100).toFixed(1)}% with the best epoch (${report.best.epoch}, validation ${(report.best.valAccuracy * 100).toFixed(1)}%)` +
    `${report.cachedFeatures ? ' (backbone features cached once; head trained on the cache)' : ''}; ${report.seconds.toFixed(1)} s fine-tuning, ${totalSeconds.toFixed(1)} s in all; wrote ${out}/report.html, report.json, best.safetensors, curve.svg`);
}
