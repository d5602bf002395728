/** @file RMSprop (optionally centered, with momentum) and Adagrad, as torch.optim.RMSprop and Adagrad. */
import { fullLike, zerosLike } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type ParamGroup, type ParamsInput, advance, nextStep, withWeightDecay } from './optimizer.js';

export interface RMSpropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
}

/** Divides each gradient by a running root mean square of the gradients (PyTorch's defaults: lr 0.01, alpha 0.99, eps 1e-8). */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, opts: Partial<RMSpropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...opts });
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>, g: ParamGroup<RMSpropOptions>): Tensor {
    const gr = withWeightDecay(grad, p, g.weightDecay);
    const zeros = () => zerosLike(p);
    const sq = advance(state, 'squareAvg', zeros, (sq) => sq.mul(g.alpha).add(gr.mul(gr).mul(1 - g.alpha)));
    let avg: Tensor;
    if (g.centered) {
      const ga = advance(state, 'gradAvg', zeros, (ga) => ga.mul(g.alpha).add(gr.mul(1 - g.alpha)));
      avg = sq.sub(ga.mul(ga)).sqrt().add(g.eps);
    } else avg = sq.sqrt().add(g.eps);
    if (g.momentum > 0) {
      const buf = advance(state, 'momentumBuffer', zeros, (buf) => buf.mul(g.momentum).add(gr.div(avg)));
      return p.sub(buf.mul(g.lr));
    }
    return p.sub(gr.div(avg).mul(g.lr));
  }
}

export interface AdagradOptions {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
}

/** Divides each gradient by the root of the sum of all squared gradients so far (PyTorch's defaults: lr 0.01, eps 1e-10). */
export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(params: ParamsInput<AdagradOptions>, opts: Partial<AdagradOptions> = {}) {
    super(params, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, ...opts });
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>, g: ParamGroup<AdagradOptions>): Tensor {
    const step = nextStep(state);
    const gr = withWeightDecay(grad, p, g.weightDecay);
    const clr = g.lr / (1 + (step - 1) * g.lrDecay);
    const sum = advance(state, 'sum', () => fullLike(p, g.initialAccumulatorValue), (sum) => sum.add(gr.mul(gr)));
    return p.sub(gr.div(sum.sqrt().add(g.eps)).mul(clr));
  }
}
