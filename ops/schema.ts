/** @file The op schema: every primitive's attributes, kind, and shape and dtype rule (views: their strides). Imports core/ only. */
import { type DType, isFloat } from '../core/dtype.js';
import { GraftDTypeError, GraftShapeError, fmtShape } from '../core/errors.js';
import type { AvgPool2dAttrs, Conv2dAttrs, Pool2dParams, ReduceAttrs, ReduceKind } from '../core/params.js';
import { convOutSize } from '../core/params.js';
import { broadcastShapes, contiguousStrides, isContiguous, sizeOf } from '../core/shape.js';

type None = Record<never, never>;

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
  /** Sliding windows along `dim` (normalised): that axis becomes the window positions, and a last axis of `size` is added. */
  unfold: { dim: number; size: number; step: number };
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
  cumsum: { dim: number };
  /** exp(x - max) / sum(exp(x - max)) along `dim`, as one kernel (torch.softmax). */
  softmax: { dim: number };
  /** (x - max) - log(sum(exp(x - max))) along `dim` (torch.log_softmax). */
  logSoftmax: { dim: number };
  /** The stable order along `dim`, NaN as the largest value (the indices; values are a gather by them). */
  argsort: { dim: number; descending: boolean };
  /**
   * softmax(q k^T * scale + mask) v over [B, H, L, E] queries, [B, H, S, E] keys and [B, H, S, Ev]
   * values, with an optional additive [B, H, L, S] mask (broadcast by strides); `causal` drops keys
   * after each query's position. Computed a row at a time with a running softmax, never the scores.
   */
  attention: { scale: number; causal: boolean };
}
export type OpName = keyof OpAttrs;

/** The elementwise ops by arity: what the lazy graph records and each backend's expression compiler renders. */
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'erf' | 'relu' | 'clamp' | 'cast' | 'contiguous';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'lt' | 'gt' | 'eq';
export type TernaryOp = 'where';
export type ElementwiseOp = UnaryOp | BinaryOp | TernaryOp;
export type ReduceOp = ReduceKind;
/** Views move no data: they compute new strides, or null when a copy is needed first. */
export type ViewOp = 'reshape' | 'permute' | 'expand' | 'slice' | 'flip' | 'unfold';
/** Every other primitive runs a kernel of its own on each backend; a new op is one until classified otherwise. */
export type KernelOp = Exclude<OpName, ElementwiseOp | ReduceOp | ViewOp>;

export type OpKind = 'unary' | 'binary' | 'ternary' | 'reduce' | 'view' | 'kernel';
/** An op's kind, fixed by its name. */
export type KindOf<K extends OpName> = K extends UnaryOp ? 'unary' : K extends BinaryOp ? 'binary' : K extends TernaryOp ? 'ternary' : K extends ReduceOp ? 'reduce' : K extends ViewOp ? 'view' : 'kernel';

export interface Meta {
  readonly shape: readonly number[];
  readonly dtype: DType;
}
export interface ViewMeta {
  shape: number[];
  strides: number[];
  offset: number;
}

export interface Schema<K extends OpName> {
  kind: KindOf<K>;
  /** The output's shape and dtype; throws a typed error naming the op for inputs it does not take. */
  infer(inputs: readonly Meta[], attrs: OpAttrs[K]): Meta;
}

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

