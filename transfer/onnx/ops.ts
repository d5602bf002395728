/** @file The ONNX operators graft runs, each as graft tensor ops (so autograd trains through them) with a JavaScript path for constants. */
import { type Backend, type DType, GraftValueError, Tensor, functional as F, fmtShape, where } from '../../index.js';
import { attrValue } from '../import/onnx.js';
import type { AttributeProto } from './proto.js';
import { protoValues } from './tensor.js';
import { CONST_LIMIT, Const, type Value, asTensor, constMap } from './value.js';

/** One node's attributes, read with their ONNX defaults. */
export class Attrs {
  private readonly map = new Map<string, AttributeProto>();
  constructor(
    list: readonly AttributeProto[],
    private readonly where: string,
  ) {
    for (const a of list) this.map.set(a.name ?? '', a);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  private value(name: string): number | string | number[] | undefined {
    const a = this.map.get(name);
    return a ? attrValue(a) : undefined;
  }
  int(name: string, dflt: number): number {
    const v = this.value(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be an integer, got ${JSON.stringify(v)}`);
    return v;
  }
  float(name: string, dflt: number): number {
    const v = this.value(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'number') throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  ints(name: string): number[] | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be a list of integers, got ${JSON.stringify(v)}`);
    return v;
  }
  string(name: string, dflt: string): string {
    const v = this.value(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'string') throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  raw(name: string): AttributeProto | undefined {
    return this.map.get(name);
  }
}

export interface OpContext {
  /** The node as errors name it: `Conv node '/conv1/Conv'`. */
  where: string;
  attrs: Attrs;
  training: boolean;
  opset: number;
  backend: Backend | undefined;
  file: string;
  /** How many outputs the node names (Split without sizes divides into that many). */
  outputs: number;
}

type Inputs = readonly (Value | undefined)[];
export type OnnxOp = (inputs: Inputs, ctx: OpContext) => Value | (Value | undefined)[];

function fail(ctx: OpContext, msg: string): never {
  throw new GraftValueError(`onnx: ${ctx.where}: ${msg}`);
}

function need(ctx: OpContext, inputs: Inputs, i: number): Value {
  return inputs[i] ?? fail(ctx, `input ${i} is missing`);
}

function T(ctx: OpContext, inputs: Inputs, i: number): Tensor {
  return asTensor(need(ctx, inputs, i), ctx.backend, ctx.where);
}

/** An input that must be known while building (a shape, axes, pads): computed values are refused by name. */
function C(ctx: OpContext, inputs: Inputs, i: number, what: string): Const {
  const v = need(ctx, inputs, i);
  if (v instanceof Const) return v;
  // A small value fed as a graph input (as onnxruntime allows) is read where reading is synchronous: on the CPU.
  const small = v.dtype === 'f32' ? v.size <= 16 : v.size <= CONST_LIMIT;
  if (small) {
    let data: ArrayLike<number> | null = null;
    try {
      data = v.dataSync();
    } catch {
      data = null;
    }
    if (data) return new Const(v.dtype, v.shape, Array.from(data));
  }
  return fail(ctx, `${what} (input ${i}) must be a constant, computed from shapes and initializers, or a small tensor on the CPU; here it is computed data ${fmtShape(v.shape)} on ${v.storage.backend.name}`);
}

function optConst(ctx: OpContext, inputs: Inputs, i: number, what: string): Const | undefined {
  return inputs[i] === undefined ? undefined : C(ctx, inputs, i, what);
}

/** Inputs that are all small constants, or null (then the op runs on tensors). */
function consts(inputs: Inputs): Const[] | null {
  if (!inputs.length || inputs.some((v) => !(v instanceof Const) || v.size > CONST_LIMIT)) return null;
  return inputs as Const[];
}

function axis(ctx: OpContext, a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank) fail(ctx, `axis ${a} is out of range for rank ${rank}`);
  return r;
}

const shapeOf = (v: Value): readonly number[] => v.shape;

/** Elementwise ops of two or more inputs: a JavaScript form for constants and a tensor form. */
function binary(js: (a: number, b: number) => number, op: (a: Tensor, b: Tensor) => Tensor, out?: DType): OnnxOp {
  return (inputs, ctx) => {
    const cs = consts(inputs);
    if (cs) return cs.slice(1).reduce((acc, c) => constMap([acc, c], out ?? acc.dtype, js, ctx.where), cs[0]!);
    let acc = T(ctx, inputs, 0);
    for (let i = 1; i < inputs.length; i++) acc = op(acc, T(ctx, inputs, i));
    return acc;
  };
}

function unary(js: ((x: number) => number) | null, op: (x: Tensor, ctx: OpContext) => Tensor): OnnxOp {
  return (inputs, ctx) => {
    const cs = js ? consts(inputs.slice(0, 1)) : null;
    if (cs) return constMap(cs, cs[0]!.dtype, js!, ctx.where);
    return op(T(ctx, inputs, 0), ctx);
  };
}

const truncDiv = (a: number, b: number) => Math.trunc(a / b);

/**
 * floor() from graft's truncating cast: trunc(x), one less where that rounded up (negative
 * non-integers). Values from 2^23 up are integers already, and NaN and infinities pass through.
 */
function floor(x: Tensor): Tensor {
  const t = x.cast('i32').cast('f32');
  const f = t.sub(x.lt(t).cast('f32'));
  return where(x.abs().ge(2 ** 23).logicalOr(x.ne(x)), x, f).detach();
}

function pairs(ctx: OpContext, name: string, dflt: number, n: number): number[] {
  const v = ctx.attrs.ints(name) ?? new Array<number>(n).fill(dflt);
  if (v.length !== n) fail(ctx, `attribute ${name} has ${v.length} values, expected ${n}`);
  return v;
}

/** Begin/end pads of a window op, with auto_pad resolved against the input size. */
function windowPads(ctx: OpContext, spatial: readonly number[], kernel: readonly number[], stride: readonly number[], dilation: readonly number[]): number[] {
  const n = spatial.length;
  const mode = ctx.attrs.string('auto_pad', 'NOTSET');
  if (mode === 'NOTSET') return pairs(ctx, 'pads', 0, 2 * n);
  if (mode === 'VALID') return new Array<number>(2 * n).fill(0);
  if (mode !== 'SAME_UPPER' && mode !== 'SAME_LOWER') fail(ctx, `auto_pad '${mode}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  const pads = new Array<number>(2 * n).fill(0);
  for (let i = 0; i < n; i++) {
    const out = Math.ceil(spatial[i]! / stride[i]!);
    const total = Math.max(0, (out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - spatial[i]!);
    const small = Math.floor(total / 2);
    pads[i] = mode === 'SAME_UPPER' ? small : total - small;
    pads[i + n] = total - pads[i]!;
  }
  return pads;
}

/** 1-d windows run as 2-d over a height of 1; pads not symmetric are applied first with `fill`. */
function spatial2d(x: Tensor, kernel: number[], stride: number[], dilation: number[], pads: number[], fill: number, conv = false): { x: Tensor; kernel: [number, number]; stride: [number, number]; dilation: [number, number]; padding: [number, number]; oneD: boolean } {
  const oneD = kernel.length === 1;
  const k = oneD ? [1, kernel[0]!] : kernel;
  const s = oneD ? [1, stride[0]!] : stride;
  const d = oneD ? [1, dilation[0]!] : dilation;
  const p = oneD ? [0, pads[0]!, 0, pads[1]!] : pads;
  let input = oneD ? x.unsqueeze(2) : x;
  let padding: [number, number] = [p[0]!, p[1]!];
  // graft's window kernels take symmetric padding up to half the window; anything else is padded first.
  const wide = p[0]! > Math.floor(k[0]! / 2) || p[1]! > Math.floor(k[1]! / 2);
  if (p[0] !== p[2] || p[1] !== p[3] || (fill !== 0 && wide) || (fill === 0 && wide && !conv)) {
    input = input.pad([[0, 0], [0, 0], [p[0]!, p[2]!], [p[1]!, p[3]!]], fill);
    padding = [0, 0];
  }
  return { x: input, kernel: [k[0]!, k[1]!], stride: [s[0]!, s[1]!], dilation: [d[0]!, d[1]!], padding, oneD };
}

function conv(inputs: Inputs, ctx: OpContext): Tensor {
  const x = T(ctx, inputs, 0);
  const w = T(ctx, inputs, 1);
  const b = inputs[2] === undefined ? undefined : T(ctx, inputs, 2);
  const n = w.ndim - 2;
  if (n !== 1 && n !== 2) fail(ctx, `${n}-d convolution is not supported (graft runs 1-d and 2-d)`);
  if (x.ndim !== n + 2) fail(ctx, `input ${fmtShape(x.shape)} does not match weight ${fmtShape(w.shape)}`);
  const kernel = w.shape.slice(2);
  const stride = pairs(ctx, 'strides', 1, n);
  const dilation = pairs(ctx, 'dilations', 1, n);
  const pads = windowPads(ctx, x.shape.slice(2), kernel, stride, dilation);
  const s = spatial2d(x, kernel, stride, dilation, pads, 0, true);
  const w2 = s.oneD ? w.unsqueeze(2) : w;
  const y = F.conv2d(s.x, w2, b, { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: ctx.attrs.int('group', 1) });
  return s.oneD ? y.squeeze(2) : y;
}

function pool(kind: 'max' | 'avg'): OnnxOp {
  return (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    const kernel = ctx.attrs.ints('kernel_shape') ?? fail(ctx, 'attribute kernel_shape is required');
    const n = kernel.length;
    if (n !== 1 && n !== 2) fail(ctx, `${n}-d pooling is not supported (graft pools 1-d and 2-d)`);
    if (x.ndim !== n + 2) fail(ctx, `input ${fmtShape(x.shape)} is not [N, C, ${n === 1 ? 'L' : 'H, W'}]`);
    const stride = pairs(ctx, 'strides', 1, n);
    const dilation = pairs(ctx, 'dilations', 1, n);
    const pads = windowPads(ctx, x.shape.slice(2), kernel, stride, dilation);
    if (ctx.attrs.int('ceil_mode', 0)) {
      // Extra padding at the end so that floor division gives the ceiling (windows starting inside the input only).
      for (let i = 0; i < n; i++) {
        const size = x.shape[2 + i]! + pads[i]! + pads[i + n]!;
        const eff = (kernel[i]! - 1) * dilation[i]! + 1;
        let out = Math.ceil((size - eff) / stride[i]!) + 1;
        if ((out - 1) * stride[i]! >= x.shape[2 + i]! + pads[i]!) out--;
        pads[i + n] += Math.max(0, (out - 1) * stride[i]! + eff - size);
      }
      if (kind === 'avg' && ctx.attrs.int('count_include_pad', 0)) fail(ctx, 'ceil_mode with count_include_pad is not supported');
    }
    if (kind === 'max') {
      if (ctx.attrs.int('storage_order', 0)) fail(ctx, 'storage_order 1 is not supported');
      const s = spatial2d(x, kernel, stride, dilation, pads, -Infinity);
      const [y, idx] = F.maxPool2dWithIndices(s.x, s.kernel, { stride: s.stride, padding: s.padding, dilation: s.dilation });
      if (ctx.outputs < 2) return s.oneD ? y.squeeze(2) : y;
      if (s.oneD || s.x !== x) fail(ctx, 'the Indices output is supported for 2-d pooling without extra padding');
      // ONNX indexes the whole tensor row-major; graft's indices count within each plane.
      const [nb, c, h, w] = x.shape as [number, number, number, number];
      const planes = x.newTensor(Array.from({ length: nb * c }, (_, i) => i * h * w), [nb, c, 1, 1], 'i32');
      return [y, idx.add(planes)];
    }
    if (dilation.some((d) => d !== 1)) fail(ctx, 'dilated average pooling is not supported');
    const include = ctx.attrs.int('count_include_pad', 0) === 1;
    const symmetric = pads.slice(0, n).every((p, i) => p === pads[i + n] && p <= Math.floor(kernel[i]! / 2));
    if (symmetric || include) {
      const s = spatial2d(x, kernel, stride, dilation, pads, 0);
      const y = F.avgPool2d(s.x, s.kernel, { stride: s.stride, padding: s.padding, countIncludePad: include });
      return s.oneD ? y.squeeze(2) : y;
    }
    // Asymmetric pads without counting them: sum of values over the count of real elements in each window.
    const s = spatial2d(x, kernel, stride, dilation, pads, 0);
    const area = s.kernel[0] * s.kernel[1];
    const sums = F.avgPool2d(s.x, s.kernel, { stride: s.stride }).mul(area);
    const ones = x.newOnes(n === 1 ? [1, 1, 1, x.shape[2]!] : [1, 1, x.shape[2]!, x.shape[3]!]);
    const p = n === 1 ? [0, pads[0]!, 0, pads[1]!] : pads;
    const counts = F.avgPool2d(ones.pad([[0, 0], [0, 0], [p[0]!, p[2]!], [p[1]!, p[3]!]]), s.kernel, { stride: s.stride }).mul(area);
    const y = sums.div(counts);
    return s.oneD ? y.squeeze(2) : y;
  };
}

function reduce(kind: 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'sumSquare' | 'l2' | 'logSumExp'): OnnxOp {
  return (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    // Axes arrive as an input from opset 13 (ReduceSum) or 18 (the others), as an attribute before.
    const fromInput = optConst(ctx, inputs, 1, 'axes');
    const given = fromInput?.data ?? ctx.attrs.ints('axes');
    const keep = ctx.attrs.int('keepdims', 1) === 1;
    if ((!given || !given.length) && ctx.attrs.int('noop_with_empty_axes', 0)) return x;
    const dims = given && given.length ? given.map((a) => axis(ctx, a, x.ndim)) : x.shape.map((_, i) => i);
    switch (kind) {
      case 'sum': return x.sum(dims, keep);
      case 'mean': return x.mean(dims, keep);
      case 'max': return x.amax(dims, keep);
      case 'min': return x.amin(dims, keep);
      case 'prod': return x.prod(dims, keep);
      case 'sumSquare': return x.mul(x).sum(dims, keep);
      case 'l2': return x.mul(x).sum(dims, keep).sqrt();
      case 'logSumExp': {
        const m = x.amax(dims, true).detach();
        const y = x.sub(m).exp().sum(dims, true).log().add(m);
        return keep ? y : y.squeeze(dims);
      }
    }
  };
}

/** Softmax-family ops: opset 13 works along one axis; earlier opsets flatten to 2-d at `axis` (default 1). */
function softmaxLike(f: (x: Tensor, dim: number) => Tensor): OnnxOp {
  return (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    if (ctx.opset >= 13) return f(x, axis(ctx, ctx.attrs.int('axis', -1), x.ndim));
    const a = axis(ctx, ctx.attrs.int('axis', 1), Math.max(1, x.ndim));
    const rows = x.shape.slice(0, a).reduce((p, q) => p * q, 1);
    return f(x.reshape([rows, x.size / Math.max(rows, 1)]), 1).reshape(x.shape);
  };
}

function reshapeTo(ctx: OpContext, shape: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? (shape[i] ?? fail(ctx, `shape [${target.join(',')}] copies dimension ${i}, which ${fmtShape(shape)} lacks`)) : d));
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1) fail(ctx, `shape [${target.join(',')}] has more than one -1`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (unknown) {
    const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (known === 0 || size % known) fail(ctx, `cannot reshape ${fmtShape(shape)} to [${target.join(',')}]`);
    out[out.indexOf(-1)] = size / known;
  }
  if (out.some((d) => d < 0) || out.reduce((a, b) => a * b, 1) !== size) fail(ctx, `cannot reshape ${fmtShape(shape)} (${size} elements) to [${target.join(',')}]`);
  return out;
}

function constReshape(c: Const, shape: readonly number[]): Const {
  return new Const(c.dtype, shape, c.data);
}

/** Slices of every kind of value along several axes (ONNX Slice: negative indices, clamping, negative steps). */
function sliceRanges(ctx: OpContext, shape: readonly number[], starts: readonly number[], ends: readonly number[], axesIn: readonly number[] | undefined, stepsIn: readonly number[] | undefined): { axis: number; start: number; end: number; step: number }[] {
  const axes = axesIn ?? starts.map((_, i) => i);
  const steps = stepsIn ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) fail(ctx, 'starts, ends, axes and steps differ in length');
  return starts.map((s, i) => {
    const a = axis(ctx, axes[i]!, shape.length);
    const dim = shape[a]!;
    const step = steps[i]!;
    if (step === 0) fail(ctx, 'a step of 0');
    const norm = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const start = step > 0 ? norm(s, 0, dim) : norm(s, -1, dim - 1);
    const end = step > 0 ? norm(ends[i]!, 0, dim) : norm(ends[i]!, -1, dim - 1);
    return { axis: a, start, end, step };
  });
}

function sliceConst(c: Const, ranges: ReturnType<typeof sliceRanges>): Const {
  let cur = c;
  for (const r of ranges) {
    const idx: number[] = [];
    for (let i = r.start; r.step > 0 ? i < r.end : i > r.end; i += r.step) idx.push(i);
    cur = takeConst(cur, r.axis, idx);
  }
  return cur;
}

/** Elements of `c` at positions `idx` along `axis`. */
function takeConst(c: Const, ax: number, idx: readonly number[]): Const {
  const outer = c.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const inner = c.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const dim = c.shape[ax]!;
  const data: number[] = [];
  for (let o = 0; o < outer; o++) for (const i of idx) for (let k = 0; k < inner; k++) data.push(c.data[(o * dim + i) * inner + k]!);
  return new Const(c.dtype, [...c.shape.slice(0, ax), idx.length, ...c.shape.slice(ax + 1)], data);
}

function sliceTensor(x: Tensor, ranges: ReturnType<typeof sliceRanges>): Tensor {
  let y = x;
  for (const r of ranges) {
    if (r.step > 0) y = y.slice(r.axis, r.start, Math.max(r.start, r.end), r.step);
    else {
      // A negative step is a flip, then a positive-step slice from the mirrored start.
      const dim = y.shape[r.axis]!;
      y = y.flip([r.axis]).slice(r.axis, dim - 1 - r.start, Math.max(dim - 1 - r.start, dim - 1 - r.end), -r.step);
    }
  }
  return y;
}

function castTo(ctx: OpContext, to: number): DType {
  // FLOAT, DOUBLE, FLOAT16, BFLOAT16 -> f32; the integer types -> i32; BOOL -> bool.
  if ([1, 10, 11, 16].includes(to)) return 'f32';
  if ([2, 3, 4, 5, 6, 7, 12, 13].includes(to)) return 'i32';
  if (to === 9) return 'bool';
  return fail(ctx, `Cast to ONNX type ${to} is not supported`);
}

const castValue = (x: number, d: DType) => (d === 'i32' ? Math.trunc(x) : d === 'bool' ? (x ? 1 : 0) : Math.fround(x));

function gemm(inputs: Inputs, ctx: OpContext): Tensor {
  let a = T(ctx, inputs, 0);
  let b = T(ctx, inputs, 1);
  if (a.ndim !== 2 || b.ndim !== 2) fail(ctx, `Gemm needs 2-d A and B, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (ctx.attrs.int('transA', 0)) a = a.transpose(0, 1);
  const alpha = ctx.attrs.float('alpha', 1);
  const beta = ctx.attrs.float('beta', 1);
  const c = inputs[2] === undefined ? undefined : T(ctx, inputs, 2);
  // transB (PyTorch's Linear) runs as linear(), which reads the [out, in] weight in place.
  let y: Tensor;
  if (ctx.attrs.int('transB', 0)) {
    y = alpha === 1 && (beta === 1 || !c) && c?.ndim === 1 ? F.linear(a, b, c) : F.linear(a, b);
    if (c && !(alpha === 1 && beta === 1 && c.ndim === 1)) y = (alpha === 1 ? y : y.mul(alpha)).add(beta === 1 ? c : c.mul(beta));
    else if (!c && alpha !== 1) y = y.mul(alpha);
    return y;
  }
  if (b.shape[0] !== a.shape[1]) fail(ctx, `A ${fmtShape(a.shape)} and B ${fmtShape(b.shape)} do not multiply`);
  b = b.contiguous();
  y = a.matmul(b);
  if (alpha !== 1) y = y.mul(alpha);
  return c ? y.add(beta === 1 ? c : c.mul(beta)) : y;
}

function gather(inputs: Inputs, ctx: OpContext): Value {
  const data = need(ctx, inputs, 0);
  const idx = need(ctx, inputs, 1);
  const ax = axis(ctx, ctx.attrs.int('axis', 0), data.shape.length);
  const dim = data.shape[ax]!;
  if (idx instanceof Const) {
    const bad = idx.data.find((i) => i < -dim || i >= dim);
    if (bad !== undefined) fail(ctx, `index ${bad} is out of range for axis ${ax} of size ${dim}`);
    const flat = idx.data.map((i) => (i < 0 ? i + dim : i));
    const outShape = [...data.shape.slice(0, ax), ...idx.shape, ...data.shape.slice(ax + 1)];
    if (data instanceof Const) return constReshape(takeConst(data, ax, flat), outShape);
    if (idx.shape.length === 0) return data.select(ax, flat[0]!);
    return data.indexSelect(ax, asTensor(Const.vector(flat), ctx.backend, ctx.where)).reshape(outShape);
  }
  // Indices computed from data (token ids): an embedding lookup along the axis.
  const x = asTensor(data, ctx.backend, ctx.where);
  const i = idx.cast('i32');
  const wrapped = where(i.lt(0), i.add(dim), i);
  const outShape = [...x.shape.slice(0, ax), ...i.shape, ...x.shape.slice(ax + 1)];
  return x.indexSelect(ax, wrapped.reshape([i.size])).reshape(outShape);
}

function clip(inputs: Inputs, ctx: OpContext): Value {
  // Opset 11 moved min and max from attributes to optional inputs.
  const lo = ctx.opset >= 11 ? optConst(ctx, inputs, 1, 'min')?.data[0] : ctx.attrs.float('min', -Infinity);
  const hi = ctx.opset >= 11 ? optConst(ctx, inputs, 2, 'max')?.data[0] : ctx.attrs.float('max', Infinity);
  const cs = consts(inputs.slice(0, 1));
  if (cs) return constMap(cs, cs[0]!.dtype, (v) => Math.min(Math.max(v, lo ?? -Infinity), hi ?? Infinity), ctx.where);
  const x = T(ctx, inputs, 0);
  if (lo === 0 && hi === undefined) return x.relu();
  if (lo === 0 && hi === 6) return F.relu6(x);
  return x.clamp(lo ?? null, hi ?? null);
}

function batchNormalization(inputs: Inputs, ctx: OpContext): Tensor | Tensor[] {
  const [x, scale, bias, mean, variance] = [0, 1, 2, 3, 4].map((i) => T(ctx, inputs, i)) as [Tensor, Tensor, Tensor, Tensor, Tensor];
  const eps = ctx.attrs.float('epsilon', 1e-5);
  // ONNX's momentum weighs the old statistic (0.9), PyTorch's the new one (0.1).
  const momentum = 1 - ctx.attrs.float('momentum', 0.9);
  if (ctx.attrs.int('training_mode', 0)) {
    // Opset 14's training form: batch statistics, and the moved running statistics as outputs (population variance, as the spec computes it).
    const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const shape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const m = x.mean(dims, true);
    const v = x.sub(m).square().mean(dims, true);
    const y = x.sub(m).div(v.add(eps).sqrt()).mul(scale.reshape(shape)).add(bias.reshape(shape));
    const keepOld = 1 - momentum;
    return [y, mean.mul(keepOld).add(m.reshape([-1]).mul(momentum)), variance.mul(keepOld).add(v.reshape([-1]).mul(momentum))];
  }
  // A frozen layer keeps its statistics too (as graft's freeze() does for BatchNorm modules).
  return F.batchNorm(x, mean, variance, scale, bias, { training: ctx.training && scale.requiresGrad, momentum, eps });
}

function layerNormalization(inputs: Inputs, ctx: OpContext): Tensor | Tensor[] {
  const x = T(ctx, inputs, 0);
  const a = axis(ctx, ctx.attrs.int('axis', -1), x.ndim);
  const scale = T(ctx, inputs, 1);
  const bias = inputs[2] === undefined ? null : T(ctx, inputs, 2);
  const eps = ctx.attrs.float('epsilon', 1e-5);
  if (ctx.outputs < 2) return F.layerNorm(x, x.shape.slice(a), scale, bias, { eps });
  // The optional Mean and InvStdDev outputs, over the normalised axes with them kept.
  const dims = x.shape.slice(a).map((_, i) => a + i);
  const mean = x.mean(dims, true);
  const inv = x.sub(mean).square().mean(dims, true).add(eps).rsqrt();
  let y = x.sub(mean).mul(inv).mul(scale);
  if (bias) y = y.add(bias);
  return [y, mean, inv];
}

function concat(inputs: Inputs, ctx: OpContext): Value {
  const present = inputs.filter((v): v is Value => v !== undefined);
  const rank = present[0]?.shape.length ?? fail(ctx, 'no inputs');
  const ax = axis(ctx, ctx.attrs.int('axis', 0), rank);
  const cs = consts(present);
  if (cs) {
    const outer = cs[0]!.shape.slice(0, ax).reduce((a, b) => a * b, 1);
    const data: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const c of cs) {
        const chunk = c.shape.slice(ax).reduce((a, b) => a * b, 1);
        for (let k = 0; k < chunk; k++) data.push(c.data[o * chunk + k]!);
      }
    }
    const shape = [...cs[0]!.shape];
    shape[ax] = cs.reduce((s, c) => s + c.shape[ax]!, 0);
    return new Const(cs[0]!.dtype, shape, data);
  }
  return F.concat(present.map((v) => asTensor(v, ctx.backend, ctx.where)), ax);
}

