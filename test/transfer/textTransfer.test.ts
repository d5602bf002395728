/** @file Text transfer end to end on real email: the SpamAssassin corpus, masked-LM pre-training, fine-tuning from the CLI (full and LoRA), and the comparison's methods. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, manualSeed } from '../../index.js';
import { main } from '../../transfer/cli.js';
import { emailText, loadSpamAssassin } from '../../transfer/data/spam.js';
import { subsetTexts } from '../../transfer/data/text.js';
import { compareText, meanVectors, textSplits } from '../../transfer/text/compare.js';
import { chunkTexts, maskBatch, pretrainMlm } from '../../transfer/text/pretrain.js';
import { bertTokenizer } from '../../transfer/text/tokenizers.js';
import { loadWordVectors } from '../../transfer/text/vectors.js';
import { BertForMaskedLM } from '../../transfer/zoo/bert.js';

const root = mkdtempSync(join(tmpdir(), 'graft-text-'));
const corpus = await loadSpamAssassin(0);
const tok = await bertTokenizer();
const tiny = { vocabSize: tok.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 32 };

describe('text transfer', () => {
  it('reads the SpamAssassin corpus as subject and body text, split into disjoint pre-training and labelled halves', () => {
    expect(emailText('From: a@b\nSubject: Cheap <b>pills</b>\n\n<html><p>Buy&nbsp;now</p>\n<style>p{}</style>ok</html>')).toBe('Cheap <b>pills</b> Buy now ok');
    const total = corpus.pretrain.length + corpus.target.texts.length;
    expect(total).toBeGreaterThan(5500);
    expect(total).toBeLessThanOrEqual(6046);
    expect(Math.abs(corpus.pretrain.length - corpus.target.texts.length)).toBeLessThanOrEqual(1);
    const spam = corpus.target.y.filter((y) => y === 1).length;
    expect(spam).toBeGreaterThan(800);
    expect(corpus.target.texts.length - spam).toBeGreaterThan(1800);
    const pre = new Set(corpus.pretrain);
    expect(corpus.target.texts.filter((t) => pre.has(t))).toEqual([]);
  });

  it("masks as BERT does and pre-training lowers the held-out masked-LM loss", async () => {
    const seqs = chunkTexts(corpus.pretrain.slice(0, 20), tok, 32);
    expect(seqs.every((s) => s[0] === tok.clsId && s[s.length - 1] === tok.sepId && s.length <= 32)).toBe(true);
    const b = maskBatch(seqs.slice(0, 8), tok, new Generator(1));
    const ids = b.ids.dataSync();
    const pos = Array.from(b.positions.dataSync());
    const len = b.ids.shape[1]!;
    // Never [CLS] or [SEP], at least one per row, and most of the chosen positions show [MASK].
    expect(pos.every((p) => p % len !== 0 && ids[p] !== tok.sepId)).toBe(true);
    expect(new Set(pos.map((p) => Math.floor(p / len))).size).toBe(8);
    expect(pos.filter((p) => ids[p] === tok.maskId).length / pos.length).toBeGreaterThan(0.6);
    manualSeed(0);
    const model = new BertForMaskedLM(tiny);
    const log = await pretrainMlm(model, corpus.pretrain.slice(0, 300), tok, { steps: 40, batchSize: 16, maxLen: 32, lr: 3e-3, seed: 0, evalEvery: 20 });
    expect(log).toHaveLength(2);
    expect(log[0]!.valLoss!).toBeLessThan(Math.log(tok.vocabSize));
    expect(log[1]!.valLoss!).toBeLessThan(log[0]!.valLoss!);
    expect(log[1]!.valPerplexity).toBeCloseTo(Math.exp(log[1]!.valLoss!), 6);
  }, 60_000);

  it('pre-trains from the CLI, then fine-tunes on labelled spam from it: fully, and with LoRA adapters only', async () => {
    const pre = join(root, 'pre');
    await main(['pretrain', '--steps', '6', '--batch-size', '8', '--max-len', '32', '--hidden', '16', '--layers', '1', '--heads', '2', '--out', pre, '--quiet']);
    const config = JSON.parse(readFileSync(join(pre, 'config.json'), 'utf8')) as Record<string, number>;
    expect(config).toMatchObject({ hidden_size: 16, num_hidden_layers: 1, max_position_embeddings: 32, vocab_size: 30522 });
    const common = ['finetune', '--task', 'text', '--weights', join(pre, 'model.safetensors'), '--labels-per-class', '10', '--epochs', '2', '--max-len', '32', '--quiet'];
    const full = join(root, 'full');
    await main([...common, '--out', full]);
    const r = JSON.parse(readFileSync(join(full, 'report.json'), 'utf8')) as { testSamples: number; valSamples: number; trainSamples: number; model: string; data: string; trainableParameters: number };
    expect([r.trainSamples, r.valSamples, r.testSamples]).toEqual([20, 200, 400]);
    expect(r.model).toMatch(/^BERT encoder \(1 layers, hidden 16\) .*all of it fine-tuned/);
    expect(r.data).toMatch(/SpamAssassin public corpus .*labelled half/);
    const lora = join(root, 'lora');
    await main([...common, '--lora', '4', '--out', lora]);
    const l = JSON.parse(readFileSync(join(lora, 'report.json'), 'utf8')) as { trainableParameters: number; model: string };
    // Rank-4 A and B on query and value (16 -> 16) plus the 16 -> 2 head.
    expect(l.trainableParameters).toBe(2 * (4 * 16 + 16 * 4) + 16 * 2 + 2);
    expect(l.model).toMatch(/LoRA rank 4/);
    expect(readFileSync(join(lora, 'report.html'), 'utf8')).toContain('class="text"');
  }, 60_000);

  it('compares every method on the same draws, GloVe included, and reads word vectors from the wink layout', async () => {
    const vectorsFile = join(root, 'vectors.json');
    writeFileSync(vectorsFile, JSON.stringify({ dimensions: 3, vectors: { cash: [1, 0, 0, 1, 0], free: [1, 1, 0, 1, 1], meeting: [0, 0, 1, 1, 2] } }));
    const v = await loadWordVectors({ from: vectorsFile, keep: new Set(['cash', 'meeting']) });
    expect([...v.table.keys()]).toEqual(['cash', 'meeting']);
    const f = meanVectors({ texts: ['Cash, cash and a meeting', 'nothing known'], y: Int32Array.from([1, 0]), classes: ['ham', 'spam'] }, v.table, 3);
    [2 / 3, 0, 1 / 3, 0, 0, 0].forEach((want, i) => expect(f.x[i]).toBeCloseTo(want, 6));
    const small = subsetTexts(corpus.target, Array.from({ length: 400 }, (_, i) => i));
    const splits = textSplits(small, 10, 20, 1);
    expect(splits.val.texts.length).toBe(20);
    manualSeed(0);
    const pretrained = new BertForMaskedLM(tiny).stateDict();
    const rows = await compareText(splits, tok, { budgets: [4], seed: 0, maxLen: 32, config: tiny, pretrained, vectors: v, epochsFor: () => 2 });
    expect(rows.map((r) => r.method)).toEqual([
      'from scratch (same encoder, random init)', 'frozen pre-trained encoder + linear head', 'LoRA rank 4 (query, value) + head',
      'LoRA rank 8 (query, value) + head', 'full fine-tune of the pre-trained encoder', 'frozen GloVe vectors (mean) + linear head',
    ]);
    for (const r of rows) expect(r.accuracy).toBeGreaterThanOrEqual(0);
    expect(rows[2]!.trainable).toBeLessThan(rows[4]!.trainable / 100);
  }, 60_000);
});
