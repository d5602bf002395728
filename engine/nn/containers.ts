/** @file Containers: Sequential (which runs a Conv2d and the BatchNorm after it as one folded convolution in eval mode) and ModuleList. */
import { GraftStateError } from '../../core/errors.js';
import type { Tensor } from '../tensor.js';
import { convBatchNorm } from './fold.js';
import { Conv2d } from './layers.js';
import { Module } from './module.js';
import { BatchNorm } from './norm.js';

/** A conv whose forward is its plain convolution, followed by a BatchNorm that only normalises: the pair convBatchNorm folds. */
function foldable(conv: Module | undefined, bn: Module | undefined): [Conv2d, BatchNorm] | null {
  return conv instanceof Conv2d && conv.forward === Conv2d.prototype.forward && bn instanceof BatchNorm && bn.forward === BatchNorm.prototype.forward ? [conv, bn] : null;
}

/** Runs its children in order; children are named '0', '1', ... */
export class Sequential extends Module {
  [index: number]: Module;
  readonly length: number;
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => (this[i] = m));
    this.length = modules.length;
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.length; i++) {
      const pair = foldable(this[i], this[i + 1]);
      if (pair) {
        y = convBatchNorm(pair[0], pair[1], y);
        i++;
      } else y = this[i]!.forward(y);
    }
    return y;
  }
}

/** Holds submodules in a list, named '0', '1', ...; it has no forward of its own. */
export class ModuleList extends Module {
  [index: number]: Module;
  length = 0;
  constructor(modules: Module[] = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: Module): this {
    this[this.length++] = m;
    return this;
  }
  *[Symbol.iterator](): Iterator<Module> {
    for (let i = 0; i < this.length; i++) yield this[i]!;
  }
  forward(): Tensor {
    throw new GraftStateError('ModuleList has no forward; iterate over it instead');
  }
}
