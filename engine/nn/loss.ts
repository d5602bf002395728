/** @file Loss modules, as torch.nn's: each holds its options and calls the functional form. */
import * as F from '../functional.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** Cross-entropy of logits with class indices or probabilities (torch.nn.CrossEntropyLoss). */
export class CrossEntropyLoss extends Module {
  constructor(readonly opts: F.CrossEntropyOptions = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.crossEntropy(input, target, this.opts);
  }
}

/** Negative log-likelihood of log-probabilities (torch.nn.NLLLoss). */
export class NLLLoss extends Module {
  constructor(readonly opts: F.NllOptions = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.nllLoss(input, target, this.opts);
  }
}

/** Mean squared error (torch.nn.MSELoss). */
export class MSELoss extends Module {
  constructor(readonly opts: { reduction?: F.Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, this.opts);
  }
}

/** Mean absolute error (torch.nn.L1Loss). */
export class L1Loss extends Module {
  constructor(readonly opts: { reduction?: F.Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.l1Loss(input, target, this.opts);
  }
}

/** Binary cross-entropy on logits, overflow-free (torch.nn.BCEWithLogitsLoss). */
export class BCEWithLogitsLoss extends Module {
  constructor(readonly opts: { reduction?: F.Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropyWithLogits(input, target, this.opts);
  }
}
