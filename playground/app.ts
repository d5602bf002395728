/** @file The playground page: load MobileNetV2 and MNIST digits, choose frozen blocks, fine-tune on WebGPU or the CPU with a live chart, see test predictions. */
import { type Backend, init, manualSeed } from '../index.js';
import {
  type Dataset, MOBILENET_V2_BLOCKS, type Progress, TransferModel, datasetFromTensors, evaluate, finetune, freeze, lineChart,
  loadSafetensors, mobilenetV2, perClass, predict, readBytes, resizeImages, subset, unfreeze,
} from '../transfer/index.js';

/** The backbone layer whose output (pooled 2x2) feeds the new head; blocks after it are not used. */
const FEATURE_LAYER = 'block_13_expand_relu';
const BLOCKS = MOBILENET_V2_BLOCKS.slice(0, MOBILENET_V2_BLOCKS.indexOf('block_13_') + 1);
const SHOWN = 40;

type State = 'idle' | 'loading' | 'ready' | 'training' | 'done' | 'error';

interface Loaded {
  backend: Backend;
  model: TransferModel;
  size: number;
  train: Dataset;
  val: Dataset;
  test: Dataset;
}

const el = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
let loaded: Loaded | null = null;

function setState(state: State, message: string): void {
  document.body.dataset.state = state;
  el('status').textContent = message;
  el<HTMLButtonElement>('load').disabled = state === 'loading' || state === 'training';
  el<HTMLButtonElement>('train').disabled = !loaded || state === 'loading' || state === 'training';
}

/** Lets the page repaint between steps (a CPU backend otherwise keeps the main thread busy). */
const repaint = () => new Promise<void>((ok) => setTimeout(ok, 0));

async function showAdapter(): Promise<void> {
  const box = el('adapter');
  const select = el<HTMLSelectElement>('backend');
  const missing = (why: string) => {
    box.className = 'missing';
    box.textContent = `WebGPU is not available here: ${why}. Fine-tuning still works on the CPU backend (slower); for WebGPU use a browser that has it enabled (Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows).`;
    select.value = 'cpu';
    (select.querySelector('option[value=webgpu]') as HTMLOptionElement).disabled = true;
  };
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return missing('navigator.gpu is missing');
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return missing('navigator.gpu found no adapter');
  const i = adapter.info;
  const features = ['shader-f16', 'subgroups', 'timestamp-query'].filter((f) => adapter.features.has(f as GPUFeatureName));
  box.textContent = `WebGPU adapter: ${[i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unnamed'}` +
    `; features: ${features.join(', ') || 'none of shader-f16, subgroups, timestamp-query'}; max storage binding ${(adapter.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`;
  box.dataset.adapter = 'yes';
}

function renderBlocks(model: TransferModel): void {
  const counts = new Map(BLOCKS.map((b) => [b, 0]));
  for (const [name, p] of model.namedParameters()) {
    const b = BLOCKS.find((b) => name.startsWith(`backbone.${b}`));
    if (b) counts.set(b, counts.get(b)! + p.size);
  }
  el('blocks').replaceChildren(...BLOCKS.map((b) => {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = true;
    box.dataset.block = b;
    box.addEventListener('change', () => applyFreezing());
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = `${(counts.get(b)! / 1000).toFixed(1)}k`;
    label.append(box, b.replace(/_$/, ''), count);
    return label;
  }));
  applyFreezing();
}

/** Freezes the backbone, then opens the unchecked blocks (BatchNorm statistics follow their block). */
function applyFreezing(): void {
  if (!loaded) return;
  const m = loaded.model;
  freeze(m, 'backbone');
  const open = [...document.querySelectorAll<HTMLInputElement>('#blocks input')].filter((b) => !b.checked).map((b) => b.dataset.block!);
  for (const b of open) unfreeze(m, new RegExp(`^backbone\\.${b}`));
  let trainable = 0;
  for (const p of m.parameters()) if (p.requiresGrad) trainable += p.size;
  el('trainable').textContent = `${trainable.toLocaleString('en')} trainable parameters` + (open.length ? '' : ' (head only: backbone features are computed once and cached)');
}

async function load(): Promise<void> {
  loaded = null;
  const kind = el<HTMLSelectElement>('backend').value as 'webgpu' | 'cpu';
  const size = Number(el<HTMLSelectElement>('size').value);
  setState('loading', `starting the ${kind} backend…`);
  const backend = await init({ backend: kind });
  setState('loading', 'loading MobileNetV2 (nsfwjs weights) and MNIST digits…');
  const [backbone, data] = await Promise.all([mobilenetV2({ from: new URL('/models/mobilenet_v2/', location.href) }), readBytes(new URL('/data/mnist.safetensors', location.href))]);
  const { tensors } = loadSafetensors(data.bytes, { file: 'mnist.safetensors' });
  const get = (k: string) => tensors.get(k)!;
  const split = (x: string, y: string) => datasetFromTensors(get(x), get(y), `mnist.safetensors ${x}`);
  manualSeed(0);
  const model = TransferModel.forBackbone(backbone, [3, size, size], 10, { featureLayer: FEATURE_LAYER, poolGrid: 2 });
  loaded = { backend, model, size, train: await split('x', 'y'), val: await split('x_val', 'y_val'), test: await split('x_test', 'y_test') };
  renderBlocks(model);
  const info = 'info' in backend ? ` on ${Object.values((backend as { info: Record<string, string> }).info).filter(Boolean).join(' / ')}` : '';
  setState('ready', `ready: MobileNetV2 cut at ${FEATURE_LAYER}, ${loaded.train.n} training, ${loaded.val.n} validation and ${loaded.test.n} test digits; backend ${backend.name}${info}`);
}

