/** @file A BERT encoder with Hugging Face's module names (bert.encoder.layer.0.attention.self.query.weight, ...): the base model, sequence classification and masked-LM heads. */
import { GraftShapeError, type Tensor, functional as F, fmtShape, nn, noGrad, randn, zeros } from '../../index.js';
import { keyMask } from './masks.js';

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize?: number;
  hiddenDropoutProb?: number;
  attentionProbsDropoutProb?: number;
  layerNormEps?: number;
}

/** bert-base-uncased's shape. */
export const BERT_BASE: BertConfig = { vocabSize: 30522, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072, maxPositionEmbeddings: 512 };

const eps = (c: BertConfig) => c.layerNormEps ?? 1e-12;

/** Token, position and segment embeddings, summed and normalised. */
export class BertEmbeddings extends nn.Module {
  word_embeddings: nn.Embedding;
  position_embeddings: nn.Embedding;
  token_type_embeddings: nn.Embedding;
  LayerNorm: nn.LayerNorm;
  dropout: nn.Dropout;
  constructor(readonly config: BertConfig) {
    super();
    this.word_embeddings = new nn.Embedding(config.vocabSize, config.hiddenSize);
    this.position_embeddings = new nn.Embedding(config.maxPositionEmbeddings, config.hiddenSize);
    this.token_type_embeddings = new nn.Embedding(config.typeVocabSize ?? 2, config.hiddenSize);
    this.LayerNorm = new nn.LayerNorm(config.hiddenSize, { eps: eps(config) });
    this.dropout = new nn.Dropout(config.hiddenDropoutProb ?? 0.1);
  }
  forward(ids: Tensor, tokenTypeIds?: Tensor): Tensor {
    const l = ids.shape[1]!;
    if (l > this.config.maxPositionEmbeddings) throw new GraftShapeError(`BertEmbeddings: sequence of ${l} tokens is longer than maxPositionEmbeddings ${this.config.maxPositionEmbeddings}`);
    let x = this.word_embeddings.forward(ids).add(this.position_embeddings.weight.narrow(0, 0, l));
    x = x.add(tokenTypeIds ? this.token_type_embeddings.forward(tokenTypeIds) : this.token_type_embeddings.weight.select(0, 0));
    return this.dropout.forward(this.LayerNorm.forward(x));
  }
}

/** Multi-head self-attention: query, key and value projections, scaled dot-product attention over the heads. */
export class BertSelfAttention extends nn.Module {
  query: nn.Linear;
  key: nn.Linear;
  value: nn.Linear;
  constructor(readonly config: BertConfig) {
    super();
    const h = config.hiddenSize;
    if (h % config.numAttentionHeads) throw new GraftShapeError(`BertSelfAttention: hidden size ${h} is not a multiple of ${config.numAttentionHeads} heads`);
    this.query = new nn.Linear(h, h);
    this.key = new nn.Linear(h, h);
    this.value = new nn.Linear(h, h);
  }
  /** mask: [B, 1, 1, L] booleans, true where a key may be attended to. */
  forward(x: Tensor, mask?: Tensor): Tensor {
    const [b, l, h] = x.shape as [number, number, number];
    const heads = this.config.numAttentionHeads;
    const split = (t: Tensor) => t.reshape([b, l, heads, h / heads]).transpose(1, 2);
    const ctx = F.scaledDotProductAttention(split(this.query.forward(x)), split(this.key.forward(x)), split(this.value.forward(x)), {
      attnMask: mask, dropoutP: this.training ? (this.config.attentionProbsDropoutProb ?? 0.1) : 0,
    });
    return ctx.transpose(1, 2).reshape([b, l, h]);
  }
}

