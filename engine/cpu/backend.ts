/** @file The CPU backend: the reference every other backend is tested against, and the fallback. */
import type { Backend, BufferHandle, ExprProgram, TensorView } from '../backend.js';
import { type DType, type TypedArray, allocArray } from '../dtype.js';
import { GraftError } from '../errors.js';
import { OPS, type OpAttrs, type OpName } from '../ops.js';
import { sizeOf } from '../shape.js';
import { type ScalarFn, runProgram } from '../../kernels/cpu/expr.js';
import { reduce } from '../../kernels/cpu/reduce.js';
import { type Strided, copyStrided, isContiguous } from '../../kernels/cpu/strided.js';

class CpuBuffer implements BufferHandle {
  constructor(
    readonly data: TypedArray,
    readonly dtype: DType,
  ) {}
  get size(): number {
    return this.data.length;
  }
}

function strided(v: TensorView): Strided {
  return { data: (v.buffer as CpuBuffer).data, shape: v.shape, strides: v.strides, offset: v.offset };
}

/** Bytes of freed arrays kept for reuse: fresh large typed arrays cost page faults and garbage collections. */
const POOL_BYTES = 256 * 2 ** 20;
const POOL_MIN_ELEMENTS = 1024;

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly gcManaged = true;
  private pool = new Map<string, TypedArray[]>();
  private pooledBytes = 0;

  alloc(size: number, dtype: DType): BufferHandle {
    const reused = size >= POOL_MIN_ELEMENTS ? this.pool.get(`${dtype}:${size}`)?.pop() : undefined;
    if (reused) {
      this.pooledBytes -= reused.byteLength;
      // Zeroed like a new array, so no kernel or module can see an earlier tensor's values.
      reused.fill(0);
      return new CpuBuffer(reused, dtype);
    }
    return new CpuBuffer(allocArray(dtype, size), dtype);
  }

  /** Called once the last tensor viewing the buffer is gone; reads hand out copies, so nothing else holds it. */
  free(buffer: BufferHandle): void {
    const { data, dtype } = buffer as CpuBuffer;
    if (data.length < POOL_MIN_ELEMENTS || this.pooledBytes + data.byteLength > POOL_BYTES) return;
    const key = `${dtype}:${data.length}`;
    const list = this.pool.get(key) ?? [];
    if (list.length >= 8) return;
    list.push(data);
    this.pool.set(key, list);
    this.pooledBytes += data.byteLength;
  }

  write(buffer: BufferHandle, data: TypedArray): void {
    const b = buffer as CpuBuffer;
    if (data.length !== b.data.length) throw new GraftError(`cpu.write: ${data.length} values for a buffer of ${b.data.length}`);
    b.data.set(data);
  }

  readSync(buffer: BufferHandle): TypedArray {
    return (buffer as CpuBuffer).data.slice();
  }

  async read(buffer: BufferHandle): Promise<TypedArray> {
    return this.readSync(buffer);
  }

  run<K extends OpName>(op: K, inputs: readonly TensorView[], out: TensorView, attrs: OpAttrs[K]): void {
    const spec = OPS[op] as (typeof OPS)[OpName];
    const ins = inputs.map(strided);
    const o = strided(out);
    const dense = o.offset === 0 && isContiguous(o.shape, o.strides) && o.data.length === sizeOf(o.shape);
    if (op === 'contiguous' && !dense) {
      copyStrided(ins[0]!, o);
      return;
    }
    if (!dense) throw new GraftError(`cpu.run: ${op} needs a dense output`);
    switch (spec.kind) {
      case 'unary':
      case 'binary':
      case 'ternary': {
        // One op run on its own is a program of one node.
        const node = { op, fn: spec.cpu as ScalarFn, attrs, args: ins.map((_, i) => i), dtype: out.dtype };
        runProgram(out.shape, ins, [node], [{ node: ins.length, data: o.data }]);
        return;
      }
      case 'reduce':
        reduce(spec.cpu, ins[0]!, (attrs as OpAttrs['sum']).dims, o.data, inputs[0]!.dtype);
        return;
      case 'kernel':
        (spec.cpu as (i: Strided[], o: Strided, a: unknown, m: unknown) => void)(ins, o, attrs, {
          inputs: inputs.map((v) => ({ shape: v.shape, dtype: v.dtype })),
          out: { shape: out.shape, dtype: out.dtype },
        });
        return;
      case 'view':
        throw new GraftError(`cpu.run: ${op} is a view and runs no kernel`);
    }
  }

  runExpr(program: ExprProgram): void {
    const nodes = program.nodes.map((n) => ({ ...n, fn: (OPS[n.op] as { cpu: ScalarFn }).cpu }));
    runProgram(program.shape, program.leaves.map(strided), nodes, program.outputs.map((o) => ({ node: o.node, data: (o.buffer as CpuBuffer).data })));
  }

  async sync(): Promise<void> {}
}