async function train(): Promise<void> {
  const l = loaded!;
  const budget = Number(el<HTMLSelectElement>('budget').value);
  const epochs = Math.max(1, Math.min(100, Math.round(Number(el<HTMLInputElement>('epochs').value) || 15)));
  const lr = Number(el<HTMLInputElement>('lr').value) || 3e-3;
  const fit = (d: Dataset) => resizeImages(d, [l.size, l.size], 3);
  const trainSet = fit(perClass(l.train, budget, 0));
  const [val, test] = [fit(l.val), fit(l.test)];
  manualSeed(0);
  l.model.replaceHead(10);
  applyFreezing();
  setState('training', 'measuring test accuracy with the new, untrained head…');
  await repaint();
  const before = (await evaluate((x) => l.model.forward(x), test, 64)).accuracy;
  const curve = { loss: [] as [number, number][], valLoss: [] as [number, number][], valAcc: [] as [number, number][] };
  const draw = () => {
    el('chart').innerHTML = lineChart([
      { name: 'train loss', points: curve.loss },
      { name: 'validation loss', points: curve.valLoss },
      { name: 'validation accuracy', points: curve.valAcc },
    ], { title: `fine-tuning, ${budget} labels per class, backend ${l.backend.name}`, xLabel: 'epoch', yLabel: 'loss / accuracy' });
  };
  const onProgress = async (p: Progress) => {
    if (p.phase === 'features') el('status').textContent = `backbone frozen: computing its features once (${p.step}/${p.steps} images, ${p.elapsed.toFixed(1)} s)`;
    else if (p.phase === 'train') el('status').textContent = `epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.steps}, loss ${p.loss?.toFixed(4)} (${p.elapsed.toFixed(1)} s)`;
    else {
      curve.loss.push([p.epoch, p.loss!]);
      curve.valLoss.push([p.epoch, p.valLoss!]);
      curve.valAcc.push([p.epoch, p.valAccuracy!]);
      draw();
    }
    await repaint();
  };
  const report = await finetune(l.model, trainSet, val, { test, epochs, lr, batchSize: 16, seed: 0, onProgress });
  const after = report.testAccuracy!;
  const acc = el('accuracy');
  acc.dataset.before = String(before);
  acc.dataset.after = String(after);
  acc.textContent = `test accuracy on ${test.n} digits: ${(before * 100).toFixed(1)}% with the untrained head → ${(after * 100).toFixed(1)}% after fine-tuning ` +
    `(best epoch ${report.best.epoch}, ${report.seconds.toFixed(1)} s${report.cachedFeatures ? ', cached backbone features' : ''})`;
  await showPredictions(l, test);
  setState('done', `done: ${report.trainableParameters.toLocaleString('en')} parameters trained, ${report.frozenParameters.toLocaleString('en')} frozen`);
}

/** The first test digits with the predicted class, framed green when right and red when wrong. */
async function showPredictions(l: Loaded, test: Dataset): Promise<void> {
  const idx = Array.from({ length: Math.min(SHOWN, test.n) }, (_, i) => i);
  const pred = await predict(l.model, subset(test, idx), 64);
  const raw = subset(l.test, idx);
  el('predictions').replaceChildren(...idx.map((i) => {
    const fig = document.createElement('figure');
    fig.className = pred[i] === raw.y[i] ? 'right' : 'wrong';
    const canvas = document.createElement('canvas');
    const [h, w] = [raw.shape[1]!, raw.shape[2]!];
    [canvas.width, canvas.height] = [w, h];
    const img = new ImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      const v = Math.round(255 * (1 - raw.x[i * h * w + p]!));
      img.data.set([v, v, v, 255], p * 4);
    }
    canvas.getContext('2d')!.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.textContent = `${pred[i]}${pred[i] === raw.y[i] ? '' : ` (${raw.y[i]})`}`;
    fig.append(canvas, cap);
    return fig;
  }));
}

function guarded(fn: () => Promise<void>): () => void {
  return () => {
    fn().catch((e: unknown) => {
      console.error(e);
      setState('error', `error: ${(e as Error).message ?? String(e)}`);
    });
  };
}

el('load').addEventListener('click', guarded(load));
el('train').addEventListener('click', guarded(train));
for (const id of ['backend', 'size']) {
  el(id).addEventListener('change', () => {
    loaded = null;
    el('blocks').replaceChildren();
    setState('idle', 'settings changed: load the model again');
  });
}
void showAdapter().then(() => setState('idle', 'Pick a backend and load the model.'), (e: unknown) => setState('error', `error: ${(e as Error).message}`));