function unsqueezeShape(ctx: OpContext, shape: readonly number[], axes: readonly number[]): number[] {
  const rank = shape.length + axes.length;
  const at = new Set(axes.map((a) => axis(ctx, a, rank)));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : shape[k++]!);
  return out;
}

function reshapeValue(v: Value, shape: number[]): Value {
  return v instanceof Const ? constReshape(v, shape) : v.reshape(shape);
}

function axesOf(ctx: OpContext, inputs: Inputs): number[] | undefined {
  // Squeeze and Unsqueeze take axes as an input from opset 13.
  return ctx.opset >= 13 ? optConst(ctx, inputs, 1, 'axes')?.data.slice() : ctx.attrs.ints('axes');
}

function split(inputs: Inputs, ctx: OpContext): Value[] {
  const x = T(ctx, inputs, 0);
  const ax = axis(ctx, ctx.attrs.int('axis', 0), x.ndim);
  const sizes = (ctx.opset >= 13 ? optConst(ctx, inputs, 1, 'split')?.data.slice() : ctx.attrs.ints('split')) ?? null;
  const outputs = ctx.attrs.int('num_outputs', 0);
  const dim = x.shape[ax]!;
  let parts: number[];
  if (sizes) parts = sizes;
  else {
    // Without sizes, equal parts: num_outputs (opset 18) or the node's output count, the last part smaller.
    const n = outputs || ctx.outputs;
    const k = Math.ceil(dim / n);
    parts = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(k, dim - i * k)));
  }
  if (parts.reduce((a, b) => a + b, 0) !== dim) fail(ctx, `split sizes [${parts.join(',')}] do not add up to ${dim}`);
  let start = 0;
  return parts.map((p) => {
    const part = x.narrow(ax, start, p);
    start += p;
    return part;
  });
}

