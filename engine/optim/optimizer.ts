/** @file Optimizer base: parameter groups with their own hyper-parameters, per-parameter state. */
import { noGrad } from '../autograd.js';
import { GraftError } from '../errors.js';
import { keep } from '../memory.js';
import { type Tensor, tidy } from '../tensor.js';

export type ParamGroup<O> = O & { params: Tensor[] };
/** Either plain parameters or groups, each group overriding the defaults it names. */
export type ParamsInput<O> = Iterable<Tensor> | (Partial<O> & { params: Iterable<Tensor> })[];

export abstract class Optimizer<O extends { lr: number }> {
  readonly paramGroups: ParamGroup<O>[];
  /** Per-parameter state (momentum buffers, moments); parameters that never had a gradient have none. */
  readonly state = new Map<Tensor, Record<string, Tensor | number>>();

  constructor(params: ParamsInput<O>, readonly defaults: O) {
    const list = [...params] as unknown[];
    const groups = list.length > 0 && !isTensorLike(list[0]) ? (list as (Partial<O> & { params: Iterable<Tensor> })[]) : [{ params: list as Tensor[] } as unknown as Partial<O> & { params: Iterable<Tensor> }];
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g) => {
      const ps = [...g.params];
      for (const p of ps) {
        if (seen.has(p)) throw new GraftError(`${this.constructor.name}: a parameter appears in more than one parameter group`);
        seen.add(p);
      }
      return { ...defaults, ...g, params: ps } as ParamGroup<O>;
    });
    if (seen.size === 0) throw new GraftError(`${this.constructor.name}: got an empty parameter list`);
  }

  /** Drops every gradient (set to none, PyTorch's default). */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** One update of every parameter that requires grad and has a gradient; the others are untouched. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (!p.requiresGrad || !p.grad) continue;
          let st = this.state.get(p);
          if (!st) this.state.set(p, (st = {}));
          const grad = p.grad;
          const next = tidy(() => this.update(p, grad, st!, group));
          p.copy_(next);
          next.dispose();
        }
      }
    });
  }

  /** The new value of `p` given its gradient; may replace entries of `state` (disposing the old). */
  protected abstract update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>, group: ParamGroup<O>): Tensor;
}

function isTensorLike(x: unknown): boolean {
  return typeof x === 'object' && x !== null && 'shape' in x && 'dtype' in x;
}

/** Replaces state[key] with `next`, disposing what it held. */
export function setState(state: Record<string, Tensor | number>, key: string, next: Tensor): Tensor {
  const prev = state[key];
  state[key] = keep(next);
  if (prev && typeof prev !== 'number' && prev !== next) prev.dispose();
  return next;
}