/** dense -> dropout -> LayerNorm(+ residual): the output of attention and of the feed-forward block. */
export class BertOutput extends nn.Module {
  dense: nn.Linear;
  LayerNorm: nn.LayerNorm;
  dropout: nn.Dropout;
  constructor(inF: number, config: BertConfig) {
    super();
    this.dense = new nn.Linear(inF, config.hiddenSize);
    this.LayerNorm = new nn.LayerNorm(config.hiddenSize, { eps: eps(config) });
    this.dropout = new nn.Dropout(config.hiddenDropoutProb ?? 0.1);
  }
  forward(x: Tensor, residual?: Tensor): Tensor {
    return this.LayerNorm.forward(this.dropout.forward(this.dense.forward(x)).add(residual!));
  }
}

export class BertAttention extends nn.Module {
  self: BertSelfAttention;
  output: BertOutput;
  constructor(config: BertConfig) {
    super();
    this.self = new BertSelfAttention(config);
    this.output = new BertOutput(config.hiddenSize, config);
  }
  forward(x: Tensor, mask?: Tensor): Tensor {
    return this.output.forward(this.self.forward(x, mask), x);
  }
}

export class BertIntermediate extends nn.Module {
  dense: nn.Linear;
  constructor(config: BertConfig) {
    super();
    this.dense = new nn.Linear(config.hiddenSize, config.intermediateSize);
  }
  forward(x: Tensor): Tensor {
    return F.gelu(this.dense.forward(x));
  }
}

