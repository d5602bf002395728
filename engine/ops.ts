/** @file The op table: every primitive's kind, shape rule, CPU kernel, WGSL snippet or family, and gradient. */
import { type DType, isFloat } from './dtype.js';
import { GraftDTypeError, GraftShapeError, GraftStateError, fmtShape } from './errors.js';
import { broadcastShapes, contiguousStrides, isContiguous, sizeOf } from './shape.js';
import { type Tensor, where } from './tensor.js';
import { erf } from '../kernels/cpu/math.js';
import type { ReduceKind } from '../kernels/cpu/reduce.js';
import { matmul as matmulKernel } from '../kernels/cpu/matmul.js';
import { type Conv2dAttrs, type Conv2dParams, conv2d as conv2dKernel, convOutSize } from '../kernels/cpu/conv.js';
import { type Pool2dParams, avgPool2d as avgPoolKernel, maxPool2dIndices as maxPoolKernel } from '../kernels/cpu/pool.js';
import { IndexOutOfRange, gather as gatherKernel, scatterAdd as scatterAddKernel } from '../kernels/cpu/gather.js';
import { concat as concatKernel, pad as padKernel } from '../kernels/cpu/layout.js';
import type { Strided } from '../kernels/cpu/strided.js';
import { conv2dInputGrad, conv2dWeightGrad } from './convGrad.js';
import { full, tensor, zerosLike } from './creation.js';

type None = Record<never, never>;
export interface ReduceAttrs {
  /** Sorted, non-negative axes. */
  dims: number[];
  keepdim: boolean;
}
export type AvgPool2dAttrs = Omit<Pool2dParams, 'dilation'> & { countIncludePad: boolean };
export type { Conv2dAttrs, Conv2dParams, Pool2dParams };

/** Attributes of every primitive; its keys are the op names. */
export interface OpAttrs {
  neg: None; exp: None; log: None; sqrt: None; abs: None; sin: None; cos: None; tanh: None;
  sigmoid: None; erf: None; relu: None;
  clamp: { min: number; max: number };
  cast: { dtype: DType };
  contiguous: None;
  add: None; sub: None; mul: None; div: None; pow: None; maximum: None; minimum: None;
  lt: None; gt: None; eq: None;
  where: None;
  sum: ReduceAttrs; mean: ReduceAttrs; max: ReduceAttrs; argmax: ReduceAttrs;
  reshape: { shape: number[] };
  permute: { dims: number[] };
  expand: { shape: number[] };
  /** Full-rank, normalised: 0 <= start, step >= 1, `size` elements taken per dimension. */
  slice: { starts: number[]; sizes: number[]; steps: number[] };
  flip: { dims: number[] };
  matmul: None;
  /** With a third input, the bias [O]; `clamp` then bounds each output (a fused ReLU or ReLU6). */
  conv2d: Conv2dAttrs;
  avgPool2d: AvgPool2dAttrs;
  maxPool2dIndices: Pool2dParams;
  gather: { dim: number };
  scatterAdd: { dim: number };
  concat: { dim: number };
  /** One [before, after] pair per dimension; negative amounts crop. */
  pad: { pads: [number, number][]; value: number };
}
export type OpName = keyof OpAttrs;

export interface Meta {
  readonly shape: readonly number[];
  readonly dtype: DType;
}
export interface ViewMeta {
  shape: number[];
  strides: number[];
  offset: number;
}

/**
 * Input gradients for one op, written with tensor ops; null where an input gets none. `needs[i]`
 * says whether input i wants one: a rule may skip the work for the others (a frozen layer's
 * weights, the network's input), as autograd discards them anyway.
 */
export type GradRule<K extends OpName> = (g: Tensor, inputs: Tensor[], out: Tensor, attrs: OpAttrs[K], needs: readonly boolean[]) => (Tensor | null)[];

interface Common<K extends OpName> {
  infer(inputs: readonly Meta[], attrs: OpAttrs[K]): Meta;
  /** null: the op has no gradient (integer or boolean outputs). */
  grad: GradRule<K> | null;
}
/**
 * Elementwise ops carry a scalar CPU function and a WGSL expression over the inputs `a`, `b`, `c`;
 * `T` is the inputs' value type, `attr_<name>` a numeric attribute, and `cast(a)` converts to the output type.
 */
