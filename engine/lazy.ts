/** @file The recorded expression graph: elementwise ops kept as expressions over strided leaves, run as one program when a buffer is needed. */
import type { Backend, BufferHandle, ExprNode, ExprProgram, TensorView } from './backend.js';
import type { DType } from '../core/dtype.js';
import type { ElementwiseOp } from '../ops/schema.js';
import { contiguousStrides, isContiguous, sizeOf } from '../core/shape.js';
import { type Pending, Storage } from './storage.js';

/**
 * Bounds on one program: the nodes of an expression tree, and the views of more than one element
 * it reads (one-element views are scalars: constants or a single load, never a stream of memory).
 * A backend that can bind fewer splits the program itself.
 */
const MAX_NODES = 64;
const MAX_LEAVES = 8;

/** A view an expression reads as it is. */
interface Leaf {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
}

/** How a tensor is seen by an op: the view over its storage. */
export interface ViewOfStorage extends Leaf {
  readonly size: number;
}

type Input = Expr | Leaf;

/**
 * One recorded elementwise op. Its storage holds its values once realized. An expression whose
 * storage is gone but that later expressions inline is kept (with the storages it reads) until
 * they are realized; then it lets go of everything.
 */
class Expr implements Pending {
  readonly storage: Storage;
  /** Later expressions that inline this one and are not realized. */
  readonly users = new Set<Expr>();
  readonly nodes: number;
  readonly leafCount: number;
  /** The storage still wants the values (it has views and no buffer). */
  private owned = true;
  private done = false;

  constructor(
    readonly op: ElementwiseOp,
    readonly attrs: unknown,
    readonly inputs: readonly Input[],
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly size: number,
    backend: Backend,
    /** The program's size: its distinct nodes and multi-element leaves. */
    count: { nodes: number; leaves: number },
  ) {
    this.storage = new Storage(backend, null, this);
    for (const i of inputs) {
      if (i instanceof Expr) i.users.add(this);
      else i.storage.readers.add(this);
    }
    this.nodes = count.nodes;
    this.leafCount = count.leaves;
  }

  /** Computes the values; `also`, a dense buffer of the same size, gets the root's values too (copy_ writing in place). */
  realize(also?: BufferHandle): void {
    const program = new ProgramBuilder(this);
    const outs = program.outputs;
    const backend = this.storage.backend;
    const buffers = outs.map((e) => backend.alloc(e.size, e.dtype));
    const extra = also ? [{ node: program.nodeIndex(this), buffer: also }] : [];
    try {
      backend.runExpr!({ ...program.finish(), outputs: [...outs.map((e, k) => ({ node: program.nodeIndex(e), buffer: buffers[k]! })), ...extra] });
    } catch (e) {
      for (const b of buffers) backend.free(b);
      throw e;
    }
    outs.forEach((e, k) => e.storage.fill(buffers[k]!));
    for (const e of outs) e.check();
  }

  /** This expression and every unrealized one it inlines. */
  tree(into = new Set<Expr>()): Set<Expr> {
    into.add(this);
    for (const i of this.inputs) if (i instanceof Expr && !i.storage.realized) i.tree(into);
    return into;
  }

  orphaned(): void {
    this.owned = false;
    this.check();
  }

  settle(): void {
    if (this.done) return;
    if (this.owned && !this.storage.realized) this.realize();
    for (const u of [...this.users]) u.settle();
  }

  /** Whether the values are wanted now (by the storage or by a later expression inlining this one). */
  wanted(): boolean {
    return (this.owned && !this.storage.realized) || this.users.size > 0;
  }

  /** Lets go of the inputs once nothing can need this expression's values again. */
  check(): void {
    if (this.done || this.wanted()) return;
    this.done = true;
    for (const i of this.inputs) {
      if (i instanceof Expr) {
        i.users.delete(this);
        i.check();
      } else {
        i.storage.readers.delete(this);
        i.storage.release();
      }
    }
  }
}

/** Flattens an expression DAG into a program: leaves deduplicated, shared subexpressions computed once. */
class ProgramBuilder {
  private leaves: TensorView[] = [];
  private leafKeys = new Map<Storage, { key: string; index: number }[]>();
  /** Arguments as built: a leaf is -1 - its index, a node its index in `nodes`. */
  private nodes: { op: ElementwiseOp; attrs: unknown; args: number[]; dtype: DType }[] = [];
  private index = new Map<Expr, number>();
  readonly outputs: Expr[] = [];

  constructor(root: Expr) {
    this.visit(root, root);
  }

  private leaf(storage: Storage, shape: readonly number[], strides: readonly number[], offset: number, dtype: DType): number {
    const key = `${shape.join(',')}|${strides.join(',')}|${offset}`;
    const list = this.leafKeys.get(storage) ?? [];
    const hit = list.find((l) => l.key === key);
    if (hit) return -1 - hit.index;
    // Reading the buffer realizes a storage whose expression could not be inlined (a broadcast or a reshape of it).
    this.leaves.push({ buffer: storage.buffer, shape, strides, offset, dtype });
    list.push({ key, index: this.leaves.length - 1 });
    this.leafKeys.set(storage, list);
    return -this.leaves.length;
  }

