/** @file The CPU backend's kernel tables: each elementwise op's scalar reference function and each kernel op's kernel, exhaustive over the op names. */
import { GraftStateError, fmtShape } from '../../core/errors.js';
import type { BinaryOp, ElementwiseOp, KernelOp, Meta, OpAttrs, TernaryOp } from '../../ops/schema.js';
import { erf } from '../../kernels/cpu/math.js';
import { matmul as matmulKernel } from '../../kernels/cpu/matmul.js';
import { conv2d as conv2dKernel } from '../../kernels/cpu/conv.js';
import { avgPool2d as avgPoolKernel, maxPool2dIndices as maxPoolKernel } from '../../kernels/cpu/pool.js';
import { IndexOutOfRange, gather as gatherKernel, scatterAdd as scatterAddKernel } from '../../kernels/cpu/gather.js';
import { concat as concatKernel, pad as padKernel } from '../../kernels/cpu/layout.js';
import type { Strided } from '../../kernels/cpu/strided.js';
import { cumsum as cumsumKernel } from '../../kernels/cpu/scan.js';
import { softmax as softmaxKernel } from '../../kernels/cpu/softmax.js';
import { attention as attentionKernel } from '../../kernels/cpu/attention.js';
import { argsort as argsortKernel } from '../../kernels/cpu/sort.js';

/** An elementwise op's value for one element, computed in f64 and rounded once when stored (the reference every vector form is measured against). */
export type ScalarOf<K extends ElementwiseOp> = K extends TernaryOp ? (c: number, a: number, b: number) => number : K extends BinaryOp ? (a: number, b: number) => number : (a: number, attrs: OpAttrs[K]) => number;

export const SCALAR: { [K in ElementwiseOp]: ScalarOf<K> } = {
  neg: (a) => -a,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  // Two branches keep exp's argument non-positive, so neither overflows.
  sigmoid: (a) => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))),
  erf: erf,
  relu: (a) => (a > 0 ? a : Number.isNaN(a) ? a : 0),
  clamp: (a, { min, max }) => (a < min ? min : a > max ? max : a),
  // Float to i32 truncates and saturates (NaN gives 0) on every backend; C leaves it undefined.
  cast: (a, { dtype }) => (dtype === 'bool' ? (a !== 0 ? 1 : 0) : dtype === 'i32' ? (a !== a ? 0 : a >= 2147483647 ? 2147483647 : a <= -2147483648 ? -2147483648 : Math.trunc(a)) : a),
  contiguous: (a) => a,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  lt: (a, b) => (a < b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
  where: (c, a, b) => (c ? a : b),
};

/** A kernel op on the CPU: reads strided inputs, writes the dense output. */
export type CpuKernel<K extends KernelOp> = (inputs: Strided[], out: Strided, attrs: OpAttrs[K], meta: { inputs: readonly Meta[]; out: Meta }) => void;

function boundsCheck(op: string, r: IndexOutOfRange | null, shape: readonly number[], dim: number): void {
  if (r) {
    throw new GraftStateError(`${op}: index ${r.value} is out of range for dimension ${dim} of size ${r.size} (input shape ${fmtShape(shape)})`);
  }
}

export const KERNELS: { [K in KernelOp]: CpuKernel<K> } = {
  matmul: ([a, b], out, _, m) => matmulKernel(a!, b!, out.data, m.out.shape, m.out.dtype),
  conv2d: ([x, w, b], out, p, m) => conv2dKernel(x!, w!, out.data, p, m.out.dtype, b),
  avgPool2d: ([x], out, a, m) => avgPoolKernel(x!, out.data, { ...a, dilation: [1, 1] }, m.out.shape, m.out.dtype),
  maxPool2dIndices: ([x], out, a, m) => maxPoolKernel(x!, out.data, a, m.out.shape, m.inputs[0]!.dtype),
  gather: ([x, i], out, { dim }) => boundsCheck('gather', gatherKernel(x!, i!, dim, out.data), x!.shape, dim),
  scatterAdd: ([b, i, s], out, { dim }) => boundsCheck('scatterAdd', scatterAddKernel(b!, i!, s!, dim, out.data), b!.shape, dim),
  concat: (ins, out, { dim }, m) => concatKernel(ins, dim, out.data, m.out.shape),
  pad: ([x], out, { pads, value }, m) => padKernel(x!, pads, value, out.data, m.out.shape),
  cumsum: ([x], out, { dim }, m) => cumsumKernel(x!, dim, out.data, m.out.dtype),
  softmax: ([x], out, { dim }, m) => softmaxKernel(x!, dim, out.data, false, m.out.dtype),
  logSoftmax: ([x], out, { dim }, m) => softmaxKernel(x!, dim, out.data, true, m.out.dtype),
  argsort: ([x], out, { dim, descending }) => argsortKernel(x!, dim, descending, out.data),
  attention: ([q, k, v, mask], out, { scale, causal }, m) => attentionKernel(q!, k!, v!, mask, scale, causal, out.data, m.out.dtype),
};
