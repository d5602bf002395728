/** @file A Transformer encoder with PyTorch's names (nn.TransformerEncoderLayer, post-norm), plus a token classifier. */
import { GraftShapeError, type Tensor, functional as F, fmtShape, nn } from '../../index.js';

/** Multi-head self-attention with a packed in_proj_weight [3E, E], as torch.nn.MultiheadAttention stores it. */
export class MultiheadAttention extends nn.Module {
  in_proj_weight: nn.Parameter;
  in_proj_bias: nn.Parameter;
  out_proj: nn.Linear;
  constructor(readonly embedDim: number, readonly numHeads: number) {
    super();
    if (embedDim % numHeads) throw new GraftShapeError(`MultiheadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    const tmp = new nn.Linear(embedDim, 3 * embedDim);
    nn.init.xavierUniform_(tmp.weight);
    this.in_proj_weight = tmp.weight;
    this.in_proj_bias = nn.Parameter.own(tmp.bias!.mul(0));
    this.out_proj = new nn.Linear(embedDim, embedDim);
    nn.init.zeros_(this.out_proj.bias!);
  }
  /** x: [N, L, E] (batch first); mask: [N, L] bool, true where a token is padding. */
  forward(x: Tensor, paddingMask?: Tensor): Tensor {
    const [n, l, e] = x.shape as [number, number, number];
    const h = this.numHeads;
    const d = e / h;
    const qkv = F.linear(x, this.in_proj_weight, this.in_proj_bias).reshape([n, l, 3, h, d]).permute([2, 0, 3, 1, 4]);
    const [q, k, v] = [qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2)];
    let scores = q.matmul(k.transpose(-1, -2)).div(Math.sqrt(d));
    if (paddingMask) scores = scores.where(paddingMask.reshape([n, 1, 1, l]).logicalNot(), -1e9);
    const out = F.softmax(scores, -1).matmul(v).permute([0, 2, 1, 3]).reshape([n, l, e]);
    return this.out_proj.forward(out);
  }
}

/** torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation='relu', batch_first=True, norm_first=False). */
export class TransformerEncoderLayer extends nn.Module {
  self_attn: MultiheadAttention;
  linear1: nn.Linear;
  linear2: nn.Linear;
  norm1: nn.LayerNorm;
  norm2: nn.LayerNorm;
  dropout: nn.Dropout;
  constructor(dModel: number, nhead: number, dimFeedforward = 2048, dropout = 0.1, readonly activation: 'relu' | 'gelu' = 'relu') {
    super();
    this.self_attn = new MultiheadAttention(dModel, nhead);
    this.linear1 = new nn.Linear(dModel, dimFeedforward);
    this.linear2 = new nn.Linear(dimFeedforward, dModel);
    this.norm1 = new nn.LayerNorm(dModel);
    this.norm2 = new nn.LayerNorm(dModel);
    this.dropout = new nn.Dropout(dropout);
  }
  forward(x: Tensor, paddingMask?: Tensor): Tensor {
    const a = this.norm1.forward(x.add(this.dropout.forward(this.self_attn.forward(x, paddingMask))));
    const hidden = this.activation === 'gelu' ? F.gelu(this.linear1.forward(a)) : this.linear1.forward(a).relu();
    return this.norm2.forward(a.add(this.dropout.forward(this.linear2.forward(this.dropout.forward(hidden)))));
  }
}

/** Token embedding + learned positions + encoder layers + mean pooling + a linear head. */
export class TransformerClassifier extends nn.Module {
  embedding: nn.Embedding;
  pos: nn.Parameter;
  layers: nn.ModuleList;
  head: nn.Linear;
  constructor(vocab: number, readonly maxLen: number, dModel: number, nhead: number, numLayers: number, numClasses: number, dimFeedforward = 4 * dModel, dropout = 0.1, readonly padId = 0) {
    super();
    this.embedding = new nn.Embedding(vocab, dModel);
    this.pos = nn.Parameter.own(new nn.Embedding(maxLen, dModel).weight.mul(0.02));
    this.layers = new nn.ModuleList(Array.from({ length: numLayers }, () => new TransformerEncoderLayer(dModel, nhead, dimFeedforward, dropout)));
    this.head = new nn.Linear(dModel, numClasses);
  }
  /** ids: [N, L] token ids (i32, or floats holding whole numbers as datasets store them); padding (padId, 0 by default) is masked out of attention and pooling. */
  forward(input: Tensor): Tensor {
    const ids = input.dtype === 'i32' ? input : input.cast('i32');
    const [n, l] = ids.shape as [number, number];
    if (l > this.maxLen) throw new GraftShapeError(`TransformerClassifier: sequence ${fmtShape(ids.shape)} is longer than maxLen ${this.maxLen}`);
    const pad = ids.eq(this.padId);
    let x = this.embedding.forward(ids).add(this.pos.narrow(0, 0, l));
    for (const layer of this.layers) x = (layer as TransformerEncoderLayer).forward(x, pad);
    const keep = pad.logicalNot().cast('f32').reshape([n, l, 1]);
    return this.head.forward(x.mul(keep).sum(1).div(keep.sum(1).clamp(1)));
  }
  replaceHead(numClasses: number): this {
    this.head = new nn.Linear(this.head.inFeatures, numClasses);
    return this;
  }
}
