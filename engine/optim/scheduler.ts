/** @file Learning-rate schedules stepped once per epoch or iteration, as torch.optim.lr_scheduler. */
import type { Optimizer } from './optimizer.js';

export abstract class LRScheduler {
  lastEpoch = 0;
  readonly baseLrs: number[];

  constructor(protected readonly optimizer: Optimizer<{ lr: number }>) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** The factor or value for each group at `lastEpoch`. */
  protected abstract lrAt(base: number, epoch: number): number;

  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.lrAt(this.baseLrs[i]!, this.lastEpoch)));
  }

  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/** Multiplies the rate by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly stepSize: number, readonly gamma = 0.1) {
    super(opt);
  }
  protected lrAt(base: number, epoch: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** Cosine from the base rate down to etaMin over tMax steps (the closed form). */
export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly tMax: number, readonly etaMin = 0) {
    super(opt);
  }
  protected lrAt(base: number, epoch: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * Math.min(epoch, this.tMax)) / this.tMax))) / 2;
  }
}

/** Base rate times lambda(epoch). */
export class LambdaLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly lambda: (epoch: number) => number) {
    super(opt);
  }
  protected lrAt(base: number, epoch: number): number {
    return base * this.lambda(epoch);
  }
}

/** Linear warm-up from 0 over warmupSteps, then cosine decay to minLr at totalSteps. */
export class CosineWithWarmupLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly warmupSteps: number, readonly totalSteps: number, readonly minLr = 0) {
    super(opt);
  }
  protected lrAt(base: number, epoch: number): number {
    if (epoch < this.warmupSteps) return (base * (epoch + 1)) / (this.warmupSteps + 1);
    const t = Math.min(1, (epoch - this.warmupSteps) / Math.max(1, this.totalSteps - this.warmupSteps));
    return this.minLr + ((base - this.minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  }
}
