/** @file Optimizer base: parameter groups with their own hyper-parameters, per-parameter state. */
import { noGrad, zeroGrads } from '../autograd.js';
import { GraftError, GraftShapeError, GraftValueError, fmtShape } from '../../core/errors.js';
import { checkNonNegative } from '../nn/args.js';
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
    this.paramGroups.forEach((g, i) => this.checkGroup(g, `group ${i}`));
  }

  /** Hyper-parameters must be numbers in their domain: a NaN or negative lr would turn every weight into NaN later. */
  protected checkGroup(g: Record<string, unknown>, where: string): void {
    const owner = `${this.constructor.name} (${where})`;
    for (const k of ['lr', 'momentum', 'dampening', 'weightDecay', 'eps', 'alpha']) {
      if (k in g) checkNonNegative(owner, k, g[k] as number);
    }
    if ('betas' in g) {
      const b = g.betas as unknown;
      if (!Array.isArray(b) || b.length !== 2) throw new GraftValueError(`${owner}: betas must be two numbers in [0, 1), got ${JSON.stringify(b)}`);
      b.forEach((x, i) => {
        if (typeof x !== 'number' || !(x >= 0 && x < 1)) throw new GraftValueError(`${owner}: betas[${i}] must be a number in [0, 1), got ${String(x)}`);
      });
    }
  }

  /** Drops every gradient (set to none, PyTorch's default). */
  /**
   * Drops the gradients: by default they are freed and `.grad` becomes null (set_to_none, with the
   * memory back at once); with setToNone false they are zeroed in place, so a kept `p.grad` stays
   * valid and the next backward adds into the same tensor (PyTorch 1.13's default).
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups) zeroGrads(g.params, opts.setToNone ?? true);
  }

  /**
   * PyTorch's optimizer state_dict: per-parameter state keyed by the parameter's position across
   * groups, and each group's hyper-parameters (without the tensors).
   */
  stateDict(): { state: Map<number, Record<string, Tensor | number>>; paramGroups: Record<string, unknown>[] } {
    const state = new Map<number, Record<string, Tensor | number>>();
    let i = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      const ids: number[] = [];
      for (const p of params) {
        const st = this.state.get(p);
        if (st) state.set(i, { ...st });
        ids.push(i++);
      }
      return { ...hyper, params: ids };
    });
    return { state, paramGroups };
  }

  /** Restores what stateDict() gave, for the same parameters in the same order. */
  loadStateDict(sd: { state: Map<number, Record<string, Tensor | number>>; paramGroups: Record<string, unknown>[] }): void {
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new GraftError(`${this.constructor.name}.loadStateDict: ${sd.paramGroups.length} parameter groups given, the optimizer has ${this.paramGroups.length}`);
    }
    const all = this.paramGroups.flatMap((g) => g.params);
    sd.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      const ids = saved.params as number[];
      if (ids.length !== group.params.length) {
        throw new GraftError(`${this.constructor.name}.loadStateDict: group ${gi} has ${ids.length} parameters saved, ${group.params.length} now`);
      }
      const { params: _, ...hyper } = saved;
      this.checkGroup({ ...group, ...hyper }, `loadStateDict group ${gi}`);
      Object.assign(group, hyper);
    });
    this.state.clear();
    for (const [i, st] of sd.state) {
      const p = all[i];
      if (!p) throw new GraftError(`${this.constructor.name}.loadStateDict: state for parameter ${i}, but there are ${all.length}`);
      const copy: Record<string, Tensor | number> = {};
      for (const [k, v] of Object.entries(st)) {
        const what = `${this.constructor.name}.loadStateDict: state ${k} of parameter ${i}`;
        if (typeof v === 'number') {
          if (k === 'step' && !(Number.isInteger(v) && v >= 0)) throw new GraftValueError(`${what} must be an integer >= 0, got ${v}`);
          if (!Number.isFinite(v)) throw new GraftValueError(`${what} must be a finite number, got ${v}`);
          copy[k] = v;
          continue;
        }
        if (!v || typeof v !== 'object' || !('shape' in v)) throw new GraftValueError(`${what} must be a number or a tensor, got ${typeof v}`);
        // A state of another shape would broadcast silently into the update.
        if (v.shape.length !== p.shape.length || v.shape.some((d, j) => d !== p.shape[j])) {
          throw new GraftShapeError(`${what} has shape ${fmtShape(v.shape)}, the parameter ${fmtShape(p.shape)}`);
        }
        copy[k] = keep(v);
      }
      this.state.set(p, copy);
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
/** State tensor `key` moved one step: `step` of its value (`init()` on the first step), kept in place of the old one. */
export function advance(state: Record<string, Tensor | number>, key: string, init: () => Tensor, step: (prev: Tensor) => Tensor): Tensor {
  return setState(state, key, step((state[key] as Tensor | undefined) ?? init()));
}

/** The step count after this step (PyTorch's `step` state), stored back. */
export function nextStep(state: Record<string, Tensor | number>): number {
  const step = ((state.step as number | undefined) ?? 0) + 1;
  state.step = step;
  return step;
}

/** The gradient with L2 weight decay added (PyTorch's `weight_decay` of SGD, Adam, RMSprop and Adagrad). */
export function withWeightDecay(grad: Tensor, p: Tensor, weightDecay: number): Tensor {
  return weightDecay ? grad.add(p.mul(weightDecay)) : grad;
}

export function setState(state: Record<string, Tensor | number>, key: string, next: Tensor): Tensor {
  const prev = state[key];
  state[key] = keep(next);
  if (prev && typeof prev !== 'number' && prev !== next) prev.dispose();
  return next;
}
