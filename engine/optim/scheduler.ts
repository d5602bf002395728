/** @file Learning-rate schedules stepped once per epoch or iteration, as torch.optim.lr_scheduler. */
import { GraftValueError } from '../../core/errors.js';
import type { Optimizer } from './optimizer.js';

/** What a scheduler needs to continue where it stopped (PyTorch's `last_epoch` and `base_lrs`). */
export interface SchedulerState {
  lastEpoch: number;
  baseLrs: number[];
}

/** The rate for a group with base rate `base` after `epoch` steps. */
export type Schedule = (base: number, epoch: number) => number;

/** Sets each group's lr from its initial lr by a schedule; the first value applies at once. */
export class LRScheduler {
  lastEpoch = 0;
  baseLrs: number[];

  constructor(
    protected readonly optimizer: Optimizer<{ lr: number }>,
    private readonly schedule: Schedule,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.schedule(this.baseLrs[i]!, this.lastEpoch)));
  }

  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Continues from a saved state: the step count and base rates are checked, then the rate for that step is set. */
  loadStateDict(state: SchedulerState): void {
    const name = this.constructor.name;
    const { lastEpoch, baseLrs } = (state ?? {}) as Partial<SchedulerState>;
    if (!Number.isSafeInteger(lastEpoch) || lastEpoch! < 0) throw new GraftValueError(`${name}.loadStateDict: lastEpoch must be an integer >= 0, got ${String(lastEpoch)}`);
    if (!Array.isArray(baseLrs) || baseLrs.length !== this.optimizer.paramGroups.length) {
      throw new GraftValueError(`${name}.loadStateDict: baseLrs must hold one rate per parameter group (${this.optimizer.paramGroups.length}), got ${JSON.stringify(baseLrs)}`);
    }
    baseLrs.forEach((lr, i) => {
      if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new GraftValueError(`${name}.loadStateDict: baseLrs[${i}] must be a finite number >= 0, got ${JSON.stringify(lr)}`);
    });
    this.lastEpoch = lastEpoch!;
    this.baseLrs = [...baseLrs];
    this.apply();
  }
}

/** Multiplies the rate by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, stepSize: number, gamma = 0.1) {
    super(opt, (base, epoch) => base * gamma ** Math.floor(epoch / stepSize));
  }
}

/** Cosine from the base rate down to etaMin over tMax steps, and back up over the next tMax, as PyTorch continues it (the closed form). */
export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, tMax: number, etaMin = 0) {
    super(opt, (base, epoch) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2);
  }
}

/** Base rate times lambda(epoch). */
export class LambdaLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, lambda: (epoch: number) => number) {
    super(opt, (base, epoch) => base * lambda(epoch));
  }
}

/** Rises linearly towards the base rate over the first warmupSteps steps, then decays by a cosine to minLr at totalSteps. */
export class CosineWithWarmupLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, warmupSteps: number, totalSteps: number, minLr = 0) {
    super(opt, (base, epoch) => {
      if (epoch < warmupSteps) return (base * (epoch + 1)) / (warmupSteps + 1);
      const t = Math.min(1, (epoch - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
      return minLr + ((base - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
    });
  }
}
