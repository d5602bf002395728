/** @file BatchNorm and LayerNorm layers with PyTorch's buffers and defaults. */
import { noGrad } from '../autograd.js';
import { full, zeros } from '../creation.js';
import { GraftShapeError, fmtShape } from '../../core/errors.js';
import * as F from '../functional.js';
import type { Tensor } from '../tensor.js';
import { Module, Parameter } from './module.js';
import { checkNonNegative, checkRange, checkSize } from './args.js';

export interface BatchNormOptions {
  eps?: number;
  /** null: cumulative moving average over all batches seen. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/** Normalises over the batch for each channel (dim 1); running_mean/var/num_batches_tracked buffers as in PyTorch. */
export class BatchNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly eps: number;
  momentum: number | null;
  readonly trackRunningStats: boolean;
  /**
   * When true the running statistics are used and never updated, whatever train() says: how a
   * frozen backbone keeps its statistics (PyTorch needs an eval() call that a later train() undoes).
   */
  statsFrozen = false;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormOptions = {},
    private readonly expectRank: number[] = [2, 3, 4],
  ) {
    super();
    checkSize(this.constructor.name, 'numFeatures', numFeatures, 1);
    this.eps = opts.eps ?? 1e-5;
    checkNonNegative(this.constructor.name, 'eps', this.eps);
    if (opts.momentum !== undefined && opts.momentum !== null) checkRange(this.constructor.name, 'momentum', opts.momentum, 0, 1);
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const affine = opts.affine ?? true;
    this.weight = affine ? Parameter.own(full([numFeatures], 1)) : null;
    this.bias = affine ? Parameter.own(zeros([numFeatures])) : null;
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures]));
      this.registerBuffer('running_var', full([numFeatures], 1));
      this.registerBuffer('num_batches_tracked', zeros([], 'i32'));
    }
  }

  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_mean') : null;
  }
  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_var') : null;
  }

  /** True when forward normalises with the running statistics and leaves them alone: an affine map per channel, foldable into a conv before it. */
  get usesRunningStats(): boolean {
    return this.statsFrozen || (!this.training && this.trackRunningStats);
  }

  forward(x: Tensor): Tensor {
    if (!this.expectRank.includes(x.ndim) || x.shape[1] !== this.numFeatures) {
      throw new GraftShapeError(`${this.constructor.name}: expected input of rank ${this.expectRank.join(' or ')} with ${this.numFeatures} channels in dim 1, got ${fmtShape(x.shape)}`);
    }
    const update = this.training && this.trackRunningStats && !this.statsFrozen;
    const useBatch = !this.usesRunningStats;
    let momentum = this.momentum ?? 0;
    if (update) {
      const tracked = this.getBuffer('num_batches_tracked')!;
      noGrad(() => tracked.copy_(tracked.add(1)));
      if (this.momentum === null) momentum = 1 / (tracked.dataSync()[0]!);
    }
    return F.batchNorm(x, update || !useBatch ? this.runningMean : null, update || !useBatch ? this.runningVar : null, this.weight, this.bias, {
      training: useBatch,
      momentum,
      eps: this.eps,
    });
  }
  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, trackRunningStats=${this.trackRunningStats}`;
  }
}

/** BatchNorm over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [2, 3]);
  }
}
/** BatchNorm over [N, C, H, W]. */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [4]);
  }
}

/** Normalises over the trailing normalizedShape dims, with elementwise affine weight and bias. */
export class LayerNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | readonly number[],
    readonly opts: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? Parameter.own(full(this.normalizedShape, 1)) : null;
    this.bias = affine && opts.bias !== false ? Parameter.own(zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, { eps: this.opts.eps ?? 1e-5 });
  }
  override extraRepr(): string {
    return `[${this.normalizedShape}], eps=${this.opts.eps ?? 1e-5}`;
  }
}

/** Group normalisation (torch.nn.GroupNorm): numGroups groups of channels, each normalised on its own, with a per-channel affine. */
export class GroupNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly opts: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1 || numChannels % numGroups) {
      throw new GraftShapeError(`GroupNorm: numChannels ${numChannels} must be divisible by numGroups ${numGroups}`);
    }
    const affine = opts.affine ?? true;
    this.weight = affine ? Parameter.own(full([numChannels], 1)) : null;
    this.bias = affine ? Parameter.own(zeros([numChannels])) : null;
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) throw new GraftShapeError(`GroupNorm: expected input with ${this.numChannels} channels in dim 1, got ${fmtShape(x.shape)}`);
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.opts.eps ?? 1e-5 });
  }
  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${this.opts.eps ?? 1e-5}, affine=${this.weight !== null}`;
  }
}
