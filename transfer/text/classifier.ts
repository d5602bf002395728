/** @file A text classifier over a BERT encoder: the mean of the real tokens' last hidden states, then a linear head; ids in, padding (id 0) masked. */
import { type Tensor, nn } from '../../index.js';
import { type BertConfig, BertModel, initBertWeights } from '../zoo/bert.js';

/**
 * bert.* keeps Hugging Face's encoder names, so a masked-LM checkpoint (pre-trained by `graft
 * pretrain`, or a real BERT) loads into it; mean pooling needs no pooler, which masked-LM
 * training never trains.
 */
export class BertTextClassifier extends nn.Module {
  bert: BertModel;
  classifier: nn.Linear;
  constructor(
    readonly config: BertConfig,
    numLabels: number,
  ) {
    super();
    this.bert = new BertModel(config, { addPoolingLayer: false });
    this.classifier = new nn.Linear(config.hiddenSize, numLabels);
    initBertWeights(this.classifier);
  }
  /** Mean-pooled encoder states [B, hidden] of ids [B, L] (floats holding whole numbers are accepted). */
  features(input: Tensor): Tensor {
    const ids = input.dtype === 'i32' ? input : input.cast('i32');
    const mask = ids.ne(0);
    const h = this.bert.forward(ids, mask.cast('i32'));
    const keep = mask.cast('f32').unsqueeze(2);
    return h.mul(keep).sum(1).div(keep.sum(1).clamp(1));
  }
  forward(input: Tensor): Tensor {
    return this.classifier.forward(this.features(input));
  }
  replaceHead(numLabels: number): this {
    this.classifier = new nn.Linear(this.config.hiddenSize, numLabels);
    return this;
  }
}
