/** @file Activation and pooling layers: thin modules over the functional ops. */
import * as F from '../functional.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

type Pair = number | [number, number];

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}
export class ReLU6 extends Module {
  forward(x: Tensor): Tensor {
    return F.relu6(x);
  }
}
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }
}
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}
export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.softmax(x, this.dim);
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly opts: F.Pool2dOptions = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.opts);
  }
}
export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly opts: Omit<F.Pool2dOptions, 'dilation'> & { countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.opts);
  }
}
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}
