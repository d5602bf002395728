/** @file Adam and AdamW (decoupled weight decay), as torch.optim.Adam and AdamW, with optional AMSGrad. */
import { zerosLike } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type ParamGroup, type ParamsInput, advance, nextStep, withWeightDecay } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
}

export class Adam extends Optimizer<AdamOptions> {
  protected decoupled = false;

  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, ...opts });
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>, g: ParamGroup<AdamOptions>): Tensor {
    const [b1, b2] = g.betas;
    const step = nextStep(state);
    // AdamW decays the weights themselves, Adam the gradient.
    const base = this.decoupled && g.weightDecay ? p.mul(1 - g.lr * g.weightDecay) : p;
    const gr = this.decoupled ? grad : withWeightDecay(grad, p, g.weightDecay);
    const zeros = () => zerosLike(p);
    const m = advance(state, 'expAvg', zeros, (m) => m.mul(b1).add(gr.mul(1 - b1)));
    const v = advance(state, 'expAvgSq', zeros, (v) => v.mul(b2).add(gr.mul(gr).mul(1 - b2)));
    const second = g.amsgrad ? advance(state, 'maxExpAvgSq', zeros, (mx) => mx.maximum(v)) : v;
    const bias1 = 1 - b1 ** step;
    const bias2 = 1 - b2 ** step;
    const denom = second.sqrt().div(Math.sqrt(bias2)).add(g.eps);
    return base.sub(m.div(denom).mul(g.lr / bias1));
  }
}

/** Adam with weight decay applied to the weights directly (default 0.01), not through the gradient. */
export class AdamW extends Adam {
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { weightDecay: 0.01, ...opts });
    this.decoupled = true;
  }
}
