/** @file SGD with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD. */
import type { Tensor } from '../tensor.js';
import { Optimizer, type ParamGroup, type ParamsInput, setState, withWeightDecay } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opts });
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>, g: ParamGroup<SGDOptions>): Tensor {
    let d = withWeightDecay(grad, p, g.weightDecay);
    if (g.momentum) {
      const prev = state.momentumBuffer as Tensor | undefined;
      const buf = setState(state, 'momentumBuffer', prev ? prev.mul(g.momentum).add(d.mul(1 - g.dampening)) : d.clone());
      d = g.nesterov ? d.add(buf.mul(g.momentum)) : buf;
    }
    return p.sub(d.mul(g.lr));
  }
}