/** One float input, an op along one of its dimensions, the output its shape and dtype. */
function alongDim(op: string): (ins: readonly Meta[], attrs: { dim: number }) => Meta {
  return (ins, { dim }) => {
    arity(op, ins, 1);
    const { shape, dtype } = ins[0]!;
    needFloat(op, dtype);
    if (!Number.isInteger(dim) || dim < 0 || dim >= shape.length) throw new GraftShapeError(`${op}: dimension ${dim} is out of range for shape ${fmtShape(shape)}`);
    return ins[0]!;
  };
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

// ---------------------------------------------------------------------------------------------
// The table.

export const SCHEMA: { [K in OpName]: Schema<K> } = {
  neg: { kind: 'unary', infer: unaryNumeric('neg') },
  exp: { kind: 'unary', infer: unaryFloat('exp') },
  log: { kind: 'unary', infer: unaryFloat('log') },
  sqrt: { kind: 'unary', infer: unaryFloat('sqrt') },
  abs: { kind: 'unary', infer: unaryNumeric('abs') },
  sin: { kind: 'unary', infer: unaryFloat('sin') },
  cos: { kind: 'unary', infer: unaryFloat('cos') },
  tanh: { kind: 'unary', infer: unaryFloat('tanh') },
  sigmoid: { kind: 'unary', infer: unaryFloat('sigmoid') },
  erf: { kind: 'unary', infer: unaryFloat('erf') },
  relu: { kind: 'unary', infer: unaryNumeric('relu') },
  clamp: {
    kind: 'unary',
    infer: (ins, { min, max }) => {
      if (min > max) throw new GraftShapeError(`clamp: min ${min} is greater than max ${max}`);
      return unaryNumeric('clamp')(ins);
    },
  },
  cast: { kind: 'unary', infer: (ins, { dtype }) => ({ shape: ins[0]!.shape, dtype }) },
  contiguous: { kind: 'unary', infer: (ins) => ins[0]! },
  add: { kind: 'binary', infer: binary('add', 'numeric') },
  sub: { kind: 'binary', infer: binary('sub', 'numeric') },
  mul: { kind: 'binary', infer: binary('mul', 'numeric') },
  div: { kind: 'binary', infer: binary('div', 'float') },
  pow: { kind: 'binary', infer: binary('pow', 'float') },
  maximum: { kind: 'binary', infer: binary('maximum', 'numeric') },
  minimum: { kind: 'binary', infer: binary('minimum', 'numeric') },
  lt: { kind: 'binary', infer: binary('lt', 'compare') },
  gt: { kind: 'binary', infer: binary('gt', 'compare') },
  eq: { kind: 'binary', infer: binary('eq', 'compare') },
  where: {
    kind: 'ternary',
    infer: (ins) => {
      arity('where', ins, 3);
      if (ins[0]!.dtype !== 'bool') throw new GraftDTypeError(`where: condition must be bool, got ${ins[0]!.dtype}`);
      const d = sameDtype('where', ins.slice(1));
      return { shape: broadcastShapes('where', ...ins.map((m) => m.shape)), dtype: d };
    },
  },
  sum: { kind: 'reduce', infer: reduceInfer('sum', (d) => (isFloat(d) ? d : 'i32')) },
  mean: {
    kind: 'reduce',
    infer: (ins, a) => {
      needFloat('mean', ins[0]!.dtype);
      return reduceInfer('mean', (d) => d)(ins, a);
    },
  },
  max: { kind: 'reduce', infer: reduceInfer('max', (d) => d) },
  argmax: { kind: 'reduce', infer: reduceInfer('argmax', () => 'i32') },
  reshape: {
    kind: 'view',
    infer: (ins, { shape }) => {
      if (sizeOf(shape) !== sizeOf(ins[0]!.shape)) {
        throw new GraftShapeError(`reshape: shape ${fmtShape(shape)} is invalid for input of shape ${fmtShape(ins[0]!.shape)} (${sizeOf(ins[0]!.shape)} elements)`);
      }
      return { shape, dtype: ins[0]!.dtype };
    },
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
  },
  flip: {
    kind: 'view',
    infer: (ins) => ins[0]!,
  },
  unfold: {
    kind: 'view',
    infer: (ins, { dim, size, step }) => {
      const shape = ins[0]!.shape;
      const n = shape[dim]!;
      if (!Number.isInteger(size) || size < 0 || size > n || !Number.isInteger(step) || step < 1) {
        throw new GraftShapeError(`unfold: windows of size ${size}, step ${step} do not fit dimension ${dim} of ${fmtShape(shape)} (need 0 <= size <= ${n}, step >= 1)`);
      }
      return { shape: [...shape.slice(0, dim), Math.floor((n - size) / step) + 1, ...shape.slice(dim + 1), size], dtype: ins[0]!.dtype };
    },
  },
  matmul: {
    kind: 'kernel',
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
  },
  conv2d: {
    kind: 'kernel',
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
  },
  avgPool2d: {
    kind: 'kernel',
    infer: (ins, a) => {
      arity('avgPool2d', ins, 1);
      needFloat('avgPool2d', ins[0]!.dtype);
      return { shape: poolOut('avgPool2d', ins[0]!, a.kernel, a.stride, a.padding, [1, 1]), dtype: ins[0]!.dtype };
    },
  },
  maxPool2dIndices: {
    kind: 'kernel',
    infer: (ins, a) => {
      arity('maxPool2dIndices', ins, 1);
      needNumeric('maxPool2dIndices', ins[0]!.dtype);
      return { shape: poolOut('maxPool2d', ins[0]!, a.kernel, a.stride, a.padding, a.dilation), dtype: 'i32' };
    },
  },
  gather: {
    kind: 'kernel',
    infer: (ins, { dim }) => {
      arity('gather', ins, 2);
      const [x, i] = ins as [Meta, Meta];
      if (i.dtype !== 'i32') throw new GraftDTypeError(`gather: index must be i32, got ${i.dtype}`);
      if (x.shape.length !== i.shape.length || i.shape.some((d, k) => k !== dim && d > x.shape[k]!) || dim < 0 || dim >= x.shape.length) {
        throw new GraftShapeError(`gather: index ${fmtShape(i.shape)} does not fit input ${fmtShape(x.shape)} along dimension ${dim}`);
      }
      return { shape: i.shape, dtype: x.dtype };
    },
  },
  scatterAdd: {
    kind: 'kernel',
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
  },
  concat: {
    kind: 'kernel',
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
  },
  pad: {
    kind: 'kernel',
    infer: (ins, { pads }) => {
      const { shape, dtype } = ins[0]!;
      if (pads.length !== shape.length) throw new GraftShapeError(`pad: ${pads.length} pairs given for a tensor of rank ${shape.length}`);
      const out = shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
      if (out.some((d) => d < 0) || pads.flat().some((p) => !Number.isInteger(p))) {
        throw new GraftShapeError(`pad: padding [${pads.map((p) => p.join(',')).join('; ')}] is invalid for shape ${fmtShape(shape)}`);
      }
      return { shape: out, dtype };
    },
  },
  cumsum: {
    kind: 'kernel',
    infer: (ins, { dim }) => {
      arity('cumsum', ins, 1);
      const { shape, dtype } = ins[0]!;
      if (!isFloat(dtype) && dtype !== 'i32') throw new GraftDTypeError(`cumsum: expected a float or i32 tensor, got ${dtype} (cast bools first)`);
      if (!Number.isInteger(dim) || dim < 0 || dim >= shape.length) throw new GraftShapeError(`cumsum: dimension ${dim} is out of range for shape ${fmtShape(shape)}`);
      return ins[0]!;
    },
  },
  softmax: { kind: 'kernel', infer: alongDim('softmax') },
  logSoftmax: { kind: 'kernel', infer: alongDim('logSoftmax') },
  argsort: {
    kind: 'kernel',
    infer: (ins, { dim }) => {
      arity('argsort', ins, 1);
      const { shape, dtype } = ins[0]!;
      if (!isFloat(dtype) && dtype !== 'i32') throw new GraftDTypeError(`argsort: expected a float or i32 tensor, got ${dtype}`);
      if (!Number.isInteger(dim) || dim < 0 || dim >= shape.length) throw new GraftShapeError(`argsort: dimension ${dim} is out of range for shape ${fmtShape(shape)}`);
      return { shape, dtype: 'i32' };
    },
  },
  attention: {
    kind: 'kernel',
    infer: (ins, { scale }) => {
      if (ins.length !== 3 && ins.length !== 4) throw new GraftShapeError(`attention: expected 3 inputs (q, k, v) or 4 (and an additive mask), got ${ins.length}`);
      const d = sameDtype('attention', ins);
      needFloat('attention', d);
      const [q, k, v, mask] = ins as [Meta, Meta, Meta, Meta | undefined];
      const where = `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`;
      if ([q, k, v].some((t) => t.shape.length !== 4)) throw new GraftShapeError(`attention: q, k and v must be [batch, heads, length, features], got ${where}`);
      const [b, h, l, e] = q.shape as [number, number, number, number];
      const s = k.shape[2]!;
      if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== e || v.shape[0] !== b || v.shape[1] !== h || v.shape[2] !== s) throw new GraftShapeError(`attention: keys and values do not fit the queries: ${where}`);
      if (mask && mask.shape.join() !== [b, h, l, s].join()) throw new GraftShapeError(`attention: mask ${fmtShape(mask.shape)} must be [${[b, h, l, s].join(', ')}] (expand it first)`);
      if (!Number.isFinite(scale)) throw new GraftShapeError(`attention: scale ${scale} is not finite`);
      return { shape: [b, h, l, v.shape[3]!], dtype: d };
    },
  },
};

