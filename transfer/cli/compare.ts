/** @file `graft compare`: from-scratch models against a frozen pre-trained MobileNetV2 at several depths, over label budgets on MNIST. */
import { init, manualSeed } from '../../index.js';
import { type Dataset, resizeImages, splitPerClass } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { extractFeatures, type FinetuneReport, finetune } from '../finetune.js';
import { freeze } from '../freeze.js';
import { barChart } from '../report/svg.js';
import { mobilenetV2 } from '../zoo/mobilenetv2.js';
import { MLP, SmallCNN } from '../zoo/small.js';
import { TransferModel } from '../zoo/transferModel.js';
import { type Command, UsageError, type Values } from './options.js';
import { PRETRAINED_DIR } from './pretrain.js';
import { runTextCompare } from './compareText.js';
import { COMMON_OPTIONS, checkOutFolder, machine, runFolderName, splitHeldOut, writeRunFolder } from './runFolder.js';

export const spec = {
  task: { type: 'choice', choices: ['image', 'text'], default: 'image', help: 'image: MNIST through MobileNetV2; text: SpamAssassin spam/ham through the encoder `graft pretrain` wrote, LoRA and GloVe' },
  budgets: { type: 'ints', min: 1, metavar: 'N[,N]', default: [10, 50, 100], help: 'label budgets per class (text: default 10,50,100,500)' },
  weights: { type: 'string', metavar: 'FILE', help: `text: the pre-trained encoder (default ${PRETRAINED_DIR}/model.safetensors, from npm run pretrain)` },
  layers: { type: 'strings', metavar: 'NAME[,NAME]', default: ['block_6_expand_relu', 'block_10_expand_relu', 'block_13_expand_relu', 'out_relu'], help: 'MobileNetV2 layers whose features train a head' },
  epochs: { type: 'int', min: 1, metavar: 'N', default: 30, help: 'epochs per run' },
  'image-size': { type: 'int', min: 16, max: 1024, metavar: 'N', default: 64, help: 'MobileNetV2 input size' },
  'pool-grid': { type: 'int', min: 1, max: 16, metavar: 'N', default: 2, help: 'average the feature maps over an N x N grid of cells' },
  ...COMMON_OPTIONS,
  out: { type: 'string', metavar: 'DIR', help: 'run folder (default runs/compare-<time>); written only when the run ends' },
} as const;

export const compareCommand: Command<typeof spec> = {
  name: 'compare',
  summary: 'From scratch vs pre-trained over label budgets: MNIST through MobileNetV2 at several depths, or (--task text) spam/ham through a pre-trained encoder, LoRA and GloVe; writes compare.md, compare.json and compare.svg.',
  spec,
};

export async function runCompare(o: Values<typeof spec>, given: ReadonlySet<string> = new Set()): Promise<void> {
  if (o.out) await checkOutFolder(o.out, 'compare');
  if (o.task === 'text') return runTextCompare(o, given);
  if (o.weights) throw new UsageError('--weights applies to --task text', 'compare');
  const { seed, epochs, budgets, layers } = o;
  const size = o['image-size'];
  const backend = await init({ backend: o.backend });
  const out = o.out ?? runFolderName('compare-');
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
  const grid = o['pool-grid'];
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
  const cell = (m: string, b: number) => rows.find((r) => r.method === m && r.budget === b)!.accuracy * 100;
  const table = [`| method | ${budgets.map((b) => `${b} labels/class`).join(' | ')} |`, `|---|${budgets.map(() => '---:').join('|')}|`,
    ...methods.map((m) => `| ${m} | ${budgets.map((b) => `${cell(m, b).toFixed(1)}%`).join(' | ')} |`)].join('\n');
  const short = (m: string) => m.replace('pre-trained MobileNetV2, frozen to ', 'MobileNetV2 @ ').replace('from scratch: SmallCNN on raw pixels', 'scratch CNN').replace('from scratch: MLP on raw pixels', 'scratch MLP');
  await writeRunFolder(out, {
    'compare.md': `Test accuracy on ${test.n} MNIST digits, with the epoch (of ${epochs}) chosen on ${val.n} separate validation digits; command: graft compare --budgets ${budgets.join(',')} --layers ${layers.join(',')} --epochs ${epochs}\n\n${table}\n`,
    'compare.json': JSON.stringify({ command: 'compare', budgets, layers, epochs, imageSize: size, testSamples: test.n, machine: machine(backend.name), rows }, null, 2),
    'compare.svg': barChart(budgets.map((b) => `${b}/class`), methods.map((m) => ({ name: short(m), values: budgets.map((b) => cell(m, b)) })), { title: 'Transfer vs from scratch on MNIST', xLabel: 'labels per class', yLabel: 'test accuracy (%)', yMax: 100 }),
  });
  console.log(`${table}\nwrote ${out}/compare.md, compare.json, compare.svg`);
}
