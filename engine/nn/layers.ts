/** @file Linear, Conv1d, Conv2d, ConvTranspose2d, Embedding, Dropout, Flatten and Identity layers. */
import * as F from '../functional.js';
import { GraftShapeError, fmtShape } from '../../core/errors.js';
import type { Tensor } from '../tensor.js';
import { kaimingUniform_, normal_, uniform_ } from './init.js';
import { Module, Parameter } from './module.js';
import { noGrad } from '../autograd.js';
import { checkRange, checkSize } from './args.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** y = x W^T + b with W [outFeatures, inFeatures], initialised as torch.nn.Linear. */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    checkSize('Linear', 'inFeatures', inFeatures);
    checkSize('Linear', 'outFeatures', outFeatures);
    this.weight = Parameter.uninit([outFeatures, inFeatures]);
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    this.bias = opts.bias === false ? null : Parameter.uninit([outFeatures]);
    // PyTorch's bound is 0 without inputs (an empty layer outputs its bias, zeros).
    const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
    if (this.bias) uniform_(this.bias, -bound, bound);
  }
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new GraftShapeError(`Linear: input ${fmtShape(x.shape)} does not end in inFeatures=${this.inFeatures}`);
    }
    return F.linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** 2-d convolution over NCHW input, weight [out, in/groups, kh, kw], initialised as torch.nn.Conv2d. */
export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    opts: Conv2dOptions = {},
  ) {
    super();
    checkSize('Conv2d', 'inChannels', inChannels, 1);
    checkSize('Conv2d', 'outChannels', outChannels, 1);
    checkSize('Conv2d', 'groups', opts.groups ?? 1, 1);
    this.kernelSize = pair(kernelSize);
    this.kernelSize.forEach((k) => checkSize('Conv2d', 'kernelSize', k, 1));
    this.stride = pair(opts.stride ?? 1);
    this.padding = typeof opts.padding === 'string' ? opts.padding : pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new GraftShapeError(`Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${this.groups}`);
    }
    this.weight = Parameter.uninit([outChannels, inChannels / this.groups, ...this.kernelSize]);
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    const fanIn = (inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    this.bias = opts.bias === false ? null : Parameter.uninit([outChannels]);
    if (this.bias) uniform_(this.bias, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  }
  forward(x: Tensor): Tensor {
    return this.convForward(x, this.weight, this.bias);
  }
  /**
   * The convolution with this layer's settings and the given weights (PyTorch's `_conv_forward`),
   * optionally with a clamp fused into the kernel: what BatchNorm folding calls with folded weights.
   */
  convForward(x: Tensor, weight: Tensor, bias: Tensor | null, clamp?: [number, number]): Tensor {
    return F.conv2d(x, weight, bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups, clamp });
  }
  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}], stride=[${this.stride}], padding=${JSON.stringify(this.padding)}` +
      (this.groups > 1 ? `, groups=${this.groups}` : '') + (this.bias ? '' : ', bias=false');
  }
}

/** 1-d convolution over [N, C, L] input, weight [out, in/groups, k], initialised as torch.nn.Conv1d. */
export class Conv1d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly stride: number;
  readonly padding: number | 'same' | 'valid';
  readonly dilation: number;
  readonly groups: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: { stride?: number; padding?: number | 'same' | 'valid'; dilation?: number; groups?: number; bias?: boolean } = {},
  ) {
    super();
    // The same checks, initialisation and parameter shapes as a Conv2d of height 1, then the height dropped.
    const c = new Conv2d(inChannels, outChannels, [1, kernelSize], { groups: opts.groups, bias: opts.bias });
    this.weight = Parameter.own(noGrad(() => c.weight.squeeze(2)));
    c.weight.dispose();
    this.bias = c.bias;
    [this.stride, this.padding, this.dilation, this.groups] = [opts.stride ?? 1, opts.padding ?? 0, opts.dilation ?? 1, opts.groups ?? 1];
  }
  forward(x: Tensor): Tensor {
    return F.conv1d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${this.kernelSize}, stride=${this.stride}, padding=${JSON.stringify(this.padding)}` + (this.bias ? '' : ', bias=false');
  }
}

/** Transposed 2-d convolution, weight [in, out/groups, kh, kw], initialised as torch.nn.ConvTranspose2d. */
export class ConvTranspose2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernelSize: [number, number];
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly opts: F.ConvTranspose2dOptions & { bias?: boolean } = {},
  ) {
    super();
    const groups = opts.groups ?? 1;
    checkSize('ConvTranspose2d', 'inChannels', inChannels, 1);
    checkSize('ConvTranspose2d', 'outChannels', outChannels, 1);
    checkSize('ConvTranspose2d', 'groups', groups, 1);
    if (inChannels % groups || outChannels % groups) {
      throw new GraftShapeError(`ConvTranspose2d: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`);
    }
    this.kernelSize = pair(kernelSize);
    this.weight = Parameter.uninit([inChannels, outChannels / groups, ...this.kernelSize]);
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    // PyTorch's fan-in here is weight.shape[1] * kh * kw.
    const fanIn = (outChannels / groups) * this.kernelSize[0] * this.kernelSize[1];
    this.bias = opts.bias === false ? null : Parameter.uninit([outChannels]);
    if (this.bias) uniform_(this.bias, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  }
  forward(x: Tensor): Tensor {
    const { bias: _, ...conv } = this.opts;
    return F.convTranspose2d(x, this.weight, this.bias, conv);
  }
}

/** A lookup table of numEmbeddings rows of size embeddingDim, drawn from N(0, 1). */
export class Embedding extends Module {
  weight: Parameter;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { paddingIdx?: number } = {},
  ) {
    super();
    checkSize('Embedding', 'numEmbeddings', numEmbeddings);
    checkSize('Embedding', 'embeddingDim', embeddingDim);
    this.weight = Parameter.uninit([numEmbeddings, embeddingDim]);
    normal_(this.weight);
    if (opts.paddingIdx !== undefined) noGrad(() => this.weight.select(0, opts.paddingIdx!).copy_(0));
  }
  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight);
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    checkRange('Dropout', 'p', p, 0, 1);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
