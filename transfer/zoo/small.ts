/** @file Small models for training from scratch and as baselines: an MLP and a compact CNN, each with a replaceable head. */
import { type Tensor, nn } from '../../index.js';

/** Flatten, then Linear-ReLU layers, then a classifier `head`. */
export class MLP extends nn.Module {
  body: nn.Sequential;
  head: nn.Linear;
  constructor(readonly inFeatures: number, readonly hidden: number[], numClasses: number, dropout = 0) {
    super();
    const layers: nn.Module[] = [new nn.Flatten()];
    let d = inFeatures;
    for (const h of hidden) {
      layers.push(new nn.Linear(d, h), new nn.ReLU());
      if (dropout) layers.push(new nn.Dropout(dropout));
      d = h;
    }
    this.body = new nn.Sequential(...layers);
    this.head = new nn.Linear(d, numClasses);
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.body.forward(x));
  }
  replaceHead(numClasses: number): this {
    this.head = new nn.Linear(this.head.inFeatures, numClasses);
    return this;
  }
}

/** Conv-BN-ReLU blocks with 2x2 max pooling, global average pooling, then a linear `head`. */
export class SmallCNN extends nn.Module {
  features: nn.Sequential;
  head: nn.Linear;
  constructor(inChannels: number, numClasses: number, widths: number[] = [16, 32, 64]) {
    super();
    const layers: nn.Module[] = [];
    let c = inChannels;
    for (const w of widths) {
      layers.push(new nn.Sequential(new nn.Conv2d(c, w, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(w), new nn.ReLU(), new nn.MaxPool2d(2)));
      c = w;
    }
    this.features = new nn.Sequential(...layers);
    this.head = new nn.Linear(c, numClasses);
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(x).mean([2, 3]));
  }
  replaceHead(numClasses: number): this {
    this.head = new nn.Linear(this.head.inFeatures, numClasses);
    return this;
  }
}