export class BertLayer extends nn.Module {
  attention: BertAttention;
  intermediate: BertIntermediate;
  output: BertOutput;
  constructor(config: BertConfig) {
    super();
    this.attention = new BertAttention(config);
    this.intermediate = new BertIntermediate(config);
    this.output = new BertOutput(config.intermediateSize, config);
  }
  forward(x: Tensor, mask?: Tensor): Tensor {
    const a = this.attention.forward(x, mask);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

export class BertEncoder extends nn.Module {
  layer: nn.ModuleList;
  constructor(config: BertConfig) {
    super();
    this.layer = new nn.ModuleList(Array.from({ length: config.numHiddenLayers }, () => new BertLayer(config)));
  }
  forward(x: Tensor, mask?: Tensor): Tensor {
    let y = x;
    for (const l of this.layer) y = (l as BertLayer).forward(y, mask);
    return y;
  }
}

export class BertPooler extends nn.Module {
  dense: nn.Linear;
  constructor(config: BertConfig) {
    super();
    this.dense = new nn.Linear(config.hiddenSize, config.hiddenSize);
  }
  /** tanh(dense(h[:, 0])): the [CLS] token's state. */
  forward(h: Tensor): Tensor {
    return this.dense.forward(h.select(1, 0)).tanh();
  }
}

/**
 * Hugging Face's initialisation of a fresh BERT (initializer_range 0.02): every Linear and Embedding
 * weight from N(0, 0.02), biases zero, LayerNorm one and zero. PyTorch's own defaults (N(0, 1)
 * embeddings, tied to the masked-LM decoder) make the first logits far too large.
 */
export function initBertWeights(m: nn.Module, std = 0.02): void {
  noGrad(() => {
    for (const mod of m.modules()) {
      if (mod instanceof nn.Linear) {
        mod.weight.copy_(randn(mod.weight.shape).mul(std));
        mod.bias?.zero_();
      } else if (mod instanceof nn.Embedding) mod.weight.copy_(randn(mod.weight.shape).mul(std));
    }
  });
}

/** BertModel: the hidden states [B, L, H] (and the pooled [CLS] state when it has a pooler). */
export class BertModel extends nn.Module {
  embeddings: BertEmbeddings;
  encoder: BertEncoder;
  pooler: BertPooler | null;
  constructor(
    readonly config: BertConfig,
    opts: { addPoolingLayer?: boolean } = {},
  ) {
    super();
    this.embeddings = new BertEmbeddings(config);
    this.encoder = new BertEncoder(config);
    this.pooler = opts.addPoolingLayer === false ? null : new BertPooler(config);
    initBertWeights(this);
  }
  forward(inputIds: Tensor, attentionMask?: Tensor, tokenTypeIds?: Tensor): Tensor {
    if (inputIds.ndim !== 2) throw new GraftShapeError(`BertModel: input ids must be [batch, length], got ${fmtShape(inputIds.shape)}`);
    const ids = inputIds.dtype === 'i32' ? inputIds : inputIds.cast('i32');
    return this.encoder.forward(this.embeddings.forward(ids, tokenTypeIds), keyMask('BertModel', ids, attentionMask));
  }
}

/** BertForSequenceClassification: the pooled [CLS] state -> dropout -> classifier. */
export class BertForSequenceClassification extends nn.Module {
  bert: BertModel;
  dropout: nn.Dropout;
  classifier: nn.Linear;
  constructor(
    readonly config: BertConfig,
    numLabels: number,
  ) {
    super();
    this.bert = new BertModel(config);
    this.dropout = new nn.Dropout(config.hiddenDropoutProb ?? 0.1);
    this.classifier = new nn.Linear(config.hiddenSize, numLabels);
    initBertWeights(this.classifier);
  }
  forward(inputIds: Tensor, attentionMask?: Tensor, tokenTypeIds?: Tensor): Tensor {
    const pooled = this.bert.pooler!.forward(this.bert.forward(inputIds, attentionMask, tokenTypeIds));
    return this.classifier.forward(this.dropout.forward(pooled));
  }
  replaceHead(numLabels: number): this {
    this.classifier = new nn.Linear(this.config.hiddenSize, numLabels);
    return this;
  }
}

export class BertPredictionHeadTransform extends nn.Module {
  dense: nn.Linear;
  LayerNorm: nn.LayerNorm;
  constructor(config: BertConfig) {
    super();
    this.dense = new nn.Linear(config.hiddenSize, config.hiddenSize);
    this.LayerNorm = new nn.LayerNorm(config.hiddenSize, { eps: eps(config) });
  }
  forward(x: Tensor): Tensor {
    return this.LayerNorm.forward(F.gelu(this.dense.forward(x)));
  }
}

/** cls.predictions: transform, then scores over the vocabulary through the word embeddings (tied, as Hugging Face ties them) plus a bias. */
export class BertLMPredictionHead extends nn.Module {
  transform: BertPredictionHeadTransform;
  bias: nn.Parameter;
  constructor(config: BertConfig) {
    super();
    this.transform = new BertPredictionHeadTransform(config);
    this.bias = nn.Parameter.own(zeros([config.vocabSize]));
  }
  /** Scores over the vocabulary, decoded through `wordEmbeddings` [vocab, hidden]. */
  forward(h: Tensor, wordEmbeddings?: Tensor): Tensor {
    return this.transform.forward(h).matmul(wordEmbeddings!.transpose(0, 1)).add(this.bias);
  }
}

export class BertOnlyMLMHead extends nn.Module {
  predictions: BertLMPredictionHead;
  constructor(config: BertConfig) {
    super();
    this.predictions = new BertLMPredictionHead(config);
  }
  forward(h: Tensor, wordEmbeddings?: Tensor): Tensor {
    return this.predictions.forward(h, wordEmbeddings);
  }
}

/** BertForMaskedLM: [B, L, vocab] scores for every position (no pooler, as Hugging Face builds it). */
export class BertForMaskedLM extends nn.Module {
  bert: BertModel;
  cls: BertOnlyMLMHead;
  constructor(readonly config: BertConfig) {
    super();
    this.bert = new BertModel(config, { addPoolingLayer: false });
    this.cls = new BertOnlyMLMHead(config);
    initBertWeights(this.cls);
  }
  forward(inputIds: Tensor, attentionMask?: Tensor, tokenTypeIds?: Tensor): Tensor {
    return this.cls.forward(this.bert.forward(inputIds, attentionMask, tokenTypeIds), this.bert.embeddings.word_embeddings.weight);
  }
}
