/** @file The small interface every backend implements, and the registry of the current one. */
import type { DType, TypedArray } from './dtype.js';
import type { OpAttrs, OpName } from './ops.js';

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

export interface Backend {
  readonly name: string;
  /** Buffers are plain JavaScript memory the garbage collector frees with the tensor (no finalizer needed). */
  readonly gcManaged?: boolean;
  /** A buffer of `size` elements of `dtype`; contents unspecified until written or run into. */
  alloc(size: number, dtype: DType): BufferHandle;
  free(buffer: BufferHandle): void;
  write(buffer: BufferHandle, data: TypedArray): void;
  read(buffer: BufferHandle): Promise<TypedArray>;
  /** Present only where a blocking read is possible (the CPU backend). */
  readSync?(buffer: BufferHandle): TypedArray;
  /** Computes `op` of `inputs` into `out` (a contiguous view, or a strided one for `contiguous`). */
  run<K extends OpName>(op: K, inputs: readonly TensorView[], out: TensorView, attrs: OpAttrs[K]): void;
  /** Resolves once all work submitted so far has finished. */
  sync(): Promise<void>;
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
