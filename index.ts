/// <reference types="@webgpu/types" preserve="true" />
/** @file graft's public entry point (its declarations name the WebGPU types, which @webgpu/types, a dependency, declares). */
import './engine/init.js';

export { init, createWebGPUBackend, type InitOptions, type BackendName } from './engine/init.js';
export { WebGPUBackend } from './engine/webgpu/backend.js';
export { keep } from './engine/memory.js';
export { Tensor, where, tidy, type Scalar, type TensorLike } from './engine/tensor.js';
export {
  tensor, full, zeros, ones, arange, linspace, eye, randn, rand, uniform, randint, randperm, permutation,
  zerosLike, onesLike, fullLike, randnLike, type CreateOptions, type RandomOptions, type NestedData,
} from './engine/creation.js';
export { noGrad, enableGrad, isGradEnabled, grad, type BackwardOptions, type GradOptions } from './engine/autograd.js';
export { Generator, manualSeed, defaultGenerator } from './engine/random.js';
export { gradcheck, type GradcheckOptions } from './engine/gradcheck.js';
export { GraftError, GraftShapeError, GraftDTypeError, GraftStateError, GraftFormatError, GraftValueError, fmtShape } from './core/errors.js';
export type { DType, TypedArray } from './core/dtype.js';
export { SCHEMA, VIEWS, OP_NAMES, type OpName, type OpAttrs, type OpKind, type ElementwiseOp, type KernelOp, type ViewOp, type ReduceOp } from './ops/schema.js';
export type { Conv2dAttrs, Conv2dParams, Pool2dParams, AvgPool2dAttrs, ReduceAttrs } from './core/params.js';
export { GRADS, type GradRule } from './engine/grad.js';
export { apply } from './engine/tensor.js';
export { setCpuThreads, cpuThreads } from './kernels/cpu/wasm.js';
export type { Backend, BufferHandle, TensorView } from './engine/backend.js';
export { getBackend } from './engine/backend.js';
export * as functional from './engine/functional.js';
export { concat, cat, stack } from './engine/functional.js';
export * as nn from './engine/nn/index.js';
export * as optim from './engine/optim/index.js';
export * as amp from './engine/amp/index.js';