export interface UnarySpec<K extends OpName> extends Common<K> {
  kind: 'unary';
  cpu: (a: number, attrs: OpAttrs[K]) => number;
  wgsl: string;
}
export interface BinarySpec<K extends OpName> extends Common<K> {
  kind: 'binary';
  cpu: (a: number, b: number) => number;
  wgsl: string;
}
export interface TernarySpec<K extends OpName> extends Common<K> {
  kind: 'ternary';
  cpu: (a: number, b: number, c: number) => number;
  wgsl: string;
}
export interface ReduceSpec<K extends OpName> extends Common<K> {
  kind: 'reduce';
  cpu: ReduceKind;
  wgsl: { family: 'reduce' };
}
/** Views move no data: they compute new strides, or null when a copy is needed first. */
export interface ViewSpec<K extends OpName> extends Common<K> {
  kind: 'view';
  view(input: ViewMeta, attrs: OpAttrs[K]): ViewMeta | null;
}
export type KernelFamily = 'matmul' | 'conv' | 'pool' | 'gather' | 'layout';
export interface KernelSpec<K extends OpName> extends Common<K> {
  kind: 'kernel';
  cpu: (inputs: Strided[], out: Strided, attrs: OpAttrs[K], meta: { inputs: readonly Meta[]; out: Meta }) => void;
  wgsl: { family: KernelFamily };
}
export type OpSpec<K extends OpName> = UnarySpec<K> | BinarySpec<K> | TernarySpec<K> | ReduceSpec<K> | ViewSpec<K> | KernelSpec<K>;

/** The elementwise ops by arity: what the lazy graph records and each backend's expression compiler renders. */
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'erf' | 'relu' | 'clamp' | 'cast' | 'contiguous';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'lt' | 'gt' | 'eq';
export type TernaryOp = 'where';
export type ElementwiseOp = UnaryOp | BinaryOp | TernaryOp;

/** Each op's spec, its kind fixed by its name for the elementwise ops. */
type SpecOf<K extends OpName> = K extends UnaryOp ? UnarySpec<K> : K extends BinaryOp ? BinarySpec<K> : K extends TernaryOp ? TernarySpec<K> : OpSpec<K>;

// ---------------------------------------------------------------------------------------------
// Shape and dtype rules shared by several entries.

function arity(op: string, ins: readonly Meta[], n: number): void {
  if (ins.length !== n) throw new GraftShapeError(`${op}: expected ${n} inputs, got ${ins.length}`);
}
function sameDtype(op: string, ins: readonly Meta[]): DType {
  const d = ins[0]!.dtype;
  for (const m of ins) {
    if (m.dtype !== d) throw new GraftDTypeError(`${op}: dtypes ${ins.map((i) => i.dtype).join(' and ')} differ (cast one first)`);
  }
  return d;
}
function needFloat(op: string, d: DType): void {
  if (!isFloat(d)) throw new GraftDTypeError(`${op}: expected a floating-point tensor, got ${d}`);
}
function needNumeric(op: string, d: DType): void {
  if (d === 'bool') throw new GraftDTypeError(`${op}: not defined for bool tensors`);
}
const unaryFloat = (op: string) => (ins: readonly Meta[]): Meta => {
  arity(op, ins, 1);
  needFloat(op, ins[0]!.dtype);
  return ins[0]!;
};
const unaryNumeric = (op: string) => (ins: readonly Meta[]): Meta => {
  arity(op, ins, 1);
  needNumeric(op, ins[0]!.dtype);
  return ins[0]!;
};
const binary = (op: string, kind: 'numeric' | 'float' | 'compare') => (ins: readonly Meta[]): Meta => {
  arity(op, ins, 2);
  const d = sameDtype(op, ins);
  if (kind === 'float') needFloat(op, d);
  if (kind === 'numeric') needNumeric(op, d);
  return { shape: broadcastShapes(op, ins[0]!.shape, ins[1]!.shape), dtype: kind === 'compare' ? 'bool' : d };
};
const reduceInfer = (op: string, dtype: (d: DType) => DType) => (ins: readonly Meta[], a: ReduceAttrs): Meta => {
  arity(op, ins, 1);
  const { shape } = ins[0]!;
  for (const d of a.dims) {
    if (d < 0 || d >= shape.length) throw new GraftShapeError(`${op}: dimension ${d} is out of range for shape ${fmtShape(shape)}`);
    if (shape[d] === 0 && (op === 'max' || op === 'argmax')) {
      throw new GraftShapeError(`${op}: cannot reduce over dimension ${d} of size 0 in shape ${fmtShape(shape)}`);
    }
  }
  const out = shape.flatMap((s, i) => (a.dims.includes(i) ? (a.keepdim ? [1] : []) : [s]));
  return { shape: out, dtype: dtype(ins[0]!.dtype) };
};

// ---------------------------------------------------------------------------------------------
// Gradient helpers.

