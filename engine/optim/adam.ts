/** @file Adam and AdamW (decoupled weight decay), as torch.optim.Adam and AdamW, with optional AMSGrad. */
import { zerosLike } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type ParamGroup, type ParamsInput, setState } from './optimizer.js';

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
    const step = ((state.step as number | undefined) ?? 0) + 1;
    state.step = step;
    let base = p;
    let gr = grad;
    if (g.weightDecay) {
      if (this.decoupled) base = p.mul(1 - g.lr * g.weightDecay);
      else gr = grad.add(p.mul(g.weightDecay));
    }
    const m = setState(state, 'expAvg', ((state.expAvg as Tensor | undefined) ?? zerosLike(p)).mul(b1).add(gr.mul(1 - b1)));
    const v = setState(state, 'expAvgSq', ((state.expAvgSq as Tensor | undefined) ?? zerosLike(p)).mul(b2).add(gr.mul(gr).mul(1 - b2)));
    const second = g.amsgrad ? setState(state, 'maxExpAvgSq', ((state.maxExpAvgSq as Tensor | undefined) ?? zerosLike(p)).maximum(v)) : v;
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
