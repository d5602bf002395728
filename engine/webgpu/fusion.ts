/** @file Elementwise fusion for the WebGPU backend: chains of elementwise ops producing one shape are recorded and run as one kernel. */
import type { TensorView } from '../backend.js';
import type { DType } from '../../core/dtype.js';
import { type OpName, isElementwise } from '../../ops/schema.js';
import { WGSL } from './kernels.js';
import { broadcastStrides, isContiguous, sizeOf } from '../../core/shape.js';
import type { KernelCall } from '../../kernels/wgsl/common.js';
import { type FusedLeaf, type FusedNode, type FusedRef, fusedKernel } from '../../kernels/wgsl/fused.js';

/** Ops recorded before the group runs regardless: bounds the kernel's size and its compile time. */
const MAX_NODES = 64;

/** Groups open at once; the oldest runs when another shape starts. */
const MAX_GROUPS = 4;

interface Group {
  shape: readonly number[];
  nodes: Recorded[];
}

interface Recorded extends Omit<FusedNode, 'inputs'> {
  inputs: Ref[];
  out: GPUBuffer;
}
/** While recording: a buffer (with its view's offset and whether it is one broadcast value), a host constant, or an earlier op. */
type Ref = { buffer: GPUBuffer; leaf: FusedLeaf } | { constant: number; dtype: DType } | { node: number };

/**
 * Records elementwise ops instead of dispatching them (operands may be any view broadcast to the
 * output; results feed later ops in registers). The group runs when anything else needs
 * its results or its buffers: another op, a read, a write into a buffer it uses, or a sync.
 * Results whose tensors were freed by then are never written, so a chain inside `tidy` costs one
 * pass over memory; one-value operands whose value the host wrote (scalars) travel as constants.
 * Buffers the group uses go back to the pool only after it has run.
 */
export class Fuser {
  /** Open groups by output shape (a BatchNorm interleaves per-channel ops with per-element ones). */
  private groups = new Map<string, Group>();
  private involved = new Set<GPUBuffer>();
  private encoding = false;
  private deferred: GPUBuffer[] = [];
  /** Kernels run and ops recorded, for tests and the bench report. */
  readonly stats = { kernels: 0, ops: 0 };

  constructor(
    private readonly maxBindings: number,
    private readonly emit: (call: KernelCall, buffers: GPUBuffer[]) => void,
    private readonly release: (b: GPUBuffer) => void,
    /** The value of a one-element buffer the host wrote and nothing has written since, as i32 bits. */
    private readonly constantOf: (b: GPUBuffer) => number | undefined,
  ) {}

  holds(b: GPUBuffer): boolean {
    return this.involved.has(b);
  }

  /** Records `op` (running the group first when `op` cannot join it); false when `op` is not fusable. */
  record(op: OpName, inputs: readonly TensorView[], out: TensorView, attrs: unknown, buffer: (v: TensorView) => GPUBuffer): boolean {
    if (!isElementwise(op)) return false;
    const n = sizeOf(out.shape);
    const outBuf = buffer(out);
    if (n === 0 || out.offset !== 0 || !isContiguous(out.shape, out.strides)) return false;
    const sameShape = (v: TensorView) => v.shape.length === out.shape.length && v.shape.every((d, i) => d === out.shape[i]);
    const dense = (v: TensorView) => sameShape(v) && isContiguous(v.shape, v.strides);
    const key = out.shape.join(',');
    if (this.involved.has(outBuf) && !this.inPlace(outBuf, key)) this.flush();
    // An earlier result of this group read whole stays in registers; a result of another group, or
    // another view of one, is read from memory once its group has run.
    const inRegisters = (v: TensorView, owner: { key: string } | null) => owner !== null && owner.key === key && v.offset === 0 && dense(v);
    for (const v of inputs) {
      const owner = this.ownerOf(buffer(v));
      if (owner && !inRegisters(v, owner)) this.flushGroup(owner.key);
    }
    const refs: Ref[] = [];
    for (const v of inputs) {
      const b = buffer(v);
      const owner = this.ownerOf(b);
      if (owner) {
        refs.push({ node: owner.node });
        continue;
      }
      const one = sizeOf(v.shape) === 1;
      const constant = one && v.offset === 0 ? this.constantOf(b) : undefined;
      if (constant !== undefined) refs.push({ constant, dtype: v.dtype });
      else if (dense(v)) refs.push({ buffer: b, leaf: { dtype: v.dtype, kind: 'dense', offset: v.offset } });
      else if (one) refs.push({ buffer: b, leaf: { dtype: v.dtype, kind: 'scalar', offset: v.offset } });
      else refs.push({ buffer: b, leaf: { dtype: v.dtype, kind: 'strided', offset: v.offset, strides: broadcastStrides(v, out.shape) } });
    }
    let group = this.groups.get(key);
    if (!group) {
      if (this.groups.size >= MAX_GROUPS) this.flushGroup(this.groups.keys().next().value!);
      group = { shape: out.shape, nodes: [] };
      this.groups.set(key, group);
    }
    for (const r of refs) if ('buffer' in r) this.involved.add(r.buffer);
    const numeric = Object.entries((attrs ?? {}) as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number').sort(([a], [b]) => (a < b ? -1 : 1));
    group.nodes.push({ op, snippet: WGSL[op], inputs: refs, inDtypes: inputs.map((v) => v.dtype), dtype: out.dtype, attrs: numeric, store: true, out: outBuf });
    this.involved.add(outBuf);
    this.stats.ops++;
    if (group.nodes.length >= MAX_NODES) this.flushGroup(key);
    return true;
  }

