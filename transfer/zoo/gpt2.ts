/** @file A GPT-2 decoder with Hugging Face's module names (transformer.h.0.attn.c_attn.weight in GPT-2's Conv1D [in, out] layout): the base model, the LM head and sequence classification. */
import { GraftShapeError, type Tensor, functional as F, fmtShape, nn, randn, zeros } from '../../index.js';
import { keyMask } from './masks.js';

export interface Gpt2Config {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** Feed-forward width (default 4 * nEmbd). */
  nInner?: number;
  layerNormEpsilon?: number;
  /** Dropout on embeddings, attention weights and residual branches (GPT-2's 0.1 each). */
  dropout?: number;
}

/** The 124M GPT-2's shape. */
export const GPT2_SMALL: Gpt2Config = { vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 12, nHead: 12 };

/** GPT-2's linear layer: weight [in, out] (transposed from nn.Linear), y = x W + b. */
export class Conv1D extends nn.Module {
  weight: nn.Parameter;
  bias: nn.Parameter;
  constructor(
    readonly nf: number,
    readonly nx: number,
  ) {
    super();
    this.weight = nn.Parameter.own(randn([nx, nf]).mul(0.02));
    this.bias = nn.Parameter.own(zeros([nf]));
  }
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.nx) throw new GraftShapeError(`Conv1D: input ${fmtShape(x.shape)} does not end in ${this.nx}`);
    return x.matmul(this.weight).add(this.bias);
  }
}

export class GPT2Attention extends nn.Module {
  c_attn: Conv1D;
  c_proj: Conv1D;
  resid_dropout: nn.Dropout;
  constructor(readonly config: Gpt2Config) {
    super();
    const h = config.nEmbd;
    if (h % config.nHead) throw new GraftShapeError(`GPT2Attention: nEmbd ${h} is not a multiple of ${config.nHead} heads`);
    this.c_attn = new Conv1D(3 * h, h);
    this.c_proj = new Conv1D(h, h);
    this.resid_dropout = new nn.Dropout(config.dropout ?? 0.1);
  }
  /** Causal self-attention; mask: [B, 1, 1, L] booleans, false at padded keys. */
  forward(x: Tensor, mask?: Tensor): Tensor {
    const [b, l, h] = x.shape as [number, number, number];
    const heads = this.config.nHead;
    const [q, k, v] = this.c_attn.forward(x).split(h, 2).map((t) => t.reshape([b, l, heads, h / heads]).transpose(1, 2)) as [Tensor, Tensor, Tensor];
    const ctx = F.scaledDotProductAttention(q, k, v, { attnMask: mask, isCausal: true, dropoutP: this.training ? (this.config.dropout ?? 0.1) : 0 });
    return this.resid_dropout.forward(this.c_proj.forward(ctx.transpose(1, 2).reshape([b, l, h])));
  }
}

export class GPT2MLP extends nn.Module {
  c_fc: Conv1D;
  c_proj: Conv1D;
  dropout: nn.Dropout;
  constructor(config: Gpt2Config) {
    super();
    const inner = config.nInner ?? 4 * config.nEmbd;
    this.c_fc = new Conv1D(inner, config.nEmbd);
    this.c_proj = new Conv1D(config.nEmbd, inner);
    this.dropout = new nn.Dropout(config.dropout ?? 0.1);
  }
  forward(x: Tensor): Tensor {
    // GPT-2's gelu_new: the tanh approximation.
    return this.dropout.forward(this.c_proj.forward(F.gelu(this.c_fc.forward(x), { approximate: 'tanh' })));
  }
}

