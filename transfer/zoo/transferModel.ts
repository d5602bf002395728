/** @file A pre-trained backbone cut at a feature layer plus a new head: the shape of every transfer model. */
import { type Tensor, functional as F, nn, noGrad, zeros } from '../../index.js';

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
 * Averages 4-d feature maps over a grid x grid layout of cells and flattens them (grid 1 is global
 * average pooling): a coarse grid keeps where features are, which matters for shapes like digits.
 */
export function poolFeatures(f: Tensor, grid: number): Tensor {
  if (f.ndim !== 4) return f;
  return (grid === 1 ? f.mean([2, 3]) : F.adaptiveAvgPool2d(f, grid)).flatten(1);
}

/**
 * head(pool(backbone(x, featureLayer))). The head is a fresh classifier for the target task; the
 * backbone carries the source task's weights. `featureDim` counts the pooled features.
 */
export class TransferModel extends nn.Module {
  head: nn.Module;
  constructor(
    public backbone: Backbone,
    readonly featureDim: number,
    numClasses: number,
    readonly featureLayer?: string,
    headOpts: HeadOptions = {},
    readonly poolGrid = 1,
  ) {
    super();
    this.head = TransferModel.makeHead(featureDim, numClasses, headOpts);
  }

  /** Builds the model for `backbone`, finding featureDim by running one input of `inputShape` ([C, H, W]). */
  static forBackbone(backbone: Backbone, inputShape: number[], numClasses: number, o: { featureLayer?: string; poolGrid?: number; head?: HeadOptions } = {}): TransferModel {
    const probe = noGrad(() => poolFeatures(o.featureLayer ? backbone.forward(zeros([1, ...inputShape]), o.featureLayer) : backbone.forward(zeros([1, ...inputShape])), o.poolGrid ?? 1));
    return new TransferModel(backbone, probe.shape[1]!, numClasses, o.featureLayer, o.head, o.poolGrid ?? 1);
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
    return poolFeatures(this.featureLayer ? this.backbone.forward(x, this.featureLayer) : this.backbone.forward(x), this.poolGrid);
  }

  forward(x: Tensor): Tensor {
    return this.head.forward(this.features(x));
  }
}