/** How each view presents its input's storage: the output's strides, or null when a copy is needed first. */
export const VIEWS: { [K in ViewOp]: (input: ViewMeta, attrs: OpAttrs[K]) => ViewMeta | null } = {
  reshape: (v, { shape }) => {
    const strides = viewStrides(v.shape, v.strides, shape);
    return strides ? { shape: [...shape], strides, offset: v.offset } : null;
  },
  permute: (v, { dims }) => ({ shape: dims.map((d) => v.shape[d]!), strides: dims.map((d) => v.strides[d]!), offset: v.offset }),
  expand: (v, { shape }) => {
    const lead = shape.length - v.shape.length;
    const strides = shape.map((d, i) => (i < lead || v.shape[i - lead] !== d ? 0 : v.strides[i - lead]!));
    return { shape: [...shape], strides, offset: v.offset };
  },
  slice: (v, { starts, sizes, steps }) => ({
    shape: [...sizes],
    strides: v.strides.map((s, i) => s * steps[i]!),
    offset: v.offset + starts.reduce((o, s, i) => o + s * v.strides[i]!, 0),
  }),
  flip: (v, { dims }) => ({
    shape: v.shape,
    strides: v.strides.map((s, i) => (dims.includes(i) ? -s : s)),
    offset: v.offset + dims.reduce((o, d) => o + (v.shape[d]! > 0 ? (v.shape[d]! - 1) * v.strides[d]! : 0), 0),
  }),
  // Windows overlap: the new axis walks the elements a window position walks by `step`.
  unfold: (v, { dim, size, step }) => ({
    shape: [...v.shape.slice(0, dim), Math.floor((v.shape[dim]! - size) / step) + 1, ...v.shape.slice(dim + 1), size],
    strides: [...v.strides.slice(0, dim), v.strides[dim]! * step, ...v.strides.slice(dim + 1), v.strides[dim]!],
    offset: v.offset,
  }),
};

export const OP_NAMES = Object.keys(SCHEMA) as OpName[];

export function isElementwise(op: OpName): op is ElementwiseOp {
  const k = SCHEMA[op].kind;
  return k === 'unary' || k === 'binary' || k === 'ternary';
}
export function isKernelOp(op: OpName): op is KernelOp {
  return SCHEMA[op].kind === 'kernel';
}

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
