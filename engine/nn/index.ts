/** @file torch.nn: modules, layers and initialisers. */
export { Module, Parameter, type StateDict, type LoadResult, type ForwardHook } from './module.js';
export { Sequential, ModuleList, ModuleDict } from './containers.js';
export { CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, BCEWithLogitsLoss } from './loss.js';
export { Linear, Conv1d, Conv2d, ConvTranspose2d, Embedding, Dropout, Flatten, Identity, type Conv2dOptions } from './layers.js';
export { BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, type BatchNormOptions } from './norm.js';
export { convBatchNorm } from './fold.js';
export { ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d } from './activation.js';
export * as init from './init.js';
