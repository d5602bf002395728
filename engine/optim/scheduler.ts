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

/** Each group's rate when the first scheduler attached to it (PyTorch's `initial_lr`): what every later scheduler starts from. */
const initialLr = new WeakMap<object, number>();

/** Sets each group's lr from its initial lr by a schedule; the first value applies at once. */
export class LRScheduler {
  lastEpoch = 0;
  baseLrs: number[];
  /** Whether `schedule` gives the rate from the base rate alone (what SequentialLR composes). */
  readonly closedForm: boolean = true;

  constructor(
    readonly optimizer: Optimizer<{ lr: number }>,
    /** The rate after `epoch` steps, in closed form. */
    readonly schedule: Schedule,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => {
      if (!initialLr.has(g)) initialLr.set(g, g.lr);
      return initialLr.get(g)!;
    });
    this.apply();
  }

  protected apply(): void {
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

/** Base rate times gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, gamma: number) {
    super(opt, (base, epoch) => base * gamma ** epoch);
  }
}

/** Base rate times gamma once for each milestone passed. */
export class MultiStepLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, milestones: number[], gamma = 0.1) {
    const sorted = [...milestones].sort((a, b) => a - b);
    super(opt, (base, epoch) => base * gamma ** sorted.filter((m) => m <= epoch).length);
  }
}

/** The base rate times a factor moving linearly from startFactor to endFactor over totalIters steps (PyTorch's defaults: 1/3, 1, 5). */
export class LinearLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, startFactor = 1 / 3, endFactor = 1, totalIters = 5) {
    if (!(startFactor > 0 && startFactor <= 1) || !(endFactor >= 0 && endFactor <= 1)) {
      throw new GraftValueError(`LinearLR: startFactor must be in (0, 1] and endFactor in [0, 1], got ${startFactor} and ${endFactor}`);
    }
    super(opt, (base, epoch) => base * (startFactor + ((endFactor - startFactor) * Math.min(totalIters, epoch)) / totalIters));
  }
}

/** Runs `schedulers` in turn, each from its own step 0 at its milestone (PyTorch's SequentialLR), all from the groups' initial rates. */
export class SequentialLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, schedulers: LRScheduler[], milestones: number[]) {
    if (schedulers.length === 0 || milestones.length !== schedulers.length - 1) {
      throw new GraftValueError(`SequentialLR: expected one more scheduler than milestones, got ${schedulers.length} schedulers and ${milestones.length} milestones`);
    }
    if (schedulers.some((s) => s.optimizer !== opt)) throw new GraftValueError('SequentialLR: every scheduler must belong to the optimizer passed in');
    // OneCycleLR sets the momentum as well and has no rate of its own over base rates to hand over.
    if (schedulers.some((s) => !s.closedForm)) throw new GraftValueError('SequentialLR: OneCycleLR cannot run inside it (it sets the momentum too); give it the whole run');
    super(opt, (base, epoch) => {
      const idx = milestones.filter((m) => m <= epoch).length;
      return schedulers[idx]!.schedule(base, idx ? epoch - milestones[idx - 1]! : epoch);
    });
  }
}

export interface PlateauOptions {
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  minLr: number;
  eps: number;
}

/** Cuts the rate by `factor` once a metric has not improved for `patience` steps (PyTorch's ReduceLROnPlateau and its defaults); step(metric) after each evaluation. */
export class ReduceLROnPlateau {
  readonly opts: PlateauOptions;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;

  constructor(
    readonly optimizer: Optimizer<{ lr: number }>,
    opts: Partial<PlateauOptions> = {},
  ) {
    this.opts = { mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: 'rel', cooldown: 0, minLr: 0, eps: 1e-8, ...opts };
    if (!(this.opts.factor < 1)) throw new GraftValueError(`ReduceLROnPlateau: factor must be below 1, got ${this.opts.factor}`);
    this.best = this.opts.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number): boolean {
    const { mode, threshold, thresholdMode } = this.opts;
    if (mode === 'min') return thresholdMode === 'rel' ? a < this.best * (1 - threshold) : a < this.best - threshold;
    return thresholdMode === 'rel' ? a > this.best * (threshold + 1) : a > this.best + threshold;
  }

  step(metric: number): void {
    if (typeof metric !== 'number' || Number.isNaN(metric)) throw new GraftValueError(`ReduceLROnPlateau.step: expected a number, got ${String(metric)}`);
    this.lastEpoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else this.numBadEpochs++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.opts.patience) {
      for (const g of this.optimizer.paramGroups) {
        const next = Math.max(g.lr * this.opts.factor, this.opts.minLr);
        if (g.lr - next > this.opts.eps) g.lr = next;
      }
      this.cooldownCounter = this.opts.cooldown;
      this.numBadEpochs = 0;
    }
  }

  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

