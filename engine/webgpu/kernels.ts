/** @file The WebGPU backend's kernel tables: each elementwise op's WGSL expression and the kernel calls of each reduction and kernel op, exhaustive over the op names. */
import { GraftDTypeError, GraftShapeError } from '../../core/errors.js';
import { contiguousStrides } from '../../core/shape.js';
import type { ElementwiseOp, KernelOp, OpAttrs, OpName, ReduceOp } from '../../ops/schema.js';
import { SCHEMA } from '../../ops/schema.js';
import type { KernelCall, Operand } from '../../kernels/wgsl/common.js';
import { elementwiseKernel } from '../../kernels/wgsl/elementwise.js';
import { reduceKernel } from '../../kernels/wgsl/reduce.js';
import { type ConvEpilogue, convEpilogueKernel } from '../../kernels/wgsl/epilogue.js';
import { conv2dAsMatmul, conv2dDepthwiseKernel, conv2dDirectKernel, conv2dKernel, conv2dRegisterKernel, matmulKernel, matmulRegisterKernel, matmulRegisterNTKernel, matmulRegisterStridedKernel, registerMatmulFits, registerMatmulNTFits } from '../../kernels/wgsl/matmul.js';
import { conv2dWideKernel, matmulWideKernel } from '../../kernels/wgsl/wideGemm.js';
import { poolKernel } from '../../kernels/wgsl/pool.js';
import { gatherKernel } from '../../kernels/wgsl/gather.js';
import { padKernel } from '../../kernels/wgsl/layout.js';
import { cumsumKernel } from '../../kernels/wgsl/scan.js';
import { softmaxKernel } from '../../kernels/wgsl/softmax.js';
import { argsortKernel } from '../../kernels/wgsl/sort.js';
import { ATTENTION_MAX_FEATURES, attentionKernel } from '../../kernels/wgsl/attention.js';

/**
 * Each elementwise op as a WGSL expression over the inputs `a`, `b`, `c`: `T` is the inputs' value
 * type, `attr_<name>` a numeric attribute, and `cast(a)` converts to the output type.
 */
export const WGSL: { [K in ElementwiseOp]: string } = {
  neg: '-a',
  exp: 'exp(a)',
  log: 'log(a)',
  sqrt: 'sqrt(a)',
  abs: 'abs(a)',
  sin: 'sin(a)',
  cos: 'cos(a)',
  tanh: 'tanh(clampn_f32(a, -15.0, 15.0))',
  sigmoid: 'select(exp(a) / (1.0 + exp(a)), 1.0 / (1.0 + exp(-a)), a >= 0.0)',
  erf: 'erf_f32(a)',
  relu: 'maxn_T(a, T(0))',
  clamp: 'clampn_T(a, T(attr_min), T(attr_max))',
  cast: 'cast(a)',
  contiguous: 'a',
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: 'pow_f32(a, b)',
  maximum: 'maxn_T(a, b)',
  minimum: 'minn_T(a, b)',
  lt: 'a < b',
  gt: 'a > b',
  eq: 'a == b',
  where: 'select(c, b, a)',
};

export const MATMUL_VARIANTS = ['tiled', 'register', 'wide'] as const;
export type MatmulVariant = (typeof MATMUL_VARIANTS)[number];

/** What the device offers that kernels may use. */
export interface Caps {
  subgroups: boolean;
  /**
   * Which matmul kernel family this adapter runs fastest, chosen by timing each once per adapter:
   * 'tiled' (32x32 shared tiles), 'register' (no shared memory: CPU-backed adapters), 'wide' (64x64
   * double-buffered tiles with vec4 loads: discrete GPUs).
   */
  matmul: MatmulVariant;
  /** The largest scratch buffer (an im2col matrix) a kernel may ask for. */
  maxScratchBytes: number;
}

type WgslKernel<K extends OpName> = (ins: readonly Operand[], out: Operand, attrs: OpAttrs[K], caps: Caps) => KernelCall[];

/** Output channels per group from which a convolution runs on GEMM tiles (fewer leave them mostly empty). */
const GEMM_MIN_CHANNELS = 8;
/** A conv's bias and clamp, applied in its store (none without either). */
const convEpilogue = (bias: Operand | undefined, a: OpAttrs['conv2d']): ConvEpilogue | undefined => (bias || a.clamp ? { bias: bias ?? null, clamp: a.clamp } : undefined);
const copy = (src: number, x: Operand, out: Operand): KernelCall => ({ ...elementwiseKernel('contiguous', WGSL.contiguous, [x], out, {}), inputs: [src] });
const reduce = <K extends ReduceOp>(op: K): WgslKernel<K> => (ins, out, a, caps) => [reduceKernel(op, ins[0]!, a.dims, out, caps.subgroups)];

