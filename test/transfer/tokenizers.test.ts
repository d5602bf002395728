/** @file BERT's WordPiece and GPT-2's BPE ids against published reference encodings; padding, truncation, masks and special tokens. */
import { describe, expect, it } from 'vitest';
import { GraftValueError } from '../../index.js';
import { bertTokenizer, gpt2Tokenizer } from '../../transfer/text/tokenizers.js';

const bert = await bertTokenizer();
const gpt2 = gpt2Tokenizer();

describe('tokenizers', () => {
  it("BERT uncased: Hugging Face's reference ids, lower-casing, accent stripping, WordPiece continuations", () => {
    // transformers' BertModel example and the BERT paper's "strawberries".
    expect(bert.withSpecials(bert.encode('Hello, my dog is cute'))).toEqual([101, 7592, 1010, 2026, 3899, 2003, 10140, 102]);
    expect(bert.encode('i like strawberries')).toEqual([1045, 2066, 13137, 20968]);
    expect(bert.encode('I LIKE Strawberries')).toEqual([1045, 2066, 13137, 20968]);
    expect(bert.encode('résumé')).toEqual(bert.encode('resume'));
    expect(bert.decode([7592, 1010, 2026, 3899, 2003, 10140])).toBe('hello, my dog is cute');
    expect(bert.vocab[20968]).toBe('##berries');
    expect(bert.vocabSize).toBe(30522);
  });

  it("GPT-2: byte-level BPE ids of Hugging Face's examples, and exact round trips of any text", () => {
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
    expect(gpt2.encode('Hello, my dog is cute')).toEqual([15496, 11, 616, 3290, 318, 13779]);
    for (const t of ['naïve café 🤖 ünïcödé', '  spaces\tand\nnewlines  ', 'x'.repeat(200)]) expect(gpt2.decode(gpt2.encode(t))).toBe(t);
    // A special token written in the text stays text: a user's data cannot end a sequence.
    expect(gpt2.encode('<|endoftext|>')).not.toContain(50256);
  });

  it('batches with padding to the longest or to maxLength, truncation that keeps the special tokens, and attention masks', async () => {
    const b = bert.batch(['hello world', 'a much longer sentence here'], { maxLength: 6 });
    expect(b.inputIds.shape).toEqual([2, 6]);
    expect(Array.from(b.inputIds.dataSync())).toEqual([101, 7592, 2088, 102, 0, 0, 101, 1037, 2172, 2936, 6251, 102]);
    expect(Array.from(b.attentionMask.dataSync())).toEqual([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(b.tokenTypeIds.dataSync())).toEqual(new Array(12).fill(0));
    expect(bert.batch(['hi'], { maxLength: 5, padding: 'max_length' }).inputIds.shape).toEqual([1, 5]);
    expect(Array.from(bert.batch(['hi'], { addSpecialTokens: false }).inputIds.dataSync())).toEqual([7632]);
    const g = gpt2.batch(['Hello world', 'Hello'], {});
    expect(Array.from(g.inputIds.dataSync())).toEqual([15496, 995, 15496, 50256]);
    expect(Array.from(g.attentionMask.dataSync())).toEqual([1, 1, 1, 0]);
    expect(() => bert.batch(['one two three four'], { maxLength: 4, truncation: false })).toThrow(/text 0 has 4 tokens, more than maxLength 4 allows, and truncation is off/);
    expect(() => bert.batch([], {})).toThrow(GraftValueError);
    expect(() => bert.batch(['x'], { maxLength: 2 })).toThrow(/maxLength must be an integer >= 3/);
    await expect(bertTokenizer({ vocab: new TextEncoder().encode('["a","b"]') })).rejects.toThrow(/expected BERT's uncased vocabulary \(30522 tokens/);
  });
});
