/** @file A run's report as one self-contained HTML page: curves, confusion matrix, per-class accuracy and the misclassified examples. */
import type { Dataset } from '../data/dataset.js';
import type { FinetuneReport } from '../finetune.js';
import { encodePng } from '../platform/node.js';
import { barChart, lineChart } from './svg.js';

export interface HtmlReportInput {
  title: string;
  model: string;
  data: string;
  report: FinetuneReport;
  /** The test set as the model saw it before any normalisation (images are shown from it). */
  test: Dataset;
  predictions: Int32Array;
  /** For text data: each test example's text, shown instead of an image. */
  texts?: readonly string[];
  /** How many misclassified examples to show (default 48). */
  maxExamples?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** counts[true][predicted]. */
export function confusionMatrix(y: Int32Array, predictions: Int32Array, classes: number): number[][] {
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < y.length; i++) m[y[i]!]![predictions[i]!]! += 1;
  return m;
}

/** One [C, H, W] sample in [0, 1] as a PNG data URL (grey for one channel). */
async function sampleImage(d: Dataset, i: number): Promise<string> {
  const [c, h, w] = d.shape as [number, number, number];
  const rgba = new Uint8Array(4 * h * w);
  const at = i * c * h * w;
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) rgba[4 * p + k] = Math.round(Math.min(1, Math.max(0, d.x[at + (c === 1 ? 0 : k) * h * w + p]!)) * 255);
    rgba[4 * p + 3] = 255;
  }
  const png = await encodePng({ width: w, height: h, data: rgba });
  let bin = '';
  for (const b of png) bin += String.fromCharCode(b);
  return `data:image/png;base64,${btoa(bin)}`;
}

export async function htmlReport(r: HtmlReportInput): Promise<string> {
  const { report, test, predictions } = r;
  const classes = test.classes;
  const cm = confusionMatrix(test.y, predictions, classes.length);
  const perClass = cm.map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    return { name: classes[c]!, n, accuracy: n ? row[c]! / n : 0 };
  });
  const curves = lineChart([
    { name: 'train loss', points: report.epochs.map((e) => [e.epoch, e.trainLoss]) },
    { name: 'validation loss', points: report.epochs.map((e) => [e.epoch, e.valLoss]) },
    { name: 'validation accuracy', points: report.epochs.map((e) => [e.epoch, e.valAccuracy]) },
  ], { title: 'loss and accuracy', xLabel: 'epoch', yLabel: 'loss / accuracy' });
  const bars = barChart(perClass.map((p) => p.name), [{ name: 'test accuracy', values: perClass.map((p) => p.accuracy) }], { title: 'test accuracy per class', xLabel: 'class', yLabel: 'accuracy', yMax: 1 });
  const top = Math.max(1, ...cm.flat());
  const matrix = `<table class="cm"><tr><th>true \\ predicted</th>${classes.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>${cm
    .map((row, t) => `<tr><th>${esc(classes[t]!)}</th>${row.map((v, p) => `<td style="background:rgba(${p === t ? '31,119,180' : '214,39,40'},${(v / top).toFixed(3)})">${v}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  const wrong = [...predictions.keys()].filter((i) => predictions[i] !== test.y[i]);
  const shown = wrong.slice(0, r.maxExamples ?? 48);
  const isImage = test.shape.length === 3 && (test.shape[0] === 1 || test.shape[0] === 3) && !r.texts;
  const cells: string[] = [];
  for (const i of shown) {
    const label = `true <b>${esc(classes[test.y[i]!]!)}</b>, predicted <b>${esc(classes[predictions[i]!]!)}</b>`;
    const body = isImage ? `<img src="${await sampleImage(test, i)}" alt="test example ${i}">` : `<p class="text">${esc((r.texts?.[i] ?? '').slice(0, 300))}</p>`;
    cells.push(`<figure>${body}<figcaption>#${i}: ${label}</figcaption></figure>`);
  }
  const acc = report.testAccuracy !== undefined ? `${(report.testAccuracy * 100).toFixed(1)}%` : 'n/a';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.summary td{padding:2px 12px 2px 0;vertical-align:top}
.cm{border-collapse:collapse}.cm th,.cm td{border:1px solid #ccc;padding:4px 8px;text-align:center}
.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:140px;font-size:11px}figure img{width:128px;height:128px;image-rendering:pixelated;border:1px solid #ccc}
.text{width:136px;height:96px;overflow:hidden;border:1px solid #ccc;margin:0;padding:2px;font-size:10px}
</style></head><body>
<h1>${esc(r.title)}</h1>
<table class="summary">
<tr><td>model</td><td>${esc(r.model)}</td></tr>
<tr><td>data</td><td>${esc(r.data)}</td></tr>
<tr><td>test accuracy</td><td id="test-accuracy">${acc} (best epoch ${report.best.epoch}, validation ${(report.best.valAccuracy * 100).toFixed(1)}%)</td></tr>
<tr><td>test examples</td><td>${test.n}, of which ${wrong.length} misclassified</td></tr>
<tr><td>parameters</td><td>${report.trainableParameters} trainable, ${report.frozenParameters} frozen</td></tr>
</table>
<h2>Curves</h2>${curves}
<h2>Confusion matrix (test)</h2>${matrix}
<h2>Per-class accuracy (test)</h2>${bars}
<table class="cm"><tr><th>class</th><th>examples</th><th>accuracy</th></tr>${perClass.map((p) => `<tr><td>${esc(p.name)}</td><td>${p.n}</td><td>${(p.accuracy * 100).toFixed(1)}%</td></tr>`).join('')}</table>
<h2>Misclassified examples${wrong.length > shown.length ? ` (first ${shown.length} of ${wrong.length})` : ''}</h2>
<div class="grid" id="misclassified">${cells.join('') || '<p>none</p>'}</div>
</body></html>
`;
}
