/** @file The CPU backend: the reference every other backend is tested against, and the fallback. */
import type { Backend, BufferHandle, ExprNode, ExprProgram, TensorView } from '../backend.js';
import { ARRAY_TYPES, type DType, type TypedArray, allocArray } from '../../core/dtype.js';
import { tensorHeap } from '../../kernels/cpu/wasm.js';
import { collectGarbage, copyShared } from '../../core/platform/node.js';
import { GraftError } from '../../core/errors.js';
import { type KernelOp, type OpAttrs, type OpName, type ReduceOp, SCHEMA, isElementwise } from '../../ops/schema.js';
import { type CpuKernel, KERNELS, SCALAR } from './kernels.js';
import { SIMD } from './simd.js';
import { sizeOf } from '../../core/shape.js';
import { roundF16, roundF16Array } from '../../core/half.js';
import { type CpuExprNode, type ScalarFn, runProgram } from '../../kernels/cpu/expr.js';
import { reduce } from '../../kernels/cpu/reduce.js';
import { type Strided, copyStrided, isContiguous } from '../../kernels/cpu/strided.js';

class CpuBuffer implements BufferHandle {
  constructor(
    readonly data: TypedArray,
    readonly dtype: DType,
    /** Where the values live in the wasm heap (0: a JavaScript array outside it). */
    readonly addr: number,
  ) {}
  get size(): number {
    return this.data.length;
  }
}

/** An elementwise node with the CPU's forms of its op: the scalar reference and the SIMD lowering. */
function cpuNode(n: ExprNode): CpuExprNode {
  return { op: n.op, attrs: n.attrs, args: n.args, dtype: n.dtype, fn: SCALAR[n.op] as ScalarFn, simd: SIMD[n.op] };
}

function strided(v: TensorView): Strided {
  return { data: (v.buffer as CpuBuffer).data, shape: v.shape, strides: v.strides, offset: v.offset };
}

/** Smaller arrays stay JavaScript arrays: the heap's bookkeeping would cost more than a wasm kernel saves on them. */
const MIN_HEAP_BYTES = 1024;

/**
 * Heap growth between forced collections. The collector does not see wasm memory, so tensors
 * nobody disposed would otherwise hold their blocks until the JavaScript heap alone asked for a
 * collection; the blocks return once the finalizers run.
 */
