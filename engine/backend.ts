/** @file The small interface every backend implements, and the registry of the current one. */
import type { DType, TypedArray } from '../core/dtype.js';
import type { ElementwiseOp, OpAttrs, OpName } from '../ops/schema.js';

/** A backend's own buffer object; the engine only passes it back. */
export interface BufferHandle {
  readonly size: number;
  readonly dtype: DType;
}

/** How an op input or output sits in its buffer. Outputs of `run` are always contiguous. */
export interface TensorView {
  readonly buffer: BufferHandle;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** One op of a recorded elementwise program: its arguments index the leaves first, then earlier nodes. */
export interface ExprNode {
  readonly op: ElementwiseOp;
  readonly attrs: unknown;
  readonly args: readonly number[];
  /** The value type of its result (what an unfused run would have stored). */
  readonly dtype: DType;
}

/** An elementwise program over one shape, recorded by the engine (lazy.ts) and run in one pass. */
export interface ExprProgram {
  readonly shape: readonly number[];
  /** The views read, each broadcast to `shape`. */
  readonly leaves: readonly TensorView[];
  readonly nodes: readonly ExprNode[];
  /** The nodes whose values are kept, each written densely to its buffer. */
  readonly outputs: readonly { readonly node: number; readonly buffer: BufferHandle }[];
}

export interface Backend {
  readonly name: string;
  /** Buffers are plain JavaScript memory the garbage collector frees with the tensor (no finalizer needed). */
  readonly gcManaged?: boolean;
  /** A buffer of `size` elements of `dtype`; contents unspecified until written or run into. */
  alloc(size: number, dtype: DType): BufferHandle;
  /** A buffer with every element `value` (a number already of dtype's range), where the backend makes one faster than a write of a filled array. */
  allocFull?(size: number, dtype: DType, value: number): BufferHandle;
  /** Throws the error alloc would give for this size and dtype, without allocating (present where alloc can refuse). */
  checkAlloc?(size: number, dtype: DType): void;
  free(buffer: BufferHandle): void;
  write(buffer: BufferHandle, data: TypedArray): void;
  read(buffer: BufferHandle): Promise<TypedArray>;
  /** Present only where a blocking read is possible (the CPU backend). */
  readSync?(buffer: BufferHandle): TypedArray;
  /** Computes `op` of `inputs` into `out` (a contiguous view, or a strided one for `contiguous`). */
  run<K extends OpName>(op: K, inputs: readonly TensorView[], out: TensorView, attrs: OpAttrs[K]): void;
  /** Resolves once all work submitted so far has finished. */
  sync(): Promise<void>;
  /** Runs a recorded elementwise program; backends that have it receive elementwise ops as programs, never one by one. */
  runExpr?(program: ExprProgram): void;
}

let current: Backend | null = null;
let fallbackFactory: (() => Backend) | null = null;

/** The backend new tensors are created on. */
export function getBackend(): Backend {
  if (!current) {
    if (!fallbackFactory) throw new Error('graft: no backend registered');
    current = fallbackFactory();
  }
  return current;
}

export function setBackend(b: Backend): void {
  current = b;
}

/** Registers the backend used when none was chosen (the CPU reference). */
export function setDefaultBackendFactory(f: () => Backend): void {
  fallbackFactory = f;
}