export const KERNELS: { [K in KernelOp | ReduceOp]: WgslKernel<K> } = {
  sum: reduce('sum'),
  mean: reduce('mean'),
  max: reduce('max'),
  argmax: reduce('argmax'),
  matmul: ([a, b], out, _, caps) => {
    if (caps.matmul === 'wide') return [matmulWideKernel(a!, b!, out)];
    if (caps.matmul === 'register' && registerMatmulFits(b!, out)) return [matmulRegisterKernel(a!, b!, out)];
    if (caps.matmul === 'register' && registerMatmulNTFits(a!, b!)) return [matmulRegisterNTKernel(a!, b!, out)];
    if (caps.matmul === 'register') return [matmulRegisterStridedKernel(a!, b!, out)];
    return [matmulKernel(a!, b!, out)];
  },
  conv2d: ([x, w, bias], out, a, caps) => {
    // Few output channels per group (depthwise and its gradients) leave GEMM tiles mostly empty.
    const og = w!.shape[0]! / a.groups;
    // The bias and clamp are applied in the conv kernels' stores; after the matmul route, by one in-place pass.
    const ep = convEpilogue(bias, a);
    if (og === 1 && a.groups === x!.shape[1]) return [conv2dDepthwiseKernel(x!, w!, out, a, ep)];
    if (og < GEMM_MIN_CHANNELS) return [conv2dDirectKernel(x!, w!, out, a, ep)];
    if (caps.matmul === 'wide') return [conv2dWideKernel(x!, w!, out, a, ep)];
    if (caps.matmul !== 'register') return [conv2dKernel(x!, w!, out, a, ep)];
    const viaMatmul = conv2dAsMatmul(x!, w!, out, a, caps.maxScratchBytes);
    if (!viaMatmul) return [conv2dRegisterKernel(x!, w!, out, a, ep)];
    return ep ? [...viaMatmul, convEpilogueKernel(out, ep)] : viaMatmul;
  },
  avgPool2d: ([x], out, a) => [poolKernel('avg', x!, out, { ...a, dilation: [1, 1] }, a.countIncludePad)],
  maxPool2dIndices: ([x], out, a) => [poolKernel('argmax', x!, out, a, false)],
  gather: ([x, i], out, { dim }) => [gatherKernel('gather', x!, i!, dim, out)],
  scatterAdd: ([base, i, src], out, { dim }) => {
    if (out.dtype !== 'f32') throw new GraftDTypeError(`scatterAdd: the webgpu backend adds f32 only, got ${out.dtype}`);
    return [copy(0, base!, out), gatherKernel('scatterAdd', base!, i!, dim, out, src!)];
  },
  concat: (ins, out, { dim }) => {
    const strides = contiguousStrides(out.shape);
    let at = 0;
    return ins.map((x, k) => {
      const part: Operand = { dtype: out.dtype, shape: x.shape, strides, offset: at * strides[dim]! };
      at += x.shape[dim]!;
      return copy(k, x, part);
    });
  },
  pad: ([x], out, { pads, value }) => [padKernel(x!, out, pads, value)],
  cumsum: ([x], out, { dim }) => [cumsumKernel(x!, out, dim)],
  softmax: ([x], out, { dim }) => [softmaxKernel(x!, out, dim, false)],
  logSoftmax: ([x], out, { dim }) => [softmaxKernel(x!, out, dim, true)],
  argsort: ([x], out, { dim, descending }) => [argsortKernel(x!, out, dim, descending)],
  attention: ([q, k, v, mask], out, { scale, causal }) => {
    if (Math.max(q!.shape[3]!, v!.shape[3]!) > ATTENTION_MAX_FEATURES) throw new GraftShapeError(`attention: features of ${Math.max(q!.shape[3]!, v!.shape[3]!)} are more than the WebGPU kernel holds per row (${ATTENTION_MAX_FEATURES}); scaledDotProductAttention takes the unfused path there`);
    return [attentionKernel(q!, k!, v!, mask, out, scale, causal)];
  },
};

/**
 * Kernels that read and write f16 storage themselves (f32 inside). An op missing here, or whose
 * entry gives null, runs on f16 operands through widened f32 copies (the backend's runWidened),
 * with the same values.
 */
export const F16_KERNELS: { [K in KernelOp | ReduceOp]?: (...a: Parameters<WgslKernel<K>>) => KernelCall[] | null } = {
  // The tuned choice where the register kernel's vec4 rows fit, else the tiled kernel.
  matmul: ([a, b], out, _, caps) => [
    caps.matmul === 'wide' ? matmulWideKernel(a!, b!, out) : caps.matmul === 'register' && registerMatmulFits(b!, out) ? matmulRegisterKernel(a!, b!, out) : matmulKernel(a!, b!, out),
  ],
  // The GEMM families' implicit GEMM where the f32 choice is one of them; depthwise and narrow
  // groups, and the register family (CPU-backed adapters), keep their f32 kernels on widened copies.
  conv2d: ([x, w, bias], out, a, caps) => {
    if (w!.shape[0]! / a.groups < GEMM_MIN_CHANNELS || caps.matmul === 'register') return null;
    const ep = convEpilogue(bias, a);
    return [caps.matmul === 'wide' ? conv2dWideKernel(x!, w!, out, a, ep) : conv2dKernel(x!, w!, out, a, ep)];
  },
};

/** The kernel calls that compute `op`; none for a view. */
export function kernelsFor<K extends OpName>(op: K, ins: readonly Operand[], out: Operand, attrs: OpAttrs[K], caps: Caps): KernelCall[] {
  const kind = SCHEMA[op].kind;
  if (kind === 'view') return [];
  if (kind === 'unary' || kind === 'binary' || kind === 'ternary') return [elementwiseKernel(op, WGSL[op as ElementwiseOp], ins, out, attrs as Record<string, unknown>)];
  return (KERNELS[op as KernelOp | ReduceOp] as WgslKernel<K>)(ins, out, attrs, caps);
}
