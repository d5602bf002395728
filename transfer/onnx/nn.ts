/** @file ONNX's layer operators (Conv, pooling, normalisation, Gemm, MatMul, softmax, reductions, Dropout, ArgMax) as graft's layer functions, so autograd trains through them. */
import { type Tensor, functional as F, fmtShape } from '../../index.js';
import { type Inputs, type OnnxOp, type OpContext, T, axis, fail, optConst } from './context.js';

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

/** Layer operators by ONNX name. */
export const NN_OPS: Record<string, OnnxOp> = {
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
  ArgMax: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    const a = axis(ctx, ctx.attrs.int('axis', 0), x.ndim);
    const keep = ctx.attrs.int('keepdims', 1) === 1;
    // The last of equal maxima: the first one along the flipped axis, mirrored back.
    if (ctx.attrs.int('select_last_index', 0)) return x.flip([a]).argmax(a, keep).neg().add(x.shape[a]! - 1);
    return x.argmax(a, keep);
  },
};
