/** @file Masked-language-model pre-training of a BERT encoder on plain text: BERT's masking rule, loss on the masked positions only, held-out perplexity. */
import { Generator, GraftValueError, type Tensor, functional as F, noGrad, optim, permutation, tensor, tidy } from '../../index.js';
import type { BertForMaskedLM } from '../zoo/bert.js';
import type { BertTokenizer } from './tokenizers.js';

export interface PretrainOptions {
  steps: number;
  batchSize: number;
  /** Tokens per sequence, [CLS] and [SEP] included. */
  maxLen: number;
  lr: number;
  seed: number;
  /** Sequences held out for perplexity (default 5%, at most 256). */
  heldOut?: number;
  /** Evaluate every this many steps (default steps / 10). */
  evalEvery?: number;
  onLog?: (r: PretrainLog) => void;
}

export interface PretrainLog {
  step: number;
  trainLoss: number;
  valLoss?: number;
  valPerplexity?: number;
  seconds: number;
}

/** Each text's ids cut into sequences of maxLen - 2 word pieces, each as [CLS] ... [SEP]. */
export function chunkTexts(texts: readonly string[], tok: BertTokenizer, maxLen: number): Int32Array[] {
  const out: Int32Array[] = [];
  const body = maxLen - 2;
  for (const t of texts) {
    // Long emails add little past their first few thousand characters and would dominate the corpus.
    const ids = tok.encode(t.slice(0, 6000));
    for (let i = 0; i < ids.length; i += body) {
      const piece = ids.slice(i, i + body);
      if (piece.length < 8) continue;
      out.push(Int32Array.from([tok.clsId, ...piece, tok.sepId]));
    }
  }
  return out;
}

interface MaskedBatch {
  ids: Tensor;
  attention: Tensor;
  /** Flat indices into [B * L] of the positions to predict, and their original ids. */
  positions: Tensor;
  labels: Tensor;
}

/**
 * BERT's rule: 15% of the real word pieces are predicted; of those 80% become [MASK], 10% a random
 * id and 10% stay. At least one position per sequence is predicted.
 */
export function maskBatch(seqs: readonly Int32Array[], tok: BertTokenizer, g: Generator): MaskedBatch {
  const len = Math.max(...seqs.map((s) => s.length));
  const ids = new Int32Array(seqs.length * len);
  const attention = new Int32Array(seqs.length * len);
  const positions: number[] = [];
  const labels: number[] = [];
  seqs.forEach((s, b) => {
    const base = b * len;
    ids.set(s, base);
    attention.fill(1, base, base + s.length);
    const chosen: number[] = [];
    for (let i = 1; i < s.length - 1; i++) if (g.uniform() < 0.15) chosen.push(i);
    if (!chosen.length) chosen.push(1 + Math.floor(g.uniform() * (s.length - 2)));
    for (const i of chosen) {
      positions.push(base + i);
      labels.push(s[i]!);
      const r = g.uniform();
      // Random ids are drawn past the special and unused tokens (BERT's vocabulary starts its words at 999).
      if (r < 0.8) ids[base + i] = tok.maskId;
      else if (r < 0.9) ids[base + i] = 999 + Math.floor(g.uniform() * (tok.vocabSize - 999));
    }
  });
  const shape = [seqs.length, len];
  return { ids: tensor(ids, { shape, dtype: 'i32' }), attention: tensor(attention, { shape, dtype: 'i32' }), positions: tensor(positions, { dtype: 'i32' }), labels: tensor(labels, { dtype: 'i32' }) };
}

/** Mean cross-entropy of the masked positions' predictions. */
export function mlmLoss(model: BertForMaskedLM, b: MaskedBatch): Tensor {
  const h = model.bert.forward(b.ids, b.attention);
  const hidden = h.reshape([-1, h.shape[2]!]).indexSelect(0, b.positions);
  return F.crossEntropy(model.cls.forward(hidden, model.bert.embeddings.word_embeddings.weight), b.labels);
}

/** Trains `model` with AdamW (linear warm-up over 5% of the steps, then linear decay, as BERT did) and returns the log. */
export async function pretrainMlm(model: BertForMaskedLM, texts: readonly string[], tok: BertTokenizer, o: PretrainOptions): Promise<PretrainLog[]> {
  if (o.maxLen > model.config.maxPositionEmbeddings) throw new GraftValueError(`pretrain: maxLen ${o.maxLen} is more than the model's ${model.config.maxPositionEmbeddings} positions`);
  const g = new Generator(o.seed);
  const all = chunkTexts(texts, tok, o.maxLen);
  const order = permutation(all.length, g);
  const nHeld = o.heldOut ?? Math.min(256, Math.floor(all.length * 0.05));
  if (all.length - nHeld < o.batchSize) throw new GraftValueError(`pretrain: ${all.length} sequences of text are too few for batches of ${o.batchSize}`);
  const held = Array.from(order.subarray(0, nHeld), (i) => all[i]!);
  const train = Array.from(order.subarray(nHeld), (i) => all[i]!);
  // Held-out masks are drawn once, so every evaluation scores the same predictions.
  const heldBatches: Int32Array[][] = [];
  for (let i = 0; i < held.length; i += o.batchSize) heldBatches.push(held.slice(i, i + o.batchSize));
  const evalGen = new Generator(o.seed + 1);
  const heldMasked = heldBatches.map((b) => maskBatch(b, tok, evalGen));
  const opt = new optim.AdamW(model.parameters(), { lr: o.lr, weightDecay: 0.01 });
  const warm = Math.max(1, Math.round(o.steps * 0.05));
  const every = o.evalEvery ?? Math.max(1, Math.round(o.steps / 10));
  const log: PretrainLog[] = [];
  const t0 = performance.now();
  let cursor = train.length;
  let perm = permutation(train.length, g);
  let running = 0;
  let counted = 0;
  for (let step = 1; step <= o.steps; step++) {
    if (cursor + o.batchSize > train.length) {
      perm = permutation(train.length, g);
      cursor = 0;
    }
    const seqs = Array.from(perm.subarray(cursor, cursor + o.batchSize), (i) => train[i]!);
    cursor += o.batchSize;
    opt.paramGroups[0]!.lr = o.lr * Math.min(step / warm, Math.max(0, (o.steps - step) / Math.max(1, o.steps - warm)));
    model.train();
    const loss = tidy(() => {
      const l = mlmLoss(model, maskBatch(seqs, tok, g));
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l.detach();
    });
    running += (await loss.data())[0]!;
    counted++;
    loss.dispose();
    if (step % every === 0 || step === o.steps) {
      model.eval();
      let total = 0;
      let n = 0;
      for (const b of heldMasked) {
        const l = tidy(() => noGrad(() => mlmLoss(model, b)));
        const count = b.labels.shape[0]!;
        total += (await l.data())[0]! * count;
        n += count;
        l.dispose();
      }
      const entry = { step, trainLoss: running / counted, valLoss: total / n, valPerplexity: Math.exp(total / n), seconds: (performance.now() - t0) / 1000 };
      running = 0;
      counted = 0;
      log.push(entry);
      o.onLog?.(entry);
    }
  }
  return log;
}