function pad(inputs: Inputs, ctx: OpContext): Tensor {
  const x = T(ctx, inputs, 0);
  const mode = ctx.attrs.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') fail(ctx, `pad mode '${mode}' is not one of constant, reflect, edge`);
  const pads = ctx.opset >= 11 ? C(ctx, inputs, 1, 'pads').data : (ctx.attrs.ints('pads') ?? fail(ctx, 'attribute pads is required'));
  const value = ctx.opset >= 11 ? (optConst(ctx, inputs, 2, 'constant_value')?.data[0] ?? 0) : ctx.attrs.float('value', 0);
  const r = x.ndim;
  const axes = ctx.opset >= 18 && inputs[3] ? C(ctx, inputs, 3, 'axes').data.map((a) => axis(ctx, a, r)) : x.shape.map((_, i) => i);
  if (pads.length !== 2 * axes.length) fail(ctx, `pads has ${pads.length} values, expected ${2 * axes.length}`);
  const spec: [number, number][] = x.shape.map(() => [0, 0]);
  axes.forEach((a, i) => (spec[a] = [pads[i]!, pads[i + axes.length]!]));
  // Negative pads crop.
  let y = x;
  spec.forEach(([b, e], d) => {
    if (b < 0 || e < 0) y = y.slice(d, Math.max(0, -b), y.shape[d]! - Math.max(0, -e));
  });
  if (mode === 'constant') return y.pad(spec.map(([b, e]) => [Math.max(0, b), Math.max(0, e)]), value);
  // reflect mirrors without repeating the border element, edge repeats it; both as concatenated slices.
  spec.forEach(([b, e], d) => {
    const n = y.shape[d]!;
    const [before, after] = [Math.max(0, b), Math.max(0, e)];
    if (!before && !after) return;
    if (mode === 'reflect' && (before >= n || after >= n)) fail(ctx, `reflect padding of ${Math.max(before, after)} needs an axis longer than that, axis ${d} has ${n}`);
    const side = (count: number, atStart: boolean): Tensor => {
      if (mode === 'edge') {
        const edge = y.narrow(d, atStart ? 0 : n - 1, 1);
        return edge.expand(edge.shape.map((s, i) => (i === d ? count : s)));
      }
      return y.narrow(d, atStart ? 1 : n - 1 - count, count).flip([d]);
    };
    y = F.concat([...(before ? [side(before, true)] : []), y, ...(after ? [side(after, false)] : [])], d);
  });
  return y;
}

