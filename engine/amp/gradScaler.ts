/** @file Dynamic loss scaling (torch.amp.GradScaler): f16 gradients kept out of underflow, steps with an inf or NaN gradient skipped. */
import { noGrad } from '../autograd.js';
import { GraftDTypeError, GraftStateError, GraftValueError } from '../../core/errors.js';
import type { Optimizer } from '../optim/optimizer.js';
import { type Tensor, tidy } from '../tensor.js';

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  /** Steps without an inf or NaN gradient before the scale grows. */
  growthInterval?: number;
  /** false: scale() returns the loss as it is and step() just steps (PyTorch's enabled=False). */
  enabled?: boolean;
}

export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

type Stage = 'unscaled' | 'stepped';

type Schedule = Pick<GradScalerState, 'scale' | 'growthFactor' | 'backoffFactor' | 'growthInterval'>;

/** The scale and its schedule, each checked for its domain; `scaleName` is what the caller calls the scale. */
function checkedSchedule(who: string, v: Schedule, scaleName: string): Schedule {
  const check = (name: string, x: number, ok: boolean, want: string) => {
    if (!ok) throw new GraftValueError(`${who}: ${name} must be ${want}, got ${x}`);
  };
  check(scaleName, v.scale, v.scale > 0 && Number.isFinite(v.scale), 'a finite number > 0');
  check('growthFactor', v.growthFactor, v.growthFactor > 1 && Number.isFinite(v.growthFactor), 'a finite number > 1');
  check('backoffFactor', v.backoffFactor, v.backoffFactor > 0 && v.backoffFactor < 1, 'in (0, 1)');
  check('growthInterval', v.growthInterval, Number.isInteger(v.growthInterval) && v.growthInterval > 0, 'an integer > 0');
  return { scale: v.scale, growthFactor: v.growthFactor, backoffFactor: v.backoffFactor, growthInterval: v.growthInterval };
}

/**
 * PyTorch's GradScaler: `scaler.scale(loss).backward()`, then `await scaler.step(optimizer)` (it
 * unscales the gradients and steps unless one of them holds an inf or NaN), then `scaler.update()`
 * (halve the scale after a skipped step, double it after growthInterval clean ones). Finding an
 * inf reads one number back per step, as PyTorch's step does, so step is async.
 */
export class GradScaler {
  /** The scale and the rules that move it. */
  private schedule: Schedule;
  private growthTracker = 0;
  private readonly enabled: boolean;
  /** What happened to each optimizer this iteration, and whether its gradients held an inf or NaN. */
  private readonly stages = new Map<Optimizer<{ lr: number }>, { stage: Stage; foundInf: boolean }>();

  constructor(opts: GradScalerOptions = {}) {
    this.schedule = checkedSchedule('GradScaler', {
      scale: opts.initScale ?? 2 ** 16, growthFactor: opts.growthFactor ?? 2, backoffFactor: opts.backoffFactor ?? 0.5, growthInterval: opts.growthInterval ?? 2000,
    }, 'initScale');
    this.enabled = opts.enabled ?? true;
  }

  isEnabled(): boolean {
    return this.enabled;
  }

  getScale(): number {
    return this.enabled ? this.schedule.scale : 1;
  }

  /** The loss times the scale, in f32 (an f16 loss would overflow where the scale is large). */
  scale(loss: Tensor): Tensor {
    if (!this.enabled) return loss;
    return loss.float().mul(this.schedule.scale);
  }

  /**
   * Divides the optimizer's gradients by the scale, in place (before clipping them, say), and notes
   * whether any holds an inf or NaN. Once per optimizer between updates.
   */
  async unscale_(optimizer: Optimizer<{ lr: number }>): Promise<void> {
    if (!this.enabled) return;
    const st = this.stages.get(optimizer);
    if (st?.stage === 'unscaled') throw new GraftStateError('GradScaler.unscale_: already called for this optimizer since the last update()');
    if (st?.stage === 'stepped') throw new GraftStateError('GradScaler.unscale_: called after step(); call update() first');
    const grads = optimizer.paramGroups.flatMap((g) => g.params).filter((p) => p.grad).map((p) => p.grad!);
    for (const g of grads) {
      if (g.dtype !== 'f32' && g.dtype !== 'f64') throw new GraftDTypeError(`GradScaler.unscale_: a gradient is ${g.dtype}; keep the parameters in f32 (autocast computes in f16 from f32 weights)`);
    }
    const inv = 1 / this.schedule.scale;
    // inf * 0 and NaN * 0 are NaN, so one sum of zeroed gradients says whether any is not finite.
    const flag = grads.length === 0 ? null : noGrad(() => tidy(() => {
      const zeroed = grads.map((g) => g.mul(0).sum());
      for (const g of grads) g.mul_(inv);
      return zeroed.reduce((a, b) => a.add(b));
    }));
    const foundInf = flag ? !Number.isFinite((await flag.data())[0]!) : false;
    flag?.dispose();
    this.stages.set(optimizer, { stage: 'unscaled', foundInf });
  }

  /** Unscales (unless unscale_ already did) and steps the optimizer unless a gradient held an inf or NaN; resolves to whether it stepped. */
  async step(optimizer: Optimizer<{ lr: number }>): Promise<boolean> {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (this.stages.get(optimizer)?.stage === 'stepped') throw new GraftStateError('GradScaler.step: already called for this optimizer since the last update()');
    if (!this.stages.has(optimizer)) await this.unscale_(optimizer);
    const st = this.stages.get(optimizer)!;
    st.stage = 'stepped';
    if (st.foundInf) return false;
    optimizer.step();
    return true;
  }

  /** Moves the scale for the next iteration (or sets it to `newScale`) and forgets this iteration's optimizers. */
  update(newScale?: number): void {
    if (!this.enabled) return;
    if (newScale !== undefined) {
      if (!(newScale > 0 && Number.isFinite(newScale))) throw new GraftValueError(`GradScaler.update: newScale must be a finite number > 0, got ${newScale}`);
      this.schedule.scale = newScale;
    } else {
      if (this.stages.size === 0) throw new GraftStateError('GradScaler.update: no step() or unscale_() since the last update()');
      if ([...this.stages.values()].some((s) => s.foundInf)) {
        this.schedule.scale *= this.schedule.backoffFactor;
        this.growthTracker = 0;
      } else if (++this.growthTracker === this.schedule.growthInterval) {
        this.schedule.scale *= this.schedule.growthFactor;
        this.growthTracker = 0;
      }
    }
    this.stages.clear();
  }

  stateDict(): GradScalerState {
    return { ...this.schedule, growthTracker: this.growthTracker };
  }

  /** Restores what stateDict() gave; each value is checked as the constructor checks its option. */
  loadStateDict(sd: GradScalerState): void {
    if (!(Number.isInteger(sd.growthTracker) && sd.growthTracker >= 0)) throw new GraftValueError(`GradScaler.loadStateDict: growthTracker must be an integer >= 0, got ${sd.growthTracker}`);
    this.schedule = checkedSchedule('GradScaler.loadStateDict', sd, 'scale');
    this.growthTracker = sd.growthTracker;
  }
}