/** Sums a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.shape.length - shape.length;
  let r = lead > 0 ? g.sum([...Array(lead).keys()]) : g;
  const dims = shape.flatMap((d, i) => (d === 1 && r.shape[i] !== 1 ? [i] : []));
  if (dims.length) r = r.sum(dims, true);
  return r;
}
/** Re-inserts reduced axes (size 1) so a reduction's gradient broadcasts against its input. */
function unreduce(g: Tensor, a: ReduceAttrs): Tensor {
  if (a.keepdim) return g;
  const shape = [...g.shape];
  for (const d of a.dims) shape.splice(d, 0, 1);
  return g.reshape(shape);
}
const floatOnly = (x: Tensor, g: Tensor | null): Tensor | null => (g && isFloat(x.dtype) ? g : null);
const mask = (t: Tensor, like: Tensor): Tensor => t.cast(like.dtype);

// ---------------------------------------------------------------------------------------------
// Kernel helpers.

function boundsCheck(op: string, r: IndexOutOfRange | null, shape: readonly number[], dim: number): void {
  if (r) {
    throw new GraftStateError(`${op}: index ${r.value} is out of range for dimension ${dim} of size ${r.size} (input shape ${fmtShape(shape)})`);
  }
}
function pair(op: string, name: string, v: readonly number[], min: number): void {
  // Untyped callers reach the primitive too (t.conv2d(w, { padding })): a missing pair is named, not a TypeError.
  if (!Array.isArray(v)) throw new GraftShapeError(`${op}: ${name} must be two integers >= ${min}, got ${String(v)}`);
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < min)) {
    throw new GraftShapeError(`${op}: ${name} must be two integers >= ${min}, got [${v.join(',')}]`);
  }
}
function poolOut(op: string, x: Meta, kernel: number[], stride: number[], padding: number[], dilation: number[]): number[] {
  if (x.shape.length !== 4) throw new GraftShapeError(`${op}: expected a 4-d NCHW input, got ${fmtShape(x.shape)}`);
  pair(op, 'kernel', kernel, 1);
  pair(op, 'stride', stride, 1);
  pair(op, 'padding', padding, 0);
  pair(op, 'dilation', dilation, 1);
  for (let i = 0; i < 2; i++) {
    if (padding[i]! > kernel[i]! / 2) {
      throw new GraftShapeError(`${op}: padding ${padding[i]} must be at most half the kernel size ${kernel[i]}`);
    }
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const oh = convOutSize(h, kernel[0]!, stride[0]!, padding[0]!, dilation[0]!);
  const ow = convOutSize(w, kernel[1]!, stride[1]!, padding[1]!, dilation[1]!);
  if (oh <= 0 || ow <= 0) {
    throw new GraftShapeError(`${op}: input ${fmtShape(x.shape)} is too small for kernel [${kernel.join(',')}] (output would be ${oh}x${ow})`);
  }
  return [n, c, oh, ow];
}
/** Gradient of a (sum-)pooled plane: the transposed depthwise convolution with a constant window. */
function avgPoolGrad(g: Tensor, x: Tensor, a: AvgPool2dAttrs): Tensor {
  const [, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = a.kernel;
  const [oh, ow] = [g.shape[2]!, g.shape[3]!];
  let scaled: Tensor;
  if (a.countIncludePad) scaled = g.div(kh * kw);
  else {
    const count = (o: number, k: number, s: number, p: number, size: number) => Math.min(o * s - p + k, size) - Math.max(o * s - p, 0);
    const div = new Float64Array(oh * ow);
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) div[i * ow + j] = count(i, kh, a.stride[0], a.padding[0], h) * count(j, kw, a.stride[1], a.padding[1], w);
    scaled = g.div(tensor(div, { shape: [oh, ow], dtype: g.dtype, backend: g.storage.backend }));
  }
  const ones = full([c, 1, kh, kw], 1, g.dtype, { backend: g.storage.backend });
  return conv2dInputGrad(scaled, ones, x.shape, { stride: a.stride, padding: a.padding, dilation: [1, 1], groups: c });
}
// ---------------------------------------------------------------------------------------------
// The table.

export const OPS: { [K in OpName]: SpecOf<K> } = {
  neg: { kind: 'unary', cpu: (a) => -a, wgsl: '-a', infer: unaryNumeric('neg'), grad: (g) => [g.neg()] },
  exp: { kind: 'unary', cpu: Math.exp, wgsl: 'exp(a)', infer: unaryFloat('exp'), grad: (g, _, y) => [g.mul(y)] },
  log: { kind: 'unary', cpu: Math.log, wgsl: 'log(a)', infer: unaryFloat('log'), grad: (g, [x]) => [g.div(x!)] },
  sqrt: { kind: 'unary', cpu: Math.sqrt, wgsl: 'sqrt(a)', infer: unaryFloat('sqrt'), grad: (g, _, y) => [g.div(y.mul(2))] },
  abs: {
    kind: 'unary', cpu: Math.abs, wgsl: 'abs(a)', infer: unaryNumeric('abs'),
    grad: (g, [x]) => [g.mul(mask(x!.gt(0), g).sub(mask(x!.lt(0), g)))],
  },
  sin: { kind: 'unary', cpu: Math.sin, wgsl: 'sin(a)', infer: unaryFloat('sin'), grad: (g, [x]) => [g.mul(x!.cos())] },
  cos: { kind: 'unary', cpu: Math.cos, wgsl: 'cos(a)', infer: unaryFloat('cos'), grad: (g, [x]) => [g.mul(x!.sin()).neg()] },
  tanh: { kind: 'unary', cpu: Math.tanh, wgsl: 'tanh(clampn_f32(a, -15.0, 15.0))', infer: unaryFloat('tanh'), grad: (g, _, y) => [g.mul(y.mul(y).neg().add(1))] },
  sigmoid: {
    kind: 'unary',
    // Two branches keep exp's argument non-positive, so neither overflows.
    cpu: (a) => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))),
    wgsl: 'select(exp(a) / (1.0 + exp(a)), 1.0 / (1.0 + exp(-a)), a >= 0.0)',
    infer: unaryFloat('sigmoid'),
    grad: (g, _, y) => [g.mul(y.mul(y.neg().add(1)))],
  },
  erf: {
    kind: 'unary', cpu: erf, wgsl: 'erf_f32(a)', infer: unaryFloat('erf'),
    grad: (g, [x]) => [g.mul(x!.mul(x!).neg().exp().mul(2 / Math.sqrt(Math.PI)))],
  },
  relu: {
    kind: 'unary', cpu: (a) => (a > 0 ? a : Number.isNaN(a) ? a : 0), wgsl: 'maxn_T(a, T(0))', infer: unaryNumeric('relu'),
    grad: (g, [x]) => [g.mul(mask(x!.gt(0), g))],
  },
  clamp: {
    kind: 'unary', cpu: (a, { min, max }) => (a < min ? min : a > max ? max : a), wgsl: 'clampn_T(a, T(attr_min), T(attr_max))',
    infer: (ins, { min, max }) => {
      if (min > max) throw new GraftShapeError(`clamp: min ${min} is greater than max ${max}`);
      return unaryNumeric('clamp')(ins);
    },
    grad: (g, [x], _, { min, max }) => [g.mul(mask(x!.lt(min).logicalOr(x!.gt(max)).logicalNot(), g))],
  },
  cast: {
    kind: 'unary',
    // Float to i32 truncates and saturates (NaN gives 0) on every backend; C leaves it undefined.
    cpu: (a, { dtype }) => (dtype === 'bool' ? (a !== 0 ? 1 : 0) : dtype === 'i32' ? (a !== a ? 0 : a >= 2147483647 ? 2147483647 : a <= -2147483648 ? -2147483648 : Math.trunc(a)) : a),
    wgsl: 'cast(a)',
    infer: (ins, { dtype }) => ({ shape: ins[0]!.shape, dtype }),
    grad: (g, [x]) => [floatOnly(x!, g.cast(x!.dtype))],
  },
  contiguous: { kind: 'unary', cpu: (a) => a, wgsl: 'a', infer: (ins) => ins[0]!, grad: (g) => [g] },

  add: { kind: 'binary', cpu: (a, b) => a + b, wgsl: 'a + b', infer: binary('add', 'numeric'), grad: (g, [a, b]) => [sumTo(g, a!.shape), sumTo(g, b!.shape)] },
  sub: {
    kind: 'binary', cpu: (a, b) => a - b, wgsl: 'a - b', infer: binary('sub', 'numeric'),
    grad: (g, [a, b]) => [sumTo(g, a!.shape), sumTo(g.neg(), b!.shape)],
  },
  mul: {
    kind: 'binary', cpu: (a, b) => a * b, wgsl: 'a * b', infer: binary('mul', 'numeric'),
    grad: (g, [a, b]) => [sumTo(g.mul(b!), a!.shape), sumTo(g.mul(a!), b!.shape)],
  },
  div: {
    kind: 'binary', cpu: (a, b) => a / b, wgsl: 'a / b', infer: binary('div', 'float'),
    grad: (g, [a, b], y) => [sumTo(g.div(b!), a!.shape), sumTo(g.mul(y).div(b!).neg(), b!.shape)],
  },
  pow: {
    kind: 'binary', cpu: Math.pow, wgsl: 'pow_f32(a, b)', infer: binary('pow', 'float'),
    grad: (g, [a, b], y) => [
      sumTo(g.mul(b!).mul(a!.pow(b!.sub(1))), a!.shape),
      // d/db a^b = a^b log a, taken as 0 where a == 0 (as PyTorch does) so 0^b stays finite.
      sumTo(g.mul(y).mul(a!.log()).where(a!.eq(0).logicalNot(), 0), b!.shape),
    ],
  },
  maximum: {
    kind: 'binary', cpu: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), wgsl: 'maxn_T(a, b)',
    infer: binary('maximum', 'numeric'),
    // Ties split the gradient evenly, as PyTorch does.
    grad: (g, [a, b]) => {
      const share = mask(a!.gt(b!), g).add(mask(a!.eq(b!), g).mul(0.5));
      return [sumTo(g.mul(share), a!.shape), sumTo(g.mul(share.neg().add(1)), b!.shape)];
    },
  },
  minimum: {
    kind: 'binary', cpu: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)), wgsl: 'minn_T(a, b)',
    infer: binary('minimum', 'numeric'),
    grad: (g, [a, b]) => {
      const share = mask(a!.lt(b!), g).add(mask(a!.eq(b!), g).mul(0.5));
      return [sumTo(g.mul(share), a!.shape), sumTo(g.mul(share.neg().add(1)), b!.shape)];
    },
  },
  lt: { kind: 'binary', cpu: (a, b) => (a < b ? 1 : 0), wgsl: 'a < b', infer: binary('lt', 'compare'), grad: null },
  gt: { kind: 'binary', cpu: (a, b) => (a > b ? 1 : 0), wgsl: 'a > b', infer: binary('gt', 'compare'), grad: null },
  eq: { kind: 'binary', cpu: (a, b) => (a === b ? 1 : 0), wgsl: 'a == b', infer: binary('eq', 'compare'), grad: null },

  where: {
    kind: 'ternary', cpu: (c, a, b) => (c ? a : b), wgsl: 'select(c, b, a)',
    infer: (ins) => {
      arity('where', ins, 3);
      if (ins[0]!.dtype !== 'bool') throw new GraftDTypeError(`where: condition must be bool, got ${ins[0]!.dtype}`);
      const d = sameDtype('where', ins.slice(1));
      return { shape: broadcastShapes('where', ...ins.map((m) => m.shape)), dtype: d };
    },
    grad: (g, [c, a, b]) => [null, sumTo(where(c!, g, 0), a!.shape), sumTo(where(c!, 0, g), b!.shape)],
  },

  sum: {
    kind: 'reduce', cpu: 'sum', wgsl: { family: 'reduce' }, infer: reduceInfer('sum', (d) => (isFloat(d) ? d : 'i32')),
    grad: (g, [x], _, a) => [unreduce(g, a).expand(x!.shape)],
  },
  mean: {
    kind: 'reduce', cpu: 'mean', wgsl: { family: 'reduce' },
    infer: (ins, a) => {
      needFloat('mean', ins[0]!.dtype);
      return reduceInfer('mean', (d) => d)(ins, a);
    },
    grad: (g, [x], _, a) => {
      const n = a.dims.reduce((p, d) => p * x!.shape[d]!, 1);
      return [unreduce(g, a).div(n).expand(x!.shape)];
    },
  },
  max: {
    kind: 'reduce', cpu: 'max', wgsl: { family: 'reduce' }, infer: reduceInfer('max', (d) => d),
    // Ties share the gradient evenly (PyTorch's amax rule).
    grad: (g, [x], y, a) => {
      const hit = mask(x!.eq(unreduce(y, a)), g);
      return [unreduce(g, a).mul(hit).div(hit.sum(a.dims, true))];
    },
  },
  argmax: { kind: 'reduce', cpu: 'argmax', wgsl: { family: 'reduce' }, infer: reduceInfer('argmax', () => 'i32'), grad: null },

  reshape: {
    kind: 'view',
    infer: (ins, { shape }) => {
      if (sizeOf(shape) !== sizeOf(ins[0]!.shape)) {
        throw new GraftShapeError(`reshape: shape ${fmtShape(shape)} is invalid for input of shape ${fmtShape(ins[0]!.shape)} (${sizeOf(ins[0]!.shape)} elements)`);
      }
      return { shape, dtype: ins[0]!.dtype };
    },
    view: (v, { shape }) => {
      const strides = viewStrides(v.shape, v.strides, shape);
      return strides ? { shape: [...shape], strides, offset: v.offset } : null;
    },
    grad: (g, [x]) => [g.reshape(x!.shape)],
  },
  permute: {
    kind: 'view',
    infer: (ins, { dims }) => {
      const r = ins[0]!.shape.length;
      if (dims.length !== r || [...dims].sort((a, b) => a - b).some((d, i) => d !== i)) {
        throw new GraftShapeError(`permute: [${dims.join(',')}] is not a permutation of the ${r} dimensions of ${fmtShape(ins[0]!.shape)}`);
      }
      return { shape: dims.map((d) => ins[0]!.shape[d]!), dtype: ins[0]!.dtype };
    },
    view: (v, { dims }) => ({ shape: dims.map((d) => v.shape[d]!), strides: dims.map((d) => v.strides[d]!), offset: v.offset }),
    grad: (g, _, __, { dims }) => {
      const inv = new Array<number>(dims.length);
      dims.forEach((d, i) => (inv[d] = i));
      return [g.permute(inv)];
    },
  },
  expand: {
    kind: 'view',
    infer: (ins, { shape }) => {
      const from = ins[0]!.shape;
      const lead = shape.length - from.length;
      if (lead < 0 || from.some((d, i) => d !== 1 && d !== shape[lead + i])) {
        throw new GraftShapeError(`expand: cannot expand shape ${fmtShape(from)} to ${fmtShape(shape)}`);
      }
      return { shape, dtype: ins[0]!.dtype };
    },
    view: (v, { shape }) => {
      const lead = shape.length - v.shape.length;
      const strides = shape.map((d, i) => (i < lead || v.shape[i - lead] !== d ? 0 : v.strides[i - lead]!));
      return { shape: [...shape], strides, offset: v.offset };
    },
    grad: (g, [x]) => [sumTo(g, x!.shape)],
  },
  slice: {
    kind: 'view',
    infer: (ins, { starts, sizes, steps }) => {
      const shape = ins[0]!.shape;
      shape.forEach((d, i) => {
        const [s, n, st] = [starts[i]!, sizes[i]!, steps[i]!];
        if (!(st >= 1) || s < 0 || n < 0 || (n > 0 && s + (n - 1) * st >= d)) {
          throw new GraftShapeError(`slice: dimension ${i} of ${fmtShape(shape)}: start ${s}, ${n} elements, step ${st} is out of range`);
        }
      });
      return { shape: sizes, dtype: ins[0]!.dtype };
    },
    view: (v, { starts, sizes, steps }) => ({
      shape: [...sizes],
      strides: v.strides.map((s, i) => s * steps[i]!),
      offset: v.offset + starts.reduce((o, s, i) => o + s * v.strides[i]!, 0),
    }),
    grad: (g, [x], _, { starts, steps }) => {
      // Interleave step - 1 zeros after each element of every strided dimension, then pad into place.
      let r = g;
      for (let d = 0; d < r.shape.length; d++) {
        const [n, step] = [r.shape[d]!, steps[d]!];
        if (step === 1 || n === 0) continue;
        const pads = r.shape.map((): [number, number] => [0, 0]);
        pads.splice(d + 1, 0, [0, step - 1]);
        r = r.unsqueeze(d + 1).pad(pads).reshape(r.shape.map((s, i) => (i === d ? n * step : s)));
      }
      return [r.pad(x!.shape.map((size, d): [number, number] => [starts[d]!, size - starts[d]! - r.shape[d]!]))];
    },
  },
  flip: {
    kind: 'view',
    infer: (ins) => ins[0]!,
    view: (v, { dims }) => ({
      shape: v.shape,
      strides: v.strides.map((s, i) => (dims.includes(i) ? -s : s)),
      offset: v.offset + dims.reduce((o, d) => o + (v.shape[d]! > 0 ? (v.shape[d]! - 1) * v.strides[d]! : 0), 0),
    }),
    grad: (g, _, __, { dims }) => [g.flip(dims)],
  },

  matmul: {
    kind: 'kernel', wgsl: { family: 'matmul' },
    infer: (ins) => {
      arity('matmul', ins, 2);
      const [a, b] = ins as [Meta, Meta];
      const d = sameDtype('matmul', ins);
      needFloat('matmul', d);
      if (a.shape.length < 2 || b.shape.length < 2) {
        throw new GraftShapeError(`matmul: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}: both operands need at least 2 dimensions here`);
      }
      const k1 = a.shape[a.shape.length - 1]!;
      const k2 = b.shape[b.shape.length - 2]!;
      if (k1 !== k2) throw new GraftShapeError(`matmul: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}: inner dimensions ${k1} and ${k2} differ`);
      const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
      return { shape: [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!], dtype: d };
    },
    cpu: ([a, b], out, _, m) => matmulKernel(a!, b!, out.data, m.out.shape, m.out.dtype),
    grad: (g, [a, b], _, __, needs) => [
      needs[0] ? sumTo(g.matmul(b!.transpose(-1, -2)), a!.shape) : null,
      needs[1] ? sumTo(a!.transpose(-1, -2).matmul(g), b!.shape) : null,
    ],
  },
  conv2d: {
    kind: 'kernel', wgsl: { family: 'conv' },
    infer: (ins, p) => {
      if (ins.length !== 2 && ins.length !== 3) throw new GraftShapeError(`conv2d: expected 2 inputs (input, weight) or 3 (and bias), got ${ins.length}`);
      const [x, w, b] = ins as [Meta, Meta, Meta | undefined];
      needFloat('conv2d', sameDtype('conv2d', ins));
      if (x.shape.length !== 4 || w.shape.length !== 4) {
        throw new GraftShapeError(`conv2d: expected 4-d input [N,C,H,W] and weight [O,C/groups,KH,KW], got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
      }
      pair('conv2d', 'stride', p.stride, 1);
      pair('conv2d', 'padding', p.padding, 0);
      pair('conv2d', 'dilation', p.dilation, 1);
      const [n, c, h, wd] = x.shape as [number, number, number, number];
      const [o, cg, kh, kw] = w.shape as [number, number, number, number];
      if (!Number.isInteger(p.groups) || p.groups < 1 || c % p.groups || o % p.groups || cg * p.groups !== c) {
        throw new GraftShapeError(`conv2d: input ${fmtShape(x.shape)} and weight ${fmtShape(w.shape)} do not fit groups=${p.groups} (need C = weight.shape[1] * groups and O divisible by groups)`);
      }
      const oh = convOutSize(h, kh, p.stride[0], p.padding[0], p.dilation[0]);
      const ow = convOutSize(wd, kw, p.stride[1], p.padding[1], p.dilation[1]);
      if (oh <= 0 || ow <= 0) {
        throw new GraftShapeError(`conv2d: input ${fmtShape(x.shape)} is too small for weight ${fmtShape(w.shape)} (output would be ${oh}x${ow})`);
      }
      if (b && (b.shape.length !== 1 || b.shape[0] !== o)) throw new GraftShapeError(`conv2d: bias ${fmtShape(b.shape)} does not fit weight ${fmtShape(w.shape)} (expected [${o}])`);
      if (p.clamp && !(p.clamp[0] <= p.clamp[1])) throw new GraftShapeError(`conv2d: clamp min ${p.clamp[0]} is greater than max ${p.clamp[1]}`);
      return { shape: [n, o, oh, ow], dtype: x.dtype };
    },
    cpu: ([x, w, b], out, p, m) => conv2dKernel(x!, w!, out.data, p, m.out.dtype, b),
    grad: (g, [x, w, b], out, p, needs) => {
      // The clamp passes gradient strictly inside its bounds, as hardtanh (ReLU6) does.
      const gy = p.clamp ? g.mul(mask(out.gt(p.clamp[0]).logicalAnd(out.lt(p.clamp[1])), g)) : g;
      const win = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups };
      const grads = [needs[0] ? conv2dInputGrad(gy, w!, x!.shape, win) : null, needs[1] ? conv2dWeightGrad(gy, x!, w!.shape, win) : null];
      return b ? [...grads, needs[2] ? gy.sum([0, 2, 3]) : null] : grads;
    },
  },
  avgPool2d: {
    kind: 'kernel', wgsl: { family: 'pool' },
    infer: (ins, a) => {
      arity('avgPool2d', ins, 1);
      needFloat('avgPool2d', ins[0]!.dtype);
      return { shape: poolOut('avgPool2d', ins[0]!, a.kernel, a.stride, a.padding, [1, 1]), dtype: ins[0]!.dtype };
    },
    cpu: ([x], out, a, m) => avgPoolKernel(x!, out.data, { ...a, dilation: [1, 1] }, m.out.shape, m.out.dtype),
    grad: (g, [x], _, a) => [avgPoolGrad(g, x!, a)],
  },
  maxPool2dIndices: {
    kind: 'kernel', wgsl: { family: 'pool' },
    infer: (ins, a) => {
      arity('maxPool2dIndices', ins, 1);
      needNumeric('maxPool2dIndices', ins[0]!.dtype);
      return { shape: poolOut('maxPool2d', ins[0]!, a.kernel, a.stride, a.padding, a.dilation), dtype: 'i32' };
    },
    cpu: ([x], out, a, m) => maxPoolKernel(x!, out.data, a, m.out.shape, m.inputs[0]!.dtype),
    grad: null,
  },
  gather: {
    kind: 'kernel', wgsl: { family: 'gather' },
    infer: (ins, { dim }) => {
      arity('gather', ins, 2);
      const [x, i] = ins as [Meta, Meta];
      if (i.dtype !== 'i32') throw new GraftDTypeError(`gather: index must be i32, got ${i.dtype}`);
      if (x.shape.length !== i.shape.length || i.shape.some((d, k) => k !== dim && d > x.shape[k]!) || dim < 0 || dim >= x.shape.length) {
        throw new GraftShapeError(`gather: index ${fmtShape(i.shape)} does not fit input ${fmtShape(x.shape)} along dimension ${dim}`);
      }
      return { shape: i.shape, dtype: x.dtype };
    },
    cpu: ([x, i], out, { dim }) => boundsCheck('gather', gatherKernel(x!, i!, dim, out.data), x!.shape, dim),
    grad: (g, [x, i], _, { dim }) => [zerosLike(x!, g.dtype).scatterAdd(dim, i!, g), null],
  },
  scatterAdd: {
    kind: 'kernel', wgsl: { family: 'gather' },
    infer: (ins, { dim }) => {
      arity('scatterAdd', ins, 3);
      const [b, i, s] = ins as [Meta, Meta, Meta];
      if (i.dtype !== 'i32') throw new GraftDTypeError(`scatterAdd: index must be i32, got ${i.dtype}`);
      if (b.dtype !== s.dtype) throw new GraftDTypeError(`scatterAdd: dtypes ${b.dtype} and ${s.dtype} differ`);
      if (b.shape.length !== i.shape.length || i.shape.some((d, k) => d !== s.shape[k] || (k !== dim && d > b.shape[k]!)) || dim < 0 || dim >= b.shape.length) {
        throw new GraftShapeError(`scatterAdd: index ${fmtShape(i.shape)} and source ${fmtShape(s.shape)} do not fit ${fmtShape(b.shape)} along dimension ${dim} (index and source must have the same shape)`);
      }
      return b;
    },
    cpu: ([b, i, s], out, { dim }) => boundsCheck('scatterAdd', scatterAddKernel(b!, i!, s!, dim, out.data), b!.shape, dim),
    grad: (g, [, index], __, { dim }) => [g, null, g.gather(dim, index!)],
  },
  concat: {
    kind: 'kernel', wgsl: { family: 'layout' },
    infer: (ins, { dim }) => {
      if (ins.length === 0) throw new GraftShapeError('concat: expected at least one tensor');
      const d = sameDtype('concat', ins);
      const first = ins[0]!.shape;
      for (const m of ins) {
        if (m.shape.length !== first.length || m.shape.some((s, k) => k !== dim && s !== first[k])) {
          throw new GraftShapeError(`concat: shapes ${ins.map((i) => fmtShape(i.shape)).join(', ')} differ outside dimension ${dim}`);
        }
      }
      const shape = [...first];
      shape[dim] = ins.reduce((s, m) => s + m.shape[dim]!, 0);
      return { shape, dtype: d };
    },
    cpu: (ins, out, { dim }, m) => concatKernel(ins, dim, out.data, m.out.shape),
    grad: (g, ins, _, { dim }) => {
      let at = 0;
      return ins.map((x) => {
        const part = g.narrow(dim, at, x.shape[dim]!);
        at += x.shape[dim]!;
        return part;
      });
    },
  },
  pad: {
    kind: 'kernel', wgsl: { family: 'layout' },
    infer: (ins, { pads }) => {
      const { shape, dtype } = ins[0]!;
      if (pads.length !== shape.length) throw new GraftShapeError(`pad: ${pads.length} pairs given for a tensor of rank ${shape.length}`);
      const out = shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
      if (out.some((d) => d < 0) || pads.flat().some((p) => !Number.isInteger(p))) {
        throw new GraftShapeError(`pad: padding [${pads.map((p) => p.join(',')).join('; ')}] is invalid for shape ${fmtShape(shape)}`);
      }
      return { shape: out, dtype };
    },
    cpu: ([x], out, { pads, value }, m) => padKernel(x!, pads, value, out.data, m.out.shape),
    grad: (g, _, __, { pads }) => [g.pad(pads.map(([a, b]) => [-a, -b] as [number, number]))],
  },
};

export const OP_NAMES = Object.keys(OPS) as OpName[];

/**
 * Strides that present (oldShape, oldStrides) as newShape without copying, or null when the
 * reshape would have to merge dimensions that are not laid out one after the other (PyTorch's
 * computeStride): each run of old dimensions that is contiguous within itself may be split or
 * merged freely.
 */
function viewStrides(oldShape: readonly number[], oldStrides: readonly number[], newShape: readonly number[]): number[] | null {
  if (sizeOf(oldShape) === 0 || oldShape.length === 0) return contiguousStrides(newShape);
  if (isContiguous(oldShape, oldStrides)) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length);
  let viewD = newShape.length - 1;
  let chunkBase = oldStrides[oldStrides.length - 1]!;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d]!;
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = oldStrides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? out : null;
}
