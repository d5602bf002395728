/** @file The parameter types of the windowed and reducing ops, defined once for the schema, every backend's kernels and the modules. */

/** A convolution's window: stride, zero padding and dilation per spatial dimension, and channel groups. */
export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/** conv2d's attributes as an op: the window, and a clamp applied to each output after the bias (ReLU is [0, Infinity], ReLU6 [0, 6]). */
export interface Conv2dAttrs extends Conv2dParams {
  clamp?: [number, number];
}

/** A pooling window. */
export interface Pool2dParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/** avgPool2d's attributes: `countIncludePad` divides by the full window, as PyTorch's default does. */
export type AvgPool2dAttrs = Omit<Pool2dParams, 'dilation'> & { countIncludePad: boolean };

/** The reductions every backend implements. */
export type ReduceKind = 'sum' | 'mean' | 'max' | 'argmax';

export interface ReduceAttrs {
  /** Sorted, non-negative axes. */
  dims: number[];
  keepdim: boolean;
}

/** Output length of a window of size k, stride s, padding p and dilation d sliding over `size` (PyTorch's formula). */
export function convOutSize(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}