const COLLECT_BYTES = 64 * 2 ** 20;

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly gcManaged = true;
  /** Heap blocks of buffers the collector reclaimed without free(): they go back to the heap too. */
  private readonly collected = new FinalizationRegistry<[addr: number, bytes: number]>(([addr, bytes]) => tensorHeap()!.heap.release(addr, bytes));
  private collectAt = COLLECT_BYTES;

  /**
   * A buffer in the wasm heap where tensors may live there (kernels then read it in place), else,
   * or when the heap is full, a JavaScript array. Its contents are unspecified, as the interface
   * says: every kernel and program writes each element of its output, so zeroing a reused block
   * first (about 12 of the 15 MB a small CNN's training step zeroed) was work thrown away.
   */
  alloc(size: number, dtype: DType): BufferHandle {
    return this.make(size, dtype, false);
  }

  /** A buffer with every element `value`: a zeroed block, filled in place for other values (no array filled and copied in). */
  allocFull(size: number, dtype: DType, value: number): BufferHandle {
    const b = this.make(size, dtype, true);
    if (value !== 0 || Object.is(value, -0)) b.data.fill(dtype === 'f16' ? roundF16(value) : value);
    return b;
  }

  private make(size: number, dtype: DType, zero: boolean): CpuBuffer {
    const bytes = size * ARRAY_TYPES[dtype].BYTES_PER_ELEMENT;
    const h = bytes >= MIN_HEAP_BYTES ? tensorHeap() : null;
    const addr = h ? h.heap.alloc(bytes, zero) : 0;
    if (!addr) return new CpuBuffer(allocArray(dtype, size), dtype, 0);
    if (h!.heap.spanned > this.collectAt) {
      collectGarbage();
      this.collectAt = h!.heap.spanned + COLLECT_BYTES;
    }
    const buffer = new CpuBuffer(new ARRAY_TYPES[dtype](h!.memory.buffer, addr, size), dtype, addr);
    this.collected.register(buffer, [addr, bytes], buffer);
    return buffer;
  }

  /** Called once the last tensor viewing the buffer is gone; reads hand out copies, so nothing else holds it. */
  free(buffer: BufferHandle): void {
    const b = buffer as CpuBuffer;
    if (!b.addr) return;
    this.collected.unregister(b);
    tensorHeap()!.heap.release(b.addr, b.data.byteLength);
  }

  write(buffer: BufferHandle, data: TypedArray): void {
    const b = buffer as CpuBuffer;
    if (data.length !== b.data.length) throw new GraftError(`cpu.write: ${data.length} values for a buffer of ${b.data.length}`);
    b.data.set(data);
    if (b.dtype === 'f16') roundF16Array(b.data as Float32Array);
  }

  readSync(buffer: BufferHandle): TypedArray {
    const { data, dtype, addr } = buffer as CpuBuffer;
    if (addr) return copyShared(data);
    const out = allocArray(dtype, data.length);
    out.set(data as never);
    return out;
  }

  async read(buffer: BufferHandle): Promise<TypedArray> {
    return this.readSync(buffer);
  }

  run<K extends OpName>(op: K, inputs: readonly TensorView[], out: TensorView, attrs: OpAttrs[K]): void {
    if (!isElementwise(op) && (out.dtype === 'f16' || inputs.some((v) => v.dtype === 'f16'))) {
      // f16 is stored as f32 values already rounded: the f32 kernel computes, its output is rounded.
      const asF32 = (v: TensorView): TensorView => (v.dtype === 'f16' ? { ...v, dtype: 'f32' } : v);
      this.run(op, inputs.map(asF32), asF32(out), attrs);
      if (out.dtype === 'f16' && op !== 'contiguous') roundF16Array((out.buffer as CpuBuffer).data as Float32Array);
      return;
    }
    const ins = inputs.map(strided);
    const o = strided(out);
    const dense = o.offset === 0 && isContiguous(o.shape, o.strides) && o.data.length === sizeOf(o.shape);
    if (op === 'contiguous' && !dense) {
      copyStrided(ins[0]!, o);
      return;
    }
    if (!dense) throw new GraftError(`cpu.run: ${op} needs a dense output`);
    if (isElementwise(op)) {
      // One op run on its own is a program of one node.
      runProgram(out.shape, ins, [cpuNode({ op, attrs, args: ins.map((_, i) => i), dtype: out.dtype })], [{ node: ins.length, data: o.data }]);
      return;
    }
    // The kind names the table; TypeScript cannot carry K's attributes through that test.
    switch (SCHEMA[op].kind) {
      case 'reduce':
        reduce(op as ReduceOp, ins[0]!, (attrs as OpAttrs[ReduceOp]).dims, o.data, inputs[0]!.dtype);
        return;
      case 'kernel':
        (KERNELS[op as KernelOp] as CpuKernel<KernelOp>)(ins, o, attrs as never, {
          inputs: inputs.map((v) => ({ shape: v.shape, dtype: v.dtype })),
          out: { shape: out.shape, dtype: out.dtype },
        });
        return;
      default:
        throw new GraftError(`cpu.run: ${op} is a view and runs no kernel`);
    }
  }

  runExpr(program: ExprProgram): void {
    runProgram(program.shape, program.leaves.map(strided), program.nodes.map(cpuNode), program.outputs.map((o) => ({ node: o.node, data: (o.buffer as CpuBuffer).data })));
  }

  async sync(): Promise<void> {}
}
