/** @file Which WGSL kernel calls run each primitive, from its kind or kernel family in the op table. */
import { GraftDTypeError } from '../errors.js';
import { OPS, type OpAttrs, type OpName, type UnarySpec } from '../ops.js';
import type { KernelCall, Operand } from '../../kernels/wgsl/common.js';
import { elementwiseKernel } from '../../kernels/wgsl/elementwise.js';
import { reduceKernel } from '../../kernels/wgsl/reduce.js';
import { convEpilogueKernel } from '../../kernels/wgsl/epilogue.js';
import { conv2dAsMatmul, conv2dDepthwiseKernel, conv2dDirectKernel, conv2dKernel, conv2dRegisterKernel, matmulKernel, matmulRegisterKernel, matmulRegisterNTKernel, matmulRegisterStridedKernel, registerMatmulFits, registerMatmulNTFits } from '../../kernels/wgsl/matmul.js';
import { poolKernel } from '../../kernels/wgsl/pool.js';
import { gatherKernel } from '../../kernels/wgsl/gather.js';
import { padKernel } from '../../kernels/wgsl/layout.js';
import { contiguousStrides } from '../shape.js';

const copy = (src: number, x: Operand, out: Operand): KernelCall => ({ ...elementwiseKernel('contiguous', (OPS.contiguous as UnarySpec<'contiguous'>).wgsl, [x], out, {}), inputs: [src] });

/** What the device offers that kernels may use. */
export interface Caps {
  subgroups: boolean;
  /** Which matmul kernel this adapter runs faster, chosen by timing both once per adapter. */
  matmul: 'tiled' | 'register';
  /** The largest scratch buffer (an im2col matrix) a kernel may ask for. */
  maxScratchBytes: number;
}

export function kernelsFor<K extends OpName>(op: K, ins: readonly Operand[], out: Operand, attrs: OpAttrs[K], caps: Caps): KernelCall[] {
  const spec = OPS[op] as (typeof OPS)[OpName];
  switch (spec.kind) {
    case 'unary':
    case 'binary':
    case 'ternary':
      return [elementwiseKernel(op, spec.wgsl, ins, out, attrs as Record<string, unknown>)];
    case 'reduce':
      return [reduceKernel(spec.cpu, ins[0]!, (attrs as OpAttrs['sum']).dims, out, caps.subgroups)];
    case 'view':
      return [];
    case 'kernel':
      break;
  }
  switch (op) {
    case 'matmul': {
      const [a, b] = [ins[0]!, ins[1]!];
      if (caps.matmul === 'register' && registerMatmulFits(b, out)) return [matmulRegisterKernel(a, b, out)];
      if (caps.matmul === 'register' && registerMatmulNTFits(a, b)) return [matmulRegisterNTKernel(a, b, out)];
      if (caps.matmul === 'register') return [matmulRegisterStridedKernel(a, b, out)];
      return [matmulKernel(a, b, out)];
    }
    case 'conv2d': {
      // Few output channels per group (depthwise and its gradients) leave GEMM tiles mostly empty.
      const a = attrs as OpAttrs['conv2d'];
      const og = ins[1]!.shape[0]! / a.groups;
      // The bias and clamp are applied in the conv kernels' stores; after the matmul route, by one in-place pass.
      const ep = ins[2] || a.clamp ? { bias: ins[2] ?? null, clamp: a.clamp } : undefined;
      if (og === 1 && a.groups === ins[0]!.shape[1]) return [conv2dDepthwiseKernel(ins[0]!, ins[1]!, out, a, ep)];
      if (og < 8) return [conv2dDirectKernel(ins[0]!, ins[1]!, out, a, ep)];
      if (caps.matmul !== 'register') return [conv2dKernel(ins[0]!, ins[1]!, out, a, ep)];
      const viaMatmul = conv2dAsMatmul(ins[0]!, ins[1]!, out, a, caps.maxScratchBytes);
      if (!viaMatmul) return [conv2dRegisterKernel(ins[0]!, ins[1]!, out, a, ep)];
      return ep ? [...viaMatmul, convEpilogueKernel(out, ep)] : viaMatmul;
    }
    case 'avgPool2d': {
      const a = attrs as OpAttrs['avgPool2d'];
      return [poolKernel('avg', ins[0]!, out, { ...a, dilation: [1, 1] }, a.countIncludePad)];
    }
    case 'maxPool2dIndices':
      return [poolKernel('argmax', ins[0]!, out, attrs as OpAttrs['maxPool2dIndices'], false)];
    case 'gather':
      return [gatherKernel('gather', ins[0]!, ins[1]!, (attrs as OpAttrs['gather']).dim, out)];
    case 'scatterAdd': {
      if (out.dtype !== 'f32') throw new GraftDTypeError(`scatterAdd: the webgpu backend adds f32 only, got ${out.dtype}`);
      const { dim } = attrs as OpAttrs['scatterAdd'];
      return [copy(0, ins[0]!, out), gatherKernel('scatterAdd', ins[0]!, ins[1]!, dim, out, ins[2]!)];
    }
    case 'concat': {
      const { dim } = attrs as OpAttrs['concat'];
      const strides = contiguousStrides(out.shape);
      let at = 0;
      return ins.map((x, k) => {
        const part: Operand = { dtype: out.dtype, shape: x.shape, strides, offset: at * strides[dim]! };
        at += x.shape[dim]!;
        return copy(k, x, part);
      });
    }
    case 'pad': {
      const a = attrs as OpAttrs['pad'];
      return [padKernel(ins[0]!, out, a.pads, a.value)];
    }
  }
  throw new Error(`webgpu: no kernel for ${op}`);
}
