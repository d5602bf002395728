/** @file torch.optim: optimizers, schedules and gradient clipping. */
export { Optimizer, type ParamGroup, type ParamsInput } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { RMSprop, Adagrad, type RMSpropOptions, type AdagradOptions } from './rmsprop.js';
export { LRScheduler, StepLR, CosineAnnealingLR, LambdaLR, CosineWithWarmupLR, ExponentialLR, MultiStepLR, LinearLR, SequentialLR, ReduceLROnPlateau, OneCycleLR, type OneCycleOptions, type PlateauOptions, type Schedule, type SchedulerState } from './scheduler.js';
export { clipGradNorm } from './clip.js';