  private visit(e: Expr, root: Expr): number {
    const seen = this.index.get(e);
    if (seen !== undefined) return seen;
    const args = e.inputs.map((i) => {
      if (!(i instanceof Expr)) return this.leaf(i.storage, i.shape, i.strides, i.offset, i.dtype);
      // Computed already and still held: read it rather than compute it again.
      if (i.storage.realized && !i.storage.freed) return this.leaf(i.storage, i.shape, contiguousStrides(i.shape), 0, i.dtype);
      return this.visit(i, root);
    });
    this.nodes.push({ op: e.op, attrs: e.attrs, args, dtype: e.dtype });
    this.index.set(e, this.nodes.length - 1);
    // Values autograd will read again are written in the same pass; other live intermediates are
    // recomputed if ever read (an unread temporary of a composite such as softmax costs nothing).
    if (e === root || (e.storage.saved && e.wanted() && !e.storage.realized && !e.storage.freed)) this.outputs.push(e);
    return this.nodes.length - 1;
  }

  nodeIndex(e: Expr): number {
    return this.leaves.length + this.index.get(e)!;
  }

  finish(): Omit<ExprProgram, 'outputs'> {
    const L = this.leaves.length;
    const nodes: ExprNode[] = this.nodes.map((n) => ({ ...n, args: n.args.map((a) => (a < 0 ? -1 - a : L + a)) }));
    return { shape: this.outputs[0]!.shape, leaves: this.leaves, nodes };
  }
}

/** The input's expression when it can be inlined: its whole storage, unrealized, in the output's shape (no broadcast or reshape). */
function inlinable(v: ViewOfStorage, shape: readonly number[]): Expr | null {
  const e = v.storage.pending;
  if (!(e instanceof Expr) || v.storage.realized || v.size !== e.size || !denseAs(v, shape) || !denseAs(v, e.shape)) return null;
  return e;
}

/** Whether view `v` reads its storage from the start, row-major, laid out as `shape`. */
function denseAs(v: Leaf, shape: readonly number[]): boolean {
  return v.offset === 0 && v.shape.length === shape.length && v.shape.every((d, i) => d === shape[i]) && isContiguous(v.shape, v.strides);
}

/**
 * Records elementwise `op` of `inputs` as an expression and returns the storage that will hold its
 * values: inputs that are themselves unrealized expressions of the same shape are inlined, within
 * the program bounds; anything else is read as a view.
 */
export function recordElementwise(op: ElementwiseOp, inputs: readonly ViewOfStorage[], shape: readonly number[], dtype: DType, attrs: unknown, backend: Backend): Storage {
  const parts = inputs.map((v) => inlinable(v, shape));
  // Summed, a subexpression two inputs share counts twice; only then, and over the bounds, is the
  // program counted exactly (each input's own count is exact already).
  let count = { nodes: 1, leaves: 0 };
  let exprs = 0;
  inputs.forEach((v, k) => {
    const e = parts[k];
    if (e) exprs++;
    count.nodes += e ? e.nodes : 0;
    count.leaves += e ? e.leafCount : sizeOf(v.shape) > 1 ? 1 : 0;
  });
  if (exprs > 1 && (count.nodes > MAX_NODES || count.leaves > MAX_LEAVES)) count = distinct(inputs.map((v, k) => parts[k] ?? v));
  const fits = count.nodes <= MAX_NODES && count.leaves <= MAX_LEAVES;
  if (!fits) count = { nodes: 1, leaves: inputs.filter((v) => sizeOf(v.shape) > 1).length };
  const ins: Input[] = inputs.map((v, k) => {
    const e = fits ? parts[k] : null;
    if (e) return e;
    // An expression read as a view is computed now: chains of realizations stay one deep, never a recursion per op.
    if (!v.storage.realized) void v.storage.buffer;
    v.storage.retain();
    // The view itself (a tensor) is the leaf: its shape and strides outlive its disposal.
    return v;
  });
  return new Expr(op, attrs, ins, shape, dtype, sizeOf(shape), backend, count).storage;
}

/** The distinct nodes (one more for the op being recorded) and multi-element leaves of a program over `inputs`. */
function distinct(inputs: readonly Input[]): { nodes: number; leaves: number } {
  const exprs = new Set<Expr>();
  const leaves = new Set<Leaf>();
  const visit = (i: Input): void => {
    if (!(i instanceof Expr)) {
      if (sizeOf(i.shape) > 1) leaves.add(i);
      return;
    }
    if (exprs.has(i)) return;
    exprs.add(i);
    for (const j of i.inputs) visit(j);
  };
  inputs.forEach(visit);
  return { nodes: exprs.size + 1, leaves: leaves.size };
}

/**
 * copy_ of a pending expression into the whole of `target` (dense, same shape and dtype): the
 * program computing the values writes them into target's buffer as well, in one pass, where a
 * copy would take a second. Other pending readers of target's old values are computed first. Safe
 * only while the program reads target element by element (each element read before it is written,
 * by the same invocation); false, with nothing written, otherwise.
 */
export function writeInto(source: ViewOfStorage, target: ViewOfStorage): boolean {
  const e = source.storage.pending;
  if (!(e instanceof Expr) || source.storage.realized || !target.storage.realized || e.storage.backend !== target.storage.backend) return false;
  if (!denseAs(target, target.shape) || target.size !== target.storage.buffer.size || !denseAs(source, target.shape) || source.size !== e.size || source.dtype !== target.dtype) return false;
  const tree = e.tree();
  const readers = [...target.storage.readers] as Expr[];
  // An inlined intermediate reading target may be kept and recomputed later, from the new values.
  if (readers.some((r) => r !== e && tree.has(r))) return false;
  if (e.inputs.some((i) => !(i instanceof Expr) && i.storage === target.storage && !denseAs(i, e.shape))) return false;
  for (const r of readers) if (r !== e) r.settle();
  if (source.storage.realized) return false;
  e.realize(target.storage.buffer);
  return true;
}