  /**
   * Whether an op of group `key` may write `b` in place: every recorded use of `b` is a read of
   * element i by element i of that group (a dense leaf from offset 0), so in the kernel each
   * invocation reads its element before it writes it. Later reads of `b` take the new value from
   * registers.
   */
  private inPlace(b: GPUBuffer, key: string): boolean {
    for (const [k, g] of this.groups) {
      for (const d of g.nodes) {
        if (d.out === b) return false;
        for (const r of d.inputs) if ('buffer' in r && r.buffer === b && (k !== key || r.leaf.kind !== 'dense' || r.leaf.offset !== 0)) return false;
      }
    }
    return !this.deferred.includes(b);
  }

  /** The open group and node whose result `b` holds. */
  private ownerOf(b: GPUBuffer): { key: string; node: number } | null {
    if (!this.involved.has(b)) return null;
    for (const [key, g] of this.groups) {
      const node = g.nodes.findIndex((d) => d.out === b);
      if (node >= 0) return { key, node };
    }
    return null;
  }

  /** A buffer freed while a group uses it: its result is no longer stored, and the pool gets it back after every group has run. */
  free(b: GPUBuffer): boolean {
    if (!this.involved.has(b)) return false;
    for (const g of this.groups.values()) for (const d of g.nodes) if (d.out === b) d.store = false;
    this.deferred.push(b);
    return true;
  }

  /** Runs every open group, in the order they were opened, then returns freed buffers to the pool. */
  flush(): void {
    // A submit while a group is being encoded (the backend's batch limit) must not release the
    // buffers that group's remaining kernels read: the groups still open wait for the next flush.
    if (this.encoding) return;
    for (const key of [...this.groups.keys()]) this.flushGroup(key);
    const deferred = this.deferred;
    this.deferred = [];
    this.involved.clear();
    for (const b of deferred) this.release(b);
  }

  /** Runs one group: as few kernels as the binding limit allows, each writing only results still wanted. */
  private flushGroup(key: string): void {
    const g = this.groups.get(key);
    if (!g) return;
    this.groups.delete(key);
    const { nodes, shape } = g;
    this.encoding = true;
    try {
      this.encodeGroup(nodes, shape);
    } finally {
      this.encoding = false;
    }
  }

  private encodeGroup(nodes: Recorded[], shape: readonly number[]): void {
    // The last node that reads each result: a result read past its segment must be stored.
    const lastUse = nodes.map(() => -1);
    nodes.forEach((d, k) => d.inputs.forEach((r) => 'node' in r && (lastUse[r.node] = k)));
    for (let start = 0; start < nodes.length;) {
      let end = start + 1;
      let plan = this.plan(nodes, lastUse, start, end);
      for (; end < nodes.length; end++) {
        const next = this.plan(nodes, lastUse, start, end + 1);
        if (next.bindings > this.maxBindings) break;
        plan = next;
      }
      this.segment(plan, shape);
      start = end;
    }
  }

  private stored(nodes: Recorded[], lastUse: number[], k: number, end: number): boolean {
    return nodes[k]!.store || lastUse[k]! >= end;
  }

  /**
   * The kernel over nodes [start, end): its leaves (one per distinct view of a buffer), its nodes
   * and the buffers it binds. The binding count is taken from this plan, so a split never
   * under-counts (one buffer read through two views binds twice).
   */
  private plan(nodes: Recorded[], lastUse: number[], start: number, end: number) {
    const leaves: FusedLeaf[] = [];
    const leafBuffers: GPUBuffer[] = [];
    const constants: number[] = [];
    const leafOf = (buffer: GPUBuffer, leaf: FusedLeaf): number => {
      const at = leaves.findIndex((l, j) => leafBuffers[j] === buffer && l.offset === leaf.offset && l.kind === leaf.kind && l.dtype === leaf.dtype && String(l.strides) === String(leaf.strides));
      if (at >= 0) return at;
      leafBuffers.push(buffer);
      return leaves.push({ ...leaf }) - 1;
    };
    const out: FusedNode[] = [];
    const outBuffers: GPUBuffer[] = [];
    for (let k = start; k < end; k++) {
      const d = nodes[k]!;
      const inputs = d.inputs.map((r): FusedRef => {
        if ('constant' in r) return { constant: constants.push(r.constant) - 1, dtype: r.dtype };
        if ('buffer' in r) return { leaf: leafOf(r.buffer, r.leaf) };
        if (r.node >= start) return { node: r.node - start };
        return { leaf: leafOf(nodes[r.node]!.out, { dtype: nodes[r.node]!.dtype, kind: 'dense', offset: 0 }) };
      });
      const store = this.stored(nodes, lastUse, k, end);
      out.push({ ...d, inputs, store });
      if (store) outBuffers.push(d.out);
    }
    // A leaf this segment also writes (an in-place update) is read through the output's binding.
    leaves.forEach((l, j) => {
      const o = outBuffers.indexOf(leafBuffers[j]!);
      if (o >= 0) l.output = o;
    });
    const bound = [...outBuffers, ...leafBuffers.filter((_, j) => leaves[j]!.output === undefined)];
    return { leaves, out, constants, outBuffers, bound, bindings: bound.length };
  }

  private segment(plan: ReturnType<Fuser['plan']>, shape: readonly number[]): void {
    const { leaves, out, constants, outBuffers, bound } = plan;
    if (!outBuffers.length) return;
    this.emit(fusedKernel(leaves, out, shape, constants), bound);
    this.stats.kernels++;
  }
}
