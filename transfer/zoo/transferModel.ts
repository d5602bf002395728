/** @file A pre-trained backbone cut at a feature layer plus a new head: the shape of every transfer model. */
import { type Tensor, nn } from '../../index.js';

/** A backbone whose forward can stop at a named layer (KerasModel) or a plain module. */
export interface Backbone extends nn.Module {
  forward(x: Tensor, until?: string | Tensor): Tensor;
}

export interface HeadOptions {
  /** Hidden units of an optional ReLU layer before the classifier. */
  hidden?: number;
  dropout?: number;
}

/**
 * head(pool(backbone(x, featureLayer))): 4-d features are averaged over space first. The head is a
 * fresh classifier for the target task; the backbone carries the source task's weights.
 */
export class TransferModel extends nn.Module {
  head: nn.Module;
  constructor(
    public backbone: Backbone,
    readonly featureDim: number,
    numClasses: number,
    readonly featureLayer?: string,
    headOpts: HeadOptions = {},
  ) {
    super();
    this.head = TransferModel.makeHead(featureDim, numClasses, headOpts);
  }

  static makeHead(featureDim: number, numClasses: number, o: HeadOptions = {}): nn.Module {
    const layers: nn.Module[] = [];
    if (o.dropout) layers.push(new nn.Dropout(o.dropout));
    if (o.hidden) layers.push(new nn.Linear(featureDim, o.hidden), new nn.ReLU());
    layers.push(new nn.Linear(o.hidden ?? featureDim, numClasses));
    return new nn.Sequential(...layers);
  }

  /** Swaps in a new, freshly initialised classifier for `numClasses` classes. */
  replaceHead(numClasses: number, headOpts: HeadOptions = {}): this {
    this.head = TransferModel.makeHead(this.featureDim, numClasses, headOpts);
    return this;
  }

  /** Pooled backbone features [N, featureDim]. */
  features(x: Tensor): Tensor {
    const f = this.featureLayer ? this.backbone.forward(x, this.featureLayer) : this.backbone.forward(x);
    return f.ndim === 4 ? f.mean([2, 3]) : f;
  }

  forward(x: Tensor): Tensor {
    return this.head.forward(this.features(x));
  }
}