export const ONNX_OPS: Record<string, OnnxOp> = {
  Identity: (inputs, ctx) => need(ctx, inputs, 0),
  Constant: (_inputs, ctx) => {
    const a = ctx.attrs;
    const t = a.raw('value')?.t;
    if (t) {
      const p = protoValues(t, ctx.file, `${ctx.where} value`);
      return new Const(p.dtype, p.shape, Array.from(p.values));
    }
    if (a.has('value_float')) return Const.scalar(a.float('value_float', 0), 'f32');
    if (a.has('value_int')) return Const.scalar(a.int('value_int', 0));
    if (a.has('value_floats')) return Const.vector(a.raw('value_floats')!.floats ?? [], 'f32');
    if (a.has('value_ints')) return Const.vector(a.ints('value_ints')!);
    return fail(ctx, 'a Constant without a value, value_float(s) or value_int(s) attribute');
  },
  Add: binary((a, b) => a + b, (a, b) => a.add(b)),
  Sub: binary((a, b) => a - b, (a, b) => a.sub(b)),
  Mul: binary((a, b) => a * b, (a, b) => a.mul(b)),
  Div: (inputs, ctx) => {
    const cs = consts(inputs);
    if (cs) return constMap(cs, cs[0]!.dtype, cs[0]!.dtype === 'i32' ? truncDiv : (a, b) => a / b, ctx.where);
    const [a, b] = [T(ctx, inputs, 0), T(ctx, inputs, 1)];
    if (a.dtype !== 'f32') fail(ctx, `integer division of computed ${a.dtype} values is not supported`);
    return a.div(b);
  },
  Pow: binary((a, b) => a ** b, (a, b) => a.pow(b)),
  Max: binary(Math.max, (a, b) => a.maximum(b)),
  Min: binary(Math.min, (a, b) => a.minimum(b)),
  Sum: binary((a, b) => a + b, (a, b) => a.add(b)),
  Mean: (inputs, ctx) => {
    const s = ONNX_OPS.Sum!(inputs, ctx) as Value;
    return s instanceof Const ? constMap([s], s.dtype, (v) => v / inputs.length, ctx.where) : s.div(inputs.length);
  },
  Equal: binary((a, b) => +(a === b), (a, b) => a.eq(b), 'bool'),
  Less: binary((a, b) => +(a < b), (a, b) => a.lt(b), 'bool'),
  LessOrEqual: binary((a, b) => +(a <= b), (a, b) => a.le(b), 'bool'),
  Greater: binary((a, b) => +(a > b), (a, b) => a.gt(b), 'bool'),
  GreaterOrEqual: binary((a, b) => +(a >= b), (a, b) => a.ge(b), 'bool'),
  And: binary((a, b) => +(a && b), (a, b) => a.logicalAnd(b), 'bool'),
  Or: binary((a, b) => +(a || b), (a, b) => a.logicalOr(b), 'bool'),
  Not: unary((x) => +!x, (x) => x.logicalNot()),
  Where: (inputs, ctx) => {
    const cs = consts(inputs);
    if (cs) return constMap(cs, cs[1]!.dtype, (c, a, b) => (c ? a : b), ctx.where);
    return T(ctx, inputs, 1).where(T(ctx, inputs, 0).cast('bool'), T(ctx, inputs, 2));
  },
  Neg: unary((x) => -x, (x) => x.neg()),
  Abs: unary(Math.abs, (x) => x.abs()),
  Relu: unary((x) => Math.max(0, x), (x) => x.relu()),
  Sigmoid: unary(null, (x) => x.sigmoid()),
  Tanh: unary(null, (x) => x.tanh()),
  Exp: unary(null, (x) => x.exp()),
  Log: unary(null, (x) => x.log()),
  Sqrt: unary(Math.sqrt, (x) => x.sqrt()),
  Reciprocal: unary(null, (x) => x.reciprocal()),
  Erf: unary(null, (x) => x.erf()),
  Sin: unary(null, (x) => x.sin()),
  Cos: unary(null, (x) => x.cos()),
  Floor: unary(Math.floor, (x) => floor(x)),
  Ceil: unary(Math.ceil, (x) => floor(x.neg()).neg()),
  // log(1 + e^x) as relu(x) + log(1 + e^-|x|), which does not overflow.
  Softplus: unary(null, (x) => x.relu().add(x.abs().neg().exp().add(1).log())),
  LeakyRelu: unary(null, (x, ctx) => F.leakyRelu(x, ctx.attrs.float('alpha', 0.01))),
  Elu: unary(null, (x, ctx) => {
    const alpha = ctx.attrs.float('alpha', 1);
    return where(x.gt(0), x, x.exp().sub(1).mul(alpha));
  }),
  HardSigmoid: unary(null, (x, ctx) => x.mul(ctx.attrs.float('alpha', 0.2)).add(ctx.attrs.float('beta', 0.5)).clamp(0, 1)),
  HardSwish: unary(null, (x) => x.mul(x.add(3).clamp(0, 6)).div(6)),
  Clip: clip,
  Cast: (inputs, ctx) => {
    const to = castTo(ctx, ctx.attrs.int('to', 0));
    const v = need(ctx, inputs, 0);
    return v instanceof Const ? new Const(to, v.shape, v.data.map((x) => castValue(x, to))) : v.cast(to);
  },
  Conv: conv,
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    return x.mean(x.shape.slice(2).map((_, i) => i + 2), true);
  },
  GlobalMaxPool: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    return x.amax(x.shape.slice(2).map((_, i) => i + 2), true);
  },
  Gemm: gemm,
  MatMul: (inputs, ctx) => T(ctx, inputs, 0).matmul(T(ctx, inputs, 1)),
  Softmax: softmaxLike((x, d) => x.softmax(d)),
  LogSoftmax: softmaxLike((x, d) => x.logSoftmax(d)),
  ReduceMean: reduce('mean'),
  ReduceSum: reduce('sum'),
  ReduceMax: reduce('max'),
  ReduceMin: reduce('min'),
  ReduceProd: reduce('prod'),
  ReduceSumSquare: reduce('sumSquare'),
  ReduceL2: reduce('l2'),
  ReduceLogSumExp: reduce('logSumExp'),
  Dropout: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    // The ratio is an attribute before opset 12 and an input after; training follows the module, as PyTorch's Dropout does.
    const ratio = ctx.opset >= 12 ? (optConst(ctx, inputs, 1, 'ratio')?.data[0] ?? 0.5) : ctx.attrs.float('ratio', 0.5);
    const y = ctx.training && ratio > 0 ? F.dropout(x, ratio, true) : x;
    // The optional mask output: which elements were kept.
    return ctx.outputs > 1 ? [y, ctx.training && ratio > 0 ? y.ne(0) : x.newFull(x.shape, true, 'bool')] : y;
  },
  Flatten: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const a = ctx.attrs.int('axis', 1);
    const ax = a < 0 ? a + v.shape.length : a;
    if (ax < 0 || ax > v.shape.length) fail(ctx, `axis ${a} is out of range for rank ${v.shape.length}`);
    const rows = v.shape.slice(0, ax).reduce((p, q) => p * q, 1);
    return reshapeValue(v, [rows, v.shape.slice(ax).reduce((p, q) => p * q, 1)]);
  },
  Reshape: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const target = ctx.opset >= 5 ? C(ctx, inputs, 1, 'shape').data : (ctx.attrs.ints('shape') ?? fail(ctx, 'attribute shape is required'));
    return reshapeValue(v, reshapeTo(ctx, shapeOf(v), target, ctx.attrs.int('allowzero', 0) === 1));
  },
  Transpose: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const r = v.shape.length;
    const perm = ctx.attrs.ints('perm') ?? [...Array(r).keys()].reverse();
    if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) fail(ctx, `perm [${perm.join(',')}] is not a permutation of ${r} axes`);
    if (v instanceof Const) {
      let c = v;
      const shape = perm.map((p) => v.shape[p]!);
      const strides = v.shape.map((_, i) => v.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const data = new Array<number>(v.size);
      for (let i = 0; i < v.size; i++) {
        let rem = i;
        let src = 0;
        for (let d = r - 1; d >= 0; d--) {
          const cd = rem % shape[d]!;
          rem = Math.floor(rem / shape[d]!);
          src += cd * strides[perm[d]!]!;
        }
        data[i] = v.data[src]!;
      }
      c = new Const(v.dtype, shape, data);
      return c;
    }
    return v.permute(perm);
  },
  Squeeze: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const axes = axesOf(ctx, inputs)?.map((a) => axis(ctx, a, v.shape.length));
    if (axes?.some((a) => v.shape[a] !== 1)) fail(ctx, `cannot squeeze axes [${axes.join(',')}] of ${fmtShape(v.shape)}: not all of size 1`);
    return reshapeValue(v, v.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)));
  },
  Unsqueeze: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const axes = axesOf(ctx, inputs) ?? fail(ctx, 'axes are required');
    return reshapeValue(v, unsqueezeShape(ctx, v.shape, axes));
  },
  Concat: concat,
  Split: split,
  Slice: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const [starts, ends, axes, steps] = ctx.opset >= 10
      ? [C(ctx, inputs, 1, 'starts').data, C(ctx, inputs, 2, 'ends').data, optConst(ctx, inputs, 3, 'axes')?.data, optConst(ctx, inputs, 4, 'steps')?.data]
      : [ctx.attrs.ints('starts') ?? [], ctx.attrs.ints('ends') ?? [], ctx.attrs.ints('axes'), undefined];
    const ranges = sliceRanges(ctx, v.shape, starts, ends, axes, steps);
    return v instanceof Const ? sliceConst(v, ranges) : sliceTensor(v, ranges);
  },
  Gather: gather,
  Shape: (inputs, ctx) => {
    const s = need(ctx, inputs, 0).shape;
    const r = s.length;
    const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    return Const.vector(s.slice(clampAxis(ctx.attrs.int('start', 0)), clampAxis(ctx.attrs.int('end', r))));
  },
  Size: (inputs, ctx) => Const.scalar(need(ctx, inputs, 0).shape.reduce((a, b) => a * b, 1)),
  ConstantOfShape: (inputs, ctx) => {
    const shape = C(ctx, inputs, 0, 'shape').data;
    const t = ctx.attrs.raw('value')?.t;
    const p = t ? protoValues(t, ctx.file, `${ctx.where} value`) : null;
    const dtype = p?.dtype ?? 'f32';
    const value = p ? p.values[0]! : 0;
    const n = shape.reduce((a, b) => a * b, 1);
    if (n <= CONST_LIMIT) return new Const(dtype, shape, new Array<number>(n).fill(value));
    return asTensor(Const.scalar(value, dtype), ctx.backend, ctx.where).expand(shape).contiguous();
  },
  Range: (inputs, ctx) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => C(ctx, inputs, i, ['start', 'limit', 'delta'][i]!));
    const d = delta!.data[0]!;
    if (d === 0) fail(ctx, 'delta is 0');
    const n = Math.max(0, Math.ceil((limit!.data[0]! - start!.data[0]!) / d));
    if (n > CONST_LIMIT) fail(ctx, `a range of ${n} values is larger than graft computes while building (${CONST_LIMIT})`);
    return Const.vector(Array.from({ length: n }, (_, i) => start!.data[0]! + i * d), start!.dtype);
  },
  Expand: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const target = C(ctx, inputs, 1, 'shape').data;
    // ONNX Expand broadcasts both ways (a 1 in the target keeps the input's size).
    const n = Math.max(target.length, v.shape.length);
    const shape = Array.from({ length: n }, (_, i) => {
      const a = v.shape[v.shape.length - n + i] ?? 1;
      const b = target[target.length - n + i] ?? 1;
      if (a !== b && a !== 1 && b !== 1) fail(ctx, `cannot expand ${fmtShape(v.shape)} to [${target.join(',')}]`);
      return a === 1 ? b : a;
    });
    if (v instanceof Const) return constMap([v, new Const(v.dtype, shape, new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0))], v.dtype, (x) => x, ctx.where);
    return v.reshape([...new Array<number>(n - v.shape.length).fill(1), ...v.shape]).expand(shape);
  },
  Tile: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    const reps = C(ctx, inputs, 1, 'repeats').data;
    if (reps.length !== x.ndim) fail(ctx, `repeats has ${reps.length} values for a rank-${x.ndim} input`);
    let y = x;
    reps.forEach((r, d) => {
      if (r !== 1) y = F.concat(new Array<Tensor>(r).fill(y), d);
    });
    return y;
  },
  Pad: pad,
  ArgMax: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    const a = axis(ctx, ctx.attrs.int('axis', 0), x.ndim);
    const keep = ctx.attrs.int('keepdims', 1) === 1;
    // The last of equal maxima: the first one along the flipped axis, mirrored back.
    if (ctx.attrs.int('select_last_index', 0)) return x.flip([a]).argmax(a, keep).neg().add(x.shape[a]! - 1);
    return x.argmax(a, keep);
  },
};
