/** @file Text to token ids: a word vocabulary fitted on the training texts, padded and truncated sequences as a dataset. */
import { GraftValueError } from '../../index.js';
import type { Dataset } from './dataset.js';

/** Labelled texts before tokenisation. */
export interface TextData {
  texts: string[];
  y: Int32Array;
  classes: string[];
}

export const PAD = 0;
export const UNK = 1;

/** Lower-cased runs of letters and digits (Unicode-aware); every other character separates words. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** The most frequent words of the training texts, ids from 2 ([PAD] = 0, [UNK] = 1); ties broken alphabetically so a fit is reproducible. */
export class WordVocab {
  readonly ids = new Map<string, number>();
  constructor(readonly words: readonly string[]) {
    words.forEach((w, i) => this.ids.set(w, i + 2));
  }
  get size(): number {
    return this.words.length + 2;
  }
  static fit(texts: readonly string[], maxWords = 20000): WordVocab {
    if (!Number.isInteger(maxWords) || maxWords < 1) throw new GraftValueError(`WordVocab.fit: maxWords must be a positive integer, got ${maxWords}`);
    const count = new Map<string, number>();
    for (const t of texts) for (const w of words(t)) count.set(w, (count.get(w) ?? 0) + 1);
    const sorted = [...count].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return new WordVocab(sorted.slice(0, maxWords).map(([w]) => w));
  }
  /** Ids of the first `maxLen` words, padded with [PAD]. */
  encode(text: string, maxLen: number): Int32Array {
    const out = new Int32Array(maxLen);
    const ws = words(text);
    for (let i = 0; i < Math.min(maxLen, ws.length); i++) out[i] = this.ids.get(ws[i]!) ?? UNK;
    return out;
  }
}

/** Texts as a dataset of token ids [maxLen] (floats holding whole numbers, as datasets store samples). */
export function encodeTexts(d: TextData, vocab: WordVocab, maxLen: number): Dataset {
  const x = new Float32Array(d.texts.length * maxLen);
  d.texts.forEach((t, i) => x.set(vocab.encode(t, maxLen), i * maxLen));
  return { x, y: d.y, n: d.texts.length, shape: [maxLen], classes: d.classes };
}

export function subsetTexts(d: TextData, idx: readonly number[]): TextData {
  return { texts: idx.map((i) => d.texts[i]!), y: Int32Array.from(idx, (i) => d.y[i]!), classes: d.classes };
}
