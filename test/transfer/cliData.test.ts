/** @file `graft finetune` on a user's own data and models: an image folder (PNG and JPEG), a text CSV, an ONNX file; the HTML report in Chromium. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../transfer/cli.js';
import { UsageError } from '../../transfer/cli/options.js';
import { chromiumPresent, launchChromium } from '../browser/chromium.js';
import { writeImageFolder } from './imageFolder.js';
import { onnxModel } from './onnxModels.js';

const root = mkdtempSync(join(tmpdir(), 'graft-cli-data-'));
const images = join(root, 'images');
writeImageFolder(images, 12);

const report = (out: string) => JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Record<string, unknown> & { testAccuracy: number; testSamples: number; data: string; model: string };
const quiet = ['--quiet', '--seed', '3'];

describe('graft finetune on your own data', () => {
  it('fine-tunes a small CNN on an image folder of PNG and JPEG files, splitting it with the seed, and writes the HTML report', async () => {
    const out = join(root, 'cnn');
    await main(['finetune', '--data', images, '--model', 'cnn', '--image-size', '32', '--epochs', '12', '--lr', '0.01', '--out', out, ...quiet]);
    const r = report(out);
    expect(r.data).toMatch(/image folder .* \(3 classes: circle, square, stripes; decoded at 32x32\); seeded split \(seed 3\) of 36 examples: 24 train, 6 validation, 6 test/);
    expect(r.testSamples).toBe(6);
    // The three patterns are easy: far above the 33% of chance.
    expect(r.testAccuracy).toBeGreaterThan(0.6);
    for (const f of ['report.html', 'best.safetensors', 'curve.svg']) expect(existsSync(join(out, f)), f).toBe(true);
  });

  it('takes MobileNetV2 by default and an .onnx model (torchvision ResNet-18) with its head replaced, normalised as torchvision expects', async () => {
    const def = join(root, 'default');
    await main(['finetune', '--data', images, '--epochs', '3', '--out', def, ...quiet]);
    expect(report(def).model).toMatch(/^MobileNetV2 \(nsfwjs weights\)/);
    const file = join(root, 'resnet18.onnx');
    writeFileSync(file, onnxModel('resnet18'));
    const out = join(root, 'onnx');
    await main(['finetune', '--data', images, '--model', file, '--epochs', '2', '--out', out, ...quiet]);
    const r = report(out);
    expect(r.model).toMatch(/resnet18\.onnx \(\d+ ONNX nodes, opset 13\), head '\/fc\/Gemm' replaced by Linear\(512, 3\), frozen: \/\^\(\?!head\\\.\)\/; input 3x64x64/);
    expect(r.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.trainableParameters).toBe(512 * 3 + 3);
  });

  it('fine-tunes the transformer on a text CSV, and ResNet-18 from scratch on images', async () => {
    const texts = join(root, 'sms.csv');
    const ham = ['see you at lunch today', 'the meeting moved to friday', 'can you call me later', 'thanks for the notes', 'dinner at seven works'];
    const spam = ['win cash now claim prize', 'free prize call now', 'cash bonus win now', 'claim your free cash', 'urgent prize waiting win'];
    writeFileSync(texts, `text,label\n${[...ham.map((t) => `${t},ham`), ...spam.map((t) => `${t},spam`)].join('\n')}\n`);
    const out = join(root, 'text');
    await main(['finetune', '--data', texts, '--epochs', '2', '--max-len', '8', '--out', out, ...quiet]);
    const r = report(out);
    expect(r.model).toMatch(/^Transformer encoder .*up to 8 words/);
    expect(r.data).toMatch(/CSV .*sms\.csv: text column; seeded split \(seed 3\): 6 train, 2 validation, 2 test/);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/class="text"|<p>none<\/p>/);
    const rn = join(root, 'resnet');
    await main(['finetune', '--data', images, '--model', 'resnet18', '--image-size', '32', '--epochs', '1', '--out', rn, ...quiet]);
    expect(report(rn).model).toBe('ResNet-18 from scratch');
  });

  it('refuses a model that cannot take the data, before any work', async () => {
    const cases: [string[], RegExp][] = [
      [['--data', images, '--model', 'transformer'], /--model transformer takes text data, but --data holds image data/],
      [['--data', images, '--model', 'vgg'], /--model expects one of mobilenetv2, resnet18, cnn, smallcnn, mlp, transformer, bert or an \.onnx file, got 'vgg'/],
      [['--data', images, '--model', join(root, 'missing.onnx')], /--model .*missing\.onnx: no such file/],
      [['--data', images, '--model', 'cnn', '--head', 'x'], /--head applies only to an \.onnx --model/],
      [['--data', join(images, 'circle', '0.png')], /--data .*0\.png: is one image; --data takes the folder of class folders/],
    ];
    for (const [args, msg] of cases) {
      const err = await main(['finetune', ...args, '--out', join(root, 'never')]).then(() => null, (e: unknown) => e);
      expect(err, args.join(' ')).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(msg);
    }
    expect(existsSync(join(root, 'never'))).toBe(false);
  });

  it.runIf(chromiumPresent)('the report opens offline in Chromium with its charts, confusion matrix and misclassified images', async () => {
    const out = join(root, 'weak');
    // A learning rate this small leaves the model near chance: there are misclassified examples to show.
    await main(['finetune', '--data', images, '--model', 'cnn', '--image-size', '32', '--epochs', '1', '--lr', '1e-9', '--out', out, ...quiet]);
    const { context, close } = await launchChromium(['--headless=new', '--no-sandbox'], { width: 1100, height: 900 });
    try {
      const page = await context.newPage();
      // Offline: any request leaving the file fails the test.
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
      });
      await page.goto(pathToFileURL(join(out, 'report.html')).href);
      expect(await page.locator('svg').count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator('table.cm').first().locator('td').count()).toBe(9);
      expect(await page.locator('#test-accuracy').textContent()).toMatch(/^\d+\.\d% \(best epoch/);
      const shown = await page.locator('#misclassified img').count();
      expect(shown).toBeGreaterThan(0);
      const loaded = await page.locator('#misclassified img').evaluateAll((els) => els.every((e) => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth === 32));
      expect(loaded).toBe(true);
      await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
      expect(readFileSync(join(out, 'report.png')).length).toBeGreaterThan(10000);
      expect(requests).toEqual([]);
    } finally {
      await close();
    }
  });
});
