/** @file LoRA adapters for Linear and 1x1 Conv2d layers: low-rank updates trained alone, merged back, saved on their own. */
import { GraftError, type Tensor, nn, noGrad } from '../index.js';
import { globToRegExp } from './freeze.js';

export interface LoRAOptions {
  rank: number;
  /** The update is scaled by alpha / rank. */
  alpha?: number;
  dropout?: number;
}

/** base(x) + B(A(dropout(x))) * alpha / rank, with B starting at zero so the model is unchanged at first. */
export class LoRALinear extends nn.Module {
  lora_A: nn.Linear;
  lora_B: nn.Linear;
  drop: nn.Dropout;
  readonly scaling: number;
  constructor(public base: nn.Linear, o: LoRAOptions) {
    super();
    this.lora_A = new nn.Linear(base.inFeatures, o.rank, { bias: false });
    this.lora_B = new nn.Linear(o.rank, base.outFeatures, { bias: false });
    noGrad(() => this.lora_B.weight.copy_(0));
    this.drop = new nn.Dropout(o.dropout ?? 0);
    this.scaling = (o.alpha ?? o.rank) / o.rank;
    base.requiresGrad_(false);
  }
  forward(x: Tensor): Tensor {
    return this.base.forward(x).add(this.lora_B.forward(this.lora_A.forward(this.drop.forward(x))).mul(this.scaling));
  }
  /** The base layer with the update folded into its weight. */
  merged(): nn.Linear {
    noGrad(() => this.base.weight.copy_(this.base.weight.add(this.lora_B.weight.matmul(this.lora_A.weight).mul(this.scaling))));
    return this.base;
  }
}

/** The same for a 1x1 convolution (a per-pixel Linear over channels). */
export class LoRAConv1x1 extends nn.Module {
  lora_A: nn.Conv2d;
  lora_B: nn.Conv2d;
  readonly scaling: number;
  constructor(public base: nn.Conv2d, o: LoRAOptions) {
    super();
    if (base.kernelSize[0] !== 1 || base.kernelSize[1] !== 1 || base.groups !== 1) throw new GraftError('LoRA: only 1x1, ungrouped convolutions take a LoRA adapter');
    this.lora_A = new nn.Conv2d(base.inChannels, o.rank, 1, { bias: false, stride: base.stride });
    this.lora_B = new nn.Conv2d(o.rank, base.outChannels, 1, { bias: false });
    noGrad(() => this.lora_B.weight.copy_(0));
    this.scaling = (o.alpha ?? o.rank) / o.rank;
    base.requiresGrad_(false);
  }
  forward(x: Tensor): Tensor {
    return this.base.forward(x).add(this.lora_B.forward(this.lora_A.forward(x)).mul(this.scaling));
  }
  merged(): nn.Conv2d {
    const [o, r] = [this.base.outChannels, this.lora_A.outChannels];
    noGrad(() => {
      const delta = this.lora_B.weight.reshape([o, r]).matmul(this.lora_A.weight.reshape([r, this.base.inChannels])).mul(this.scaling);
      this.base.weight.copy_(this.base.weight.add(delta.reshape(this.base.weight.shape)));
    });
    return this.base;
  }
}

function setChild(model: nn.Module, path: string, m: nn.Module): void {
  const parts = path.split('.');
  const key = parts.pop()!;
  let parent: nn.Module = model;
  for (const p of parts) parent = (parent as unknown as Record<string, nn.Module>)[p]!;
  (parent as unknown as Record<string, nn.Module>)[key] = m;
}

/**
 * Wraps every Linear and 1x1 Conv2d whose dotted name a pattern selects in a LoRA adapter, and
 * freezes everything else: only the adapters train. Returns the wrapped names.
 */
export function applyLoRA(model: nn.Module, targets: (string | RegExp)[], o: LoRAOptions): string[] {
  const res = targets.map((p) => (typeof p === 'string' ? globToRegExp(p) : p));
  model.requiresGrad_(false);
  const wrapped: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!name || !res.some((r) => r.test(name))) continue;
    if (m instanceof nn.Linear) setChild(model, name, new LoRALinear(m, o));
    else if (m instanceof nn.Conv2d && m.kernelSize[0] === 1 && m.kernelSize[1] === 1 && m.groups === 1) setChild(model, name, new LoRAConv1x1(m, o));
    else continue;
    wrapped.push(name);
  }
  if (!wrapped.length) throw new GraftError(`applyLoRA: no Linear or 1x1 Conv2d matches ${targets.map(String).join(', ')}`);
  return wrapped;
}

/** Folds every adapter into its base layer and puts the base layer back. */
export function mergeLoRA(model: nn.Module): string[] {
  const merged: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (m instanceof LoRALinear || m instanceof LoRAConv1x1) {
      setChild(model, name, m.merged());
      merged.push(name);
    }
  }
  return merged;
}

/** Only the adapters' weights, for saving an adapter on its own. */
export function loraStateDict(model: nn.Module): Map<string, Tensor> {
  return new Map([...model.stateDict()].filter(([k]) => /(^|\.)lora_[AB]\./.test(k)));
}