export class GPT2Block extends nn.Module {
  ln_1: nn.LayerNorm;
  attn: GPT2Attention;
  ln_2: nn.LayerNorm;
  mlp: GPT2MLP;
  constructor(config: Gpt2Config) {
    super();
    const eps = config.layerNormEpsilon ?? 1e-5;
    this.ln_1 = new nn.LayerNorm(config.nEmbd, { eps });
    this.attn = new GPT2Attention(config);
    this.ln_2 = new nn.LayerNorm(config.nEmbd, { eps });
    this.mlp = new GPT2MLP(config);
  }
  forward(x: Tensor, mask?: Tensor): Tensor {
    const a = x.add(this.attn.forward(this.ln_1.forward(x), mask));
    return a.add(this.mlp.forward(this.ln_2.forward(a)));
  }
}

/** GPT2Model: token and position embeddings, the blocks, the final LayerNorm: [B, L, nEmbd]. */
export class GPT2Model extends nn.Module {
  wte: nn.Embedding;
  wpe: nn.Embedding;
  drop: nn.Dropout;
  h: nn.ModuleList;
  ln_f: nn.LayerNorm;
  constructor(readonly config: Gpt2Config) {
    super();
    this.wte = new nn.Embedding(config.vocabSize, config.nEmbd);
    this.wpe = new nn.Embedding(config.nPositions, config.nEmbd);
    this.drop = new nn.Dropout(config.dropout ?? 0.1);
    this.h = new nn.ModuleList(Array.from({ length: config.nLayer }, () => new GPT2Block(config)));
    this.ln_f = new nn.LayerNorm(config.nEmbd, { eps: config.layerNormEpsilon ?? 1e-5 });
  }
  forward(inputIds: Tensor, attentionMask?: Tensor): Tensor {
    if (inputIds.ndim !== 2) throw new GraftShapeError(`GPT2Model: input ids must be [batch, length], got ${fmtShape(inputIds.shape)}`);
    const l = inputIds.shape[1]!;
    if (l > this.config.nPositions) throw new GraftShapeError(`GPT2Model: sequence of ${l} tokens is longer than nPositions ${this.config.nPositions}`);
    const ids = inputIds.dtype === 'i32' ? inputIds : inputIds.cast('i32');
    const mask = keyMask('GPT2Model', ids, attentionMask);
    let x = this.drop.forward(this.wte.forward(ids).add(this.wpe.weight.narrow(0, 0, l)));
    for (const block of this.h) x = (block as GPT2Block).forward(x, mask);
    return this.ln_f.forward(x);
  }
}

/** GPT2LMHeadModel: next-token scores [B, L, vocab] through the token embeddings (tied, so the state dict has no lm_head.weight of its own). */
export class GPT2LMHeadModel extends nn.Module {
  transformer: GPT2Model;
  constructor(readonly config: Gpt2Config) {
    super();
    this.transformer = new GPT2Model(config);
  }
  forward(inputIds: Tensor, attentionMask?: Tensor): Tensor {
    return this.transformer.forward(inputIds, attentionMask).matmul(this.transformer.wte.weight.transpose(0, 1));
  }
}

/** GPT2ForSequenceClassification: scores of the last real token of each row (right padding), from a bias-free `score` layer. */
export class GPT2ForSequenceClassification extends nn.Module {
  transformer: GPT2Model;
  score: nn.Linear;
  constructor(
    readonly config: Gpt2Config,
    numLabels: number,
  ) {
    super();
    this.transformer = new GPT2Model(config);
    this.score = new nn.Linear(config.nEmbd, numLabels, { bias: false });
  }
  forward(inputIds: Tensor, attentionMask?: Tensor): Tensor {
    const logits = this.score.forward(this.transformer.forward(inputIds, attentionMask));
    const [b, l, c] = logits.shape as [number, number, number];
    const last = attentionMask ? attentionMask.ne(0).cast('i32').sum(1).sub(1).clamp(0) : inputIds.newFull([b], l - 1, 'i32');
    return logits.gather(1, last.cast('i32').reshape([b, 1, 1]).expand([b, 1, c])).reshape([b, c]);
  }
  replaceHead(numLabels: number): this {
    this.score = new nn.Linear(this.config.nEmbd, numLabels, { bias: false });
    return this;
  }
}
