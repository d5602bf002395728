/** @file `graft compare --task text`: spam/ham on the SpamAssassin corpus's labelled half, each method at each label budget, the table written as compare.md. */
import { stat } from 'node:fs/promises';
import { init, manualSeed } from '../../index.js';
import { loadSpamAssassin } from '../data/spam.js';
import { words } from '../data/text.js';
import { loadStateDictFile } from '../import/detect.js';
import { barChart } from '../report/svg.js';
import { type CompareRow, compareText, textSplits } from '../text/compare.js';
import { bertConfigBeside } from '../text/huggingface.js';
import { bertTokenizer } from '../text/tokenizers.js';
import { loadWordVectors } from '../text/vectors.js';
import type { spec } from './compare.js';
import { UsageError, type Values } from './options.js';
import { PRETRAINED_DIR } from './pretrain.js';
import { machine, runFolderName, writeRunFolder } from './runFolder.js';

const IMAGE_ONLY = ['layers', 'image-size', 'pool-grid'] as const;

export async function runTextCompare(o: Values<typeof spec>, given: ReadonlySet<string>): Promise<void> {
  const wrong = IMAGE_ONLY.filter((k) => given.has(k));
  if (wrong.length) throw new UsageError(`${wrong.map((k) => `--${k}`).join(', ')} applies only to --task image`, 'compare');
  const weights = o.weights ?? `${PRETRAINED_DIR}/model.safetensors`;
  if (!(await stat(weights).catch(() => null))) throw new UsageError(`--weights ${weights}: no such file (run 'npm run pretrain' first, or give a BERT checkpoint with its config.json)`, 'compare');
  const { file: configFile, config } = await bertConfigBeside(weights);
  if (!config) throw new UsageError(`--weights ${weights}: no ${configFile} beside it (Hugging Face's config.json names the model's sizes)`, 'compare');
  const budgets = given.has('budgets') ? o.budgets : [10, 50, 100, 500];
  const seed = o.seed;
  manualSeed(seed);
  const backend = await init({ backend: o.backend });
  const out = o.out ?? runFolderName('compare-text-');
  const corpus = await loadSpamAssassin(seed);
  const splits = textSplits(corpus.target, 100, 200, seed + 1);
  const tok = await bertTokenizer();
  const vocab = new Set([splits.pool, splits.val, splits.test].flatMap((d) => d.texts.flatMap(words)));
  const vectors = await loadWordVectors({ keep: vocab });
  const { tensors } = await loadStateDictFile(weights);
  const maxLen = config.maxPositionEmbeddings;
  console.error(`graft compare --task text: ${splits.pool.texts.length} labelled emails in the pool, 100 validation and 200 test per class; encoder from ${weights}; ${vectors.table.size} GloVe words; backend ${backend.name}`);
  const rows = await compareText(splits, tok, {
    budgets, seed, maxLen, config, pretrained: tensors, vectors,
    onRow: (r: CompareRow) => console.error(`${r.method.padEnd(44)} ${String(r.budget).padStart(4)}/class  ${(r.accuracy * 100).toFixed(1)}%  (${r.seconds.toFixed(1)} s, ${r.trainable} trainable)`),
  });
  const methods = [...new Set(rows.map((r) => r.method))];
  const cell = (m: string, b: number) => rows.find((r) => r.method === m && r.budget === b)!.accuracy * 100;
  const table = [`| method | ${budgets.map((b) => `${b} labels/class`).join(' | ')} |`, `|---|${budgets.map(() => '---:').join('|')}|`,
    ...methods.map((m) => `| ${m} | ${budgets.map((b) => `${cell(m, b).toFixed(1)}%`).join(' | ')} |`)].join('\n');
  const command = `graft compare --task text --budgets ${budgets.join(',')} --seed ${seed}`;
  await writeRunFolder(out, {
    'compare.md': `Test accuracy on ${splits.test.texts.length} SpamAssassin emails (200 ham, 200 spam), the epoch chosen on ${splits.val.texts.length} separate validation emails; command: ${command}\n\n${table}\n`,
    'compare.json': JSON.stringify({ command, budgets, weights, config, testSamples: splits.test.texts.length, machine: machine(backend.name), rows }, null, 2),
    'compare.svg': barChart(budgets.map((b) => `${b}/class`), methods.map((m) => ({ name: m.split(' (')[0]!.slice(0, 28), values: budgets.map((b) => cell(m, b)) })), { title: 'Text transfer: spam vs ham', xLabel: 'labels per class', yLabel: 'test accuracy (%)', yMax: 100 }),
  });
  console.log(`${table}\nwrote ${out}/compare.md, compare.json, compare.svg`);
}
