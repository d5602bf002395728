/** @file Renders a recorded elementwise program (the frontend's lazy graph) as fused WGSL kernels, split where one kernel would bind more buffers than the device allows. */
import type { BufferHandle, ExprProgram } from '../backend.js';
import { broadcastStrides, isContiguous, sizeOf } from '../../core/shape.js';
import type { KernelCall } from '../../kernels/wgsl/common.js';
import { type FusedLeaf, type FusedNode, type FusedRef, fusedKernel } from '../../kernels/wgsl/fused.js';
import { WGSL } from './kernels.js';

export interface RenderEnv {
  /** Storage buffers one kernel may bind. */
  maxBindings: number;
  buffer(b: BufferHandle): GPUBuffer;
  /** The value of a one-element buffer the host wrote and no kernel has written since, as i32 bits. */
  constantOf(b: GPUBuffer): number | undefined;
  /** A buffer for an intermediate that one kernel writes and a later one reads. */
  temp(bytes: number): GPUBuffer;
}

export interface Rendered {
  call: KernelCall;
  /** The kernel's outputs, then its inputs. */
  buffers: GPUBuffer[];
}

/** A leaf as a kernel reads it: a host constant (no binding), or a buffer through a dense, one-value or strided view. */
type Source = { constant: number; dtype: FusedLeaf['dtype'] } | { buffer: GPUBuffer; leaf: FusedLeaf };

/**
 * The kernels computing `program`, in order. Nodes are taken in program order and a kernel grows
 * while its bindings fit; a value computed in one kernel and read in a later one is stored there
 * (in its output buffer, or in a temporary).
 */
export function renderProgram(program: ExprProgram, env: RenderEnv): Rendered[] {
  const { shape, leaves, outputs } = program;
  const L = leaves.length;
  // A node written to a second buffer (copy_ in place) is stored through an identity node of its own.
  const nodes = [...program.nodes];
  const kept = new Map<number, GPUBuffer>();
  for (const o of outputs) {
    if (kept.has(o.node - L)) kept.set(nodes.push({ op: 'contiguous', attrs: {}, args: [o.node], dtype: nodes[o.node - L]!.dtype }) - 1, env.buffer(o.buffer));
    else kept.set(o.node - L, env.buffer(o.buffer));
  }
  const sources = leaves.map((v): Source => {
    const b = env.buffer(v.buffer);
    const one = sizeOf(v.shape) === 1;
    const constant = one && v.offset === 0 ? env.constantOf(b) : undefined;
    if (constant !== undefined) return { constant, dtype: v.dtype };
    const dense = v.shape.length === shape.length && v.shape.every((d, i) => d === shape[i]) && isContiguous(v.shape, v.strides);
    if (dense) return { buffer: b, leaf: { dtype: v.dtype, kind: 'dense', offset: v.offset } };
    if (one) return { buffer: b, leaf: { dtype: v.dtype, kind: 'scalar', offset: v.offset } };
    return { buffer: b, leaf: { dtype: v.dtype, kind: 'strided', offset: v.offset, strides: broadcastStrides(v, shape) } };
  });
  const lastUse = nodes.map(() => -1);
  nodes.forEach((d, k) => d.args.forEach((a) => a >= L && (lastUse[a - L] = k)));
  // Where node k's value is stored: its output buffer, or (a number) the temporary it gets once its kernel is chosen.
  type Slot = GPUBuffer | number;
  const slotOf = (k: number): Slot => kept.get(k) ?? k;
  const temps = new Map<number, GPUBuffer>();
  const bufferOf = (s: Slot) => (typeof s !== 'number' ? s : temps.get(s) ?? temps.set(s, env.temp(Math.max(4, sizeOf(shape) * 4))).get(s)!);
  const dtypeOf = (a: number) => (a < L ? leaves[a]!.dtype : nodes[a - L]!.dtype);

  /** The kernel over nodes [start, end): its leaves (one per distinct view of a buffer), nodes, constants and bound buffers. */
  const plan = (start: number, end: number) => {
    const fused: FusedLeaf[] = [];
    const fusedBuffers: Slot[] = [];
    const constants: number[] = [];
    const leafOf = (buffer: Slot, leaf: FusedLeaf): number => {
      const at = fused.findIndex((l, j) => fusedBuffers[j] === buffer && l.offset === leaf.offset && l.kind === leaf.kind && l.dtype === leaf.dtype && String(l.strides) === String(leaf.strides));
      if (at >= 0) return at;
      fusedBuffers.push(buffer);
      return fused.push({ ...leaf }) - 1;
    };
    const out: FusedNode[] = [];
    const outBuffers: Slot[] = [];
    for (let k = start; k < end; k++) {
      const d = nodes[k]!;
      const inputs = d.args.map((a): FusedRef => {
        if (a >= L + start) return { node: a - L - start };
        if (a >= L) return { leaf: leafOf(slotOf(a - L), { dtype: dtypeOf(a), kind: 'dense', offset: 0 }) };
        const s = sources[a]!;
        return 'constant' in s ? { constant: constants.push(s.constant) - 1, dtype: s.dtype } : { leaf: leafOf(s.buffer, s.leaf) };
      });
      const store = kept.has(k) || lastUse[k]! >= end;
      const attrs = Object.entries((d.attrs ?? {}) as Record<string, unknown>)
        .filter((e): e is [string, number] => typeof e[1] === 'number')
        .sort(([a], [b]) => (a < b ? -1 : 1));
      out.push({ op: d.op, snippet: WGSL[d.op], inputs, inDtypes: d.args.map(dtypeOf), dtype: d.dtype, attrs, store });
      if (store) outBuffers.push(slotOf(k));
    }
    // A buffer this kernel both reads and writes (in place, element by element) binds once, as an output.
    fused.forEach((l, j) => {
      const o = outBuffers.indexOf(fusedBuffers[j]!);
      if (o >= 0) l.output = o;
    });
    return { fused, out, constants, buffers: [...outBuffers, ...fusedBuffers.filter((_, j) => fused[j]!.output === undefined)] };
  };

  const kernels: Rendered[] = [];
  for (let start = 0; start < nodes.length;) {
    let end = start + 1;
    let p = plan(start, end);
    for (; end < nodes.length; end++) {
      const next = plan(start, end + 1);
      if (next.buffers.length > env.maxBindings) break;
      p = next;
    }
    if (p.out.some((d) => d.store)) kernels.push({ call: fusedKernel(p.fused, p.out, shape, p.constants), buffers: p.buffers.map(bufferOf) });
    start = end;
  }
  return kernels;
}