export interface OneCycleOptions {
  pctStart: number;
  annealStrategy: 'cos' | 'linear';
  cycleMomentum: boolean;
  baseMomentum: number;
  maxMomentum: number;
  divFactor: number;
  finalDivFactor: number;
  threePhase: boolean;
}

/**
 * The 1cycle policy (PyTorch's OneCycleLR and its defaults): the rate rises from maxLr / divFactor
 * to maxLr over pctStart of totalSteps, then anneals to the initial rate / finalDivFactor, while
 * the momentum (SGD's momentum, Adam's first beta) moves the opposite way; stepped once per batch.
 */
export class OneCycleLR extends LRScheduler {
  override readonly closedForm = false;
  private readonly o: OneCycleOptions;
  private readonly phases: { end: number; lr: [number, number]; momentum: [number, number] }[][];

  constructor(
    opt: Optimizer<{ lr: number }>,
    maxLr: number | number[],
    readonly totalSteps: number,
    opts: Partial<OneCycleOptions> = {},
  ) {
    const o: OneCycleOptions = { pctStart: 0.3, annealStrategy: 'cos', cycleMomentum: true, baseMomentum: 0.85, maxMomentum: 0.95, divFactor: 25, finalDivFactor: 1e4, threePhase: false, ...opts };
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new GraftValueError(`OneCycleLR: totalSteps must be a positive integer, got ${totalSteps}`);
    if (!(o.pctStart >= 0 && o.pctStart <= 1)) throw new GraftValueError(`OneCycleLR: pctStart must be in [0, 1], got ${o.pctStart}`);
    const groups = opt.paramGroups as unknown as Record<string, unknown>[];
    const maxes = Array.isArray(maxLr) ? maxLr : groups.map(() => maxLr);
    if (maxes.length !== groups.length) throw new GraftValueError(`OneCycleLR: expected ${groups.length} values for maxLr, got ${maxes.length}`);
    if (o.cycleMomentum && groups.some((g) => typeof g.momentum !== 'number' && !Array.isArray(g.betas))) {
      throw new GraftValueError('OneCycleLR: the optimizer must have a momentum (SGD) or betas (Adam) to cycle; pass cycleMomentum: false');
    }
    const phases = maxes.map((max) => {
      const [initial, min] = [max / o.divFactor, max / o.divFactor / o.finalDivFactor];
      const [lo, hi] = [o.baseMomentum, o.maxMomentum];
      const up = o.pctStart * totalSteps - 1;
      return o.threePhase
        ? [{ end: up, lr: [initial, max], momentum: [hi, lo] }, { end: 2 * o.pctStart * totalSteps - 2, lr: [max, initial], momentum: [lo, hi] }, { end: totalSteps - 1, lr: [initial, min], momentum: [hi, hi] }]
        : [{ end: up, lr: [initial, max], momentum: [hi, lo] }, { end: totalSteps - 1, lr: [max, min], momentum: [lo, hi] }];
    }) as { end: number; lr: [number, number]; momentum: [number, number] }[][];
    // The rates come from the phases, not from a schedule over base rates; apply() sets them.
    super(opt, (base) => base);
    this.o = o;
    this.phases = phases;
    this.apply();
  }

  /** The rate and momentum of group `g` after `step` steps. */
  private at(g: number, step: number): { lr: number; momentum: number } {
    const anneal = (a: number, b: number, pct: number) => (this.o.annealStrategy === 'cos' ? b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1) : (b - a) * pct + a);
    const phases = this.phases[g]!;
    let start = 0;
    for (let i = 0; i < phases.length; i++) {
      const p = phases[i]!;
      if (step <= p.end || i === phases.length - 1) {
        const pct = (step - start) / (p.end - start);
        return { lr: anneal(p.lr[0], p.lr[1], pct), momentum: anneal(p.momentum[0], p.momentum[1], pct) };
      }
      start = p.end;
    }
    throw new GraftValueError('OneCycleLR: no phase');
  }

  protected override apply(): void {
    // Called once by the base constructor before the phases exist; the constructor applies again.
    if (!this.phases) return;
    if (this.lastEpoch > this.totalSteps) throw new GraftValueError(`OneCycleLR: tried to step ${this.lastEpoch + 1} times; totalSteps is ${this.totalSteps}`);
    this.optimizer.paramGroups.forEach((group, i) => {
      const { lr, momentum } = this.at(i, this.lastEpoch);
      group.lr = lr;
      if (!this.o.cycleMomentum) return;
      const g = group as unknown as { momentum?: number; betas?: [number, number] };
      if (Array.isArray(g.betas)) g.betas = [momentum, g.betas[1]];
      else g.momentum = momentum;
    });
  }
}
