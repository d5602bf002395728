/** @file The WebGPU backend: pooled buffers, cached pipelines, dispatches batched into one encoder, async readback. */
import type { Backend, BufferHandle, ExprProgram, TensorView } from '../backend.js';
import { type DType, type TypedArray } from '../../core/dtype.js';
import { f16ToF32, f32ToF16, roundF16 } from '../../core/half.js';
import { contiguousStrides, isContiguous, sizeOf } from '../../core/shape.js';
import { isElementwise } from '../../ops/schema.js';
import { GraftDTypeError, GraftError, fmtShape } from '../../core/errors.js';
import type { OpAttrs, OpName } from '../../ops/schema.js';
import { type KernelCall, type Operand, SCRATCH } from '../../kernels/wgsl/common.js';
import { BufferPool } from './bufferPool.js';
import { type GpuAcquired } from './device.js';
import { collectGarbage } from '../../core/platform/node.js';
import { ErrorRecords } from './errorRecord.js';
import { renderProgram } from './render.js';
import { type Caps, F16_KERNELS, kernelsFor } from './kernels.js';

class GpuBuffer implements BufferHandle {
  constructor(
    readonly buffer: GPUBuffer,
    readonly size: number,
    readonly dtype: DType,
  ) {}
}

const ARENA_BYTES = 64 * 1024;
const META_ALIGN = 256;
/** Dispatches recorded before the encoder is submitted even without a sync point. */
const BATCH_LIMIT = 512;
/** Writes up to this many bytes go through the arena in command order (see write). */
const SMALL_WRITE = 4096;

const align = (n: number, to: number) => Math.ceil(n / to) * to;
/** A buffer's bytes: 2 per f16 element, 4 per other element, in whole 4-byte words. */
const bytesOf = (size: number, dtype: DType) => Math.max(4, align(size * (dtype === 'f16' ? 2 : 4), 4));
/** Cached bind groups kept at most (least recently used dropped first). */
const MAX_BIND_GROUPS = 8192;
/** Live buffers between forced collections of tensors nobody disposed. */
const COLLECT_EVERY = 8192;

/** f16 values as 16-bit patterns, padded to whole 4-byte words. */
function halfWords(values: Float32Array): Uint16Array {
  const out = new Uint16Array(align(values.length, 2));
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  return out;
}

const roundedFor = (dtype: DType, v: number) => (dtype === 'f16' ? roundF16(v) : v);

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly device: GPUDevice;
  readonly info: GpuAcquired['info'];
  readonly limits: GPUSupportedLimits;
  readonly pool: BufferPool;
  private readonly staging: BufferPool;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout; key: string }>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  /** Bind groups made so far; flat in steady state. */
  bindGroupsCreated = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private readonly arena: GPUBuffer;
  private readonly arenaCpu = new Int32Array(ARENA_BYTES / 4);
  private arenaUsed = 0;
  private readonly errors: ErrorRecords;
  private lost: string | null = null;
  private asyncError: string | null = null;
  caps: Caps;
  /** Whether the device has shader-f16, which f16 tensors need. */
  readonly f16: boolean;
  /** Elementwise programs run, their nodes, and the fused kernels that ran them (for tests and the bench report). */
  readonly stats = { programs: 0, nodes: 0, kernels: 0 };
  /** Storage buffers a fused kernel may bind. */
  private readonly maxFusedBindings: number;
  /** One-element buffers holding a value the host wrote and no kernel has overwritten (i32 bits): fused kernels take them as constants. */
  private readonly constants = new Map<GPUBuffer, number>();
  /** Dispatches recorded so far (a measure for benchmarks and tests). */
  dispatches = 0;
  /** Buffers held by tensors, and the count at which undisposed ones are collected. */
  private live = 0;
  private collectAt = COLLECT_EVERY;

  constructor(acquired: GpuAcquired) {
    this.device = acquired.device;
    this.info = acquired.info;
    this.limits = acquired.device.limits;
    this.f16 = acquired.device.features.has('shader-f16');
    this.caps = { subgroups: acquired.device.features.has('subgroups'), matmul: 'tiled', maxScratchBytes: Math.min(256 * 2 ** 20, this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize) };
    const U = GPUBufferUsage;
    this.pool = new BufferPool(this.device, U.STORAGE | U.COPY_SRC | U.COPY_DST);
    this.maxFusedBindings = Math.min(16, this.limits.maxStorageBuffersPerShaderStage);
    this.staging = new BufferPool(this.device, U.MAP_READ | U.COPY_DST, 64 * 1024 * 1024);
    this.arena = this.device.createBuffer({ size: ARENA_BYTES, usage: U.UNIFORM | U.COPY_DST | U.COPY_SRC });
    this.errors = new ErrorRecords(this.device);
    void this.device.lost.then((info) => {
      this.lost = `${info.reason}: ${info.message}`;
    });
    this.device.addEventListener('uncapturederror', (ev) => {
      this.asyncError ??= (ev as GPUUncapturedErrorEvent).error.message;
    });
  }

  private check(what: string): void {
    if (this.lost !== null) throw new GraftError(`webgpu: ${what}: the device was lost (${this.lost}); call init() again for a new device`);
    if (this.asyncError !== null) {
      const msg = this.asyncError;
      this.asyncError = null;
      throw new GraftError(`webgpu: ${what}: an earlier GPU command failed: ${msg}`);
    }
  }

  checkAlloc(size: number, dtype: DType): void {
    if (dtype === 'f64') throw new GraftDTypeError('webgpu: f64 tensors are not supported on WebGPU (use f32)');
    if (dtype === 'f16' && !this.f16) {
      throw new GraftDTypeError(`webgpu: f16 tensors need the adapter feature 'shader-f16', which this adapter (${this.info.description || this.info.vendor || 'unnamed'}) does not have; use f32`);
    }
    const bytes = bytesOf(size, dtype);
    const limit = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > limit) {
      throw new GraftError(`webgpu: a ${dtype} tensor of ${size} elements needs ${bytes} bytes, over the device's storage binding limit of ${limit} bytes`);
    }
  }

  alloc(size: number, dtype: DType): BufferHandle {
    this.checkAlloc(size, dtype);
    this.check('alloc');
    const bytes = bytesOf(size, dtype);
    if (++this.live >= this.collectAt) {
      // Finalizers of collected tensors run in a later task and give their buffers back.
      collectGarbage();
      this.collectAt = this.live + COLLECT_EVERY;
    }
    const buffer = this.pool.acquire(bytes);
    this.constants.delete(buffer);
    return new GpuBuffer(buffer, size, dtype);
  }

  free(buffer: BufferHandle): void {
    const b = (buffer as GpuBuffer).buffer;
    this.constants.delete(b);
    this.errors.forget(b);
    this.live--;
    if (this.live + 2 * COLLECT_EVERY < this.collectAt) this.collectAt = this.live + COLLECT_EVERY;
    this.pool.release(b);
  }

  write(buffer: BufferHandle, data: TypedArray): void {
    this.check('write');
    const b = buffer as GpuBuffer;
    this.errors.forget(b.buffer);
    if (data instanceof Float64Array) throw new GraftDTypeError('webgpu: f64 data cannot be written (use f32)');
    const words = data instanceof Uint8Array ? Uint32Array.from(data) : b.dtype === 'f16' ? halfWords(data as Float32Array) : data;
    const bytes = words.byteLength;
    this.constants.delete(b.buffer);
    // A constant is the value's f32 bits (f16 ones too: kernels compute f16 values in f32).
    if (data.length === 1 && b.size === 1) this.constants.set(b.buffer, new Int32Array(new (data instanceof Float32Array ? Float32Array : Int32Array)([roundedFor(b.dtype, data[0]!)]).buffer)[0]!);
    if (bytes <= SMALL_WRITE) {
      // Small data (scalars above all) rides in the arena and is copied in order with the recorded
      // commands, instead of a submit per tensor created.
      if (align(this.arenaUsed, 4) + bytes > ARENA_BYTES) this.flush();
      const at = align(this.arenaUsed, 4);
      new Uint8Array(this.arenaCpu.buffer, at, bytes).set(new Uint8Array(words.buffer, words.byteOffset, bytes));
      this.arenaUsed = at + bytes;
      if (bytes > 0) this.takeEncoder().copyBufferToBuffer(this.arena, at, b.buffer, 0, bytes);
      return;
    }
    // queue.writeBuffer runs before commands still waiting in the encoder, so submit those first.
    this.flush();
    this.device.queue.writeBuffer(b.buffer, 0, words.buffer, words.byteOffset, bytes);
  }

  async read(buffer: BufferHandle): Promise<TypedArray> {
    this.check('read');
    const b = buffer as GpuBuffer;
    const bytes = bytesOf(b.size, b.dtype);
    const pending = this.errors.close();
    const extra = pending?.bytes ?? 0;
    const staging = this.staging.acquire(bytes + extra);
    const enc = this.takeEncoder();
    enc.copyBufferToBuffer(b.buffer, 0, staging, 0, bytes);
    if (pending) enc.copyBufferToBuffer(pending.record, 0, staging, bytes, extra);
    this.submit();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, bytes + extra);
    } catch (e) {
      this.staging.release(staging);
      this.check('read');
      throw new GraftError(`webgpu: read back failed: ${(e as Error).message}`);
    }
    const raw = staging.getMappedRange(0, bytes + extra).slice(0);
    staging.unmap();
    this.staging.release(staging);
    if (pending) pending.resolve(new Uint32Array(raw, bytes, extra / 4));
    this.check('read');
    // An error belongs to the tensors it spoilt: their reads fail, every time; others read normally.
    const poison = this.errors.poisonOf(b.buffer);
    if (poison !== undefined) throw new GraftError(`${poison}; this tensor holds that op's invalid results or values computed from them`);
    const n = b.size;
    if (b.dtype === 'f32') return new Float32Array(raw, 0, n);
    if (b.dtype === 'f16') return Float32Array.from(new Uint16Array(raw, 0, n), f16ToF32);
    if (b.dtype === 'i32') return new Int32Array(raw, 0, n);
    return Uint8Array.from(new Uint32Array(raw, 0, n));
  }

  /** Waits for the GPU; raises the first error found since the last read or sync (reads of the tensors it spoilt keep failing). */
  async sync(): Promise<void> {
    this.check('sync');
    const pending = this.errors.close();
    if (!pending) {
      this.submit();
      await this.device.queue.onSubmittedWorkDone();
      this.check('sync');
      return;
    }
    const staging = this.staging.acquire(pending.bytes);
    const enc = this.takeEncoder();
    enc.copyBufferToBuffer(pending.record, 0, staging, 0, pending.bytes);
    this.submit();
    await staging.mapAsync(GPUMapMode.READ, 0, pending.bytes);
    const rec = new Uint32Array(staging.getMappedRange(0, pending.bytes).slice(0));
    staging.unmap();
    this.staging.release(staging);
    const first = pending.resolve(rec);
    this.check('sync');
    if (first) throw new GraftError(`${first}; the tensors computed from it hold invalid values and fail when read`);
  }

  run<K extends OpName>(op: K, inputs: readonly TensorView[], out: TensorView, attrs: OpAttrs[K]): void {
    this.check(op);
    const operand = (v: TensorView): Operand => ({ dtype: v.dtype, shape: v.shape, strides: v.strides, offset: v.offset });
    let calls: KernelCall[];
    if (!isElementwise(op) && (out.dtype === 'f16' || inputs.some((v) => v.dtype === 'f16'))) {
      const native = F16_KERNELS[op as keyof typeof F16_KERNELS] as ((...a: unknown[]) => KernelCall[] | null) | undefined;
      const own = native?.(inputs.map(operand), operand(out), attrs, this.caps);
      if (!own) {
        this.runWidened(op, inputs, out, attrs);
        return;
      }
      calls = own;
    } else calls = kernelsFor(op, inputs.map(operand), operand(out), attrs, this.caps);
    const scratchSize = Math.max(0, ...calls.map((c) => c.toScratch ?? 0));
    // A scratch buffer (an im2col matrix, say) lives for this op only; releasing it is ordered after its readers.
    const scratch = scratchSize ? this.pool.acquire(scratchSize * 4) : null;
    try {
      for (const call of calls) {
        const buffer = (k: number) => (k === SCRATCH ? scratch! : (inputs[k]!.buffer as GpuBuffer).buffer);
        const buffers = [call.toScratch ? scratch! : (out.buffer as GpuBuffer).buffer, ...call.inputs.map(buffer)];
        this.dispatchBuffers(op, call, buffers, () => inputs.map((i) => fmtShape(i.shape)).join(', '));
      }
    } finally {
      if (scratch) this.pool.release(scratch);
    }
  }

  /**
   * An op without an f16 kernel on f16 operands: they are widened to f32 copies, the f32 kernel
   * runs, and its result is rounded into the f16 output. The values are those of a kernel that
   * reads f16 and computes in f32; the cost is the copies.
   */
  private runWidened<K extends OpName>(op: K, inputs: readonly TensorView[], out: TensorView, attrs: OpAttrs[K]): void {
    const temps: GpuBuffer[] = [];
    const temp = (size: number) => temps[temps.push(new GpuBuffer(this.pool.acquire(bytesOf(size, 'f32')), size, 'f32')) - 1]!;
    const dense = (shape: readonly number[], buffer: BufferHandle, dtype: DType): TensorView => ({ buffer, dtype, shape, strides: contiguousStrides(shape), offset: 0 });
    /** A program of one cast node from `from` into a new dense buffer (dtype `to`), or into `into`. */
    const cast = (from: TensorView, to: DType, into?: BufferHandle): TensorView => {
      const buffer = into ?? temp(sizeOf(from.shape));
      this.runProgram({ shape: from.shape, leaves: [from], nodes: [{ op: 'cast', attrs: { dtype: to }, args: [0], dtype: to }], outputs: [{ node: 1, buffer }] });
      return dense(from.shape, buffer, to);
    };
    try {
      const wide = inputs.map((v) => (v.dtype === 'f16' ? cast(v, 'f32') : v));
      if (out.dtype !== 'f16') {
        this.run(op, wide, out, attrs);
        return;
      }
      if (out.offset !== 0 || !isContiguous(out.shape, out.strides)) throw new GraftError(`webgpu: ${op} writes an f16 output that is not dense`);
      const result = dense(out.shape, temp(out.buffer.size), 'f32');
      this.run(op, wide, result, attrs);
      cast(result, 'f16', out.buffer);
    } finally {
      // Released once the dispatches that use them are recorded: commands run in order.
      for (const t of temps) this.pool.release(t.buffer);
    }
  }

  /**
   * Whether elementwise ops arrive as recorded programs, each run as one fused kernel or a few (on by
   * default); off, each op runs as its own kernel, for comparison.
   */
  get fusion(): boolean {
    return this.runExpr !== undefined;
  }
  set fusion(on: boolean) {
    this.runExpr = on ? this.runProgram : undefined;
  }

  runExpr?: (program: ExprProgram) => void = (program) => this.runProgram(program);

  private readonly runProgram = (program: ExprProgram): void => {
    this.check('elementwise');
    const temps: GPUBuffer[] = [];
    const kernels = renderProgram(program, {
      maxBindings: this.maxFusedBindings,
      buffer: (b) => (b as GpuBuffer).buffer,
      constantOf: (b) => this.constants.get(b),
      temp: (bytes) => temps[temps.push(this.pool.acquire(bytes)) - 1]!,
    });
    try {
      for (const k of kernels) this.dispatchBuffers(program.nodes.map((n) => n.op).join('+'), k.call, k.buffers, () => fmtShape(program.shape));
    } finally {
      // Released once the dispatches that use them are recorded: commands run in order, so a kernel that reuses one writes it after these read it.
      for (const t of temps) this.pool.release(t);
    }
    this.stats.programs++;
    this.stats.nodes += program.nodes.length;
    this.stats.kernels += kernels.length;
  };

  /**
   * The bind group layout for a kernel's bindings: the meta uniform with a dynamic offset (so one
   * bind group serves every dispatch over the same buffers), the output, the inputs, the error record.
   */
  private layout(call: KernelCall): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout; key: string } {
    const outputs = call.outputs ?? 1;
    const key = `${outputs}:${call.inputs.length}${call.errors ? 'e' : ''}`;
    let l = this.layouts.get(key);
    if (!l) {
      const C = GPUShaderStage.COMPUTE;
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: C, buffer: { type: 'uniform', hasDynamicOffset: true } },
        ...Array.from({ length: outputs }, (_, i): GPUBindGroupLayoutEntry => ({ binding: i + 1, visibility: C, buffer: { type: 'storage' } })),
        ...call.inputs.map((_, i): GPUBindGroupLayoutEntry => ({ binding: outputs + i + 1, visibility: C, buffer: { type: 'read-only-storage' } })),
      ];
      if (call.errors) entries.push({ binding: 5, visibility: C, buffer: { type: 'storage' } });
      const group = this.device.createBindGroupLayout({ entries });
      l = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }), key };
      this.layouts.set(key, l);
    }
    return l;
  }

  private pipeline(op: string, call: KernelCall): GPUComputePipeline {
    // The meta uniform's size is part of the shader, so it is part of the key.
    const key = `${call.key}#${call.meta.length}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    const code = call.source();
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: call.key });
    p = this.device.createComputePipeline({ layout: this.layout(call).pipeline, compute: { module, entryPoint: 'main' }, label: call.key });
    void this.device.popErrorScope().then((err) => {
      // A compile failure explains the errors that follow from it, so it replaces them.
      if (err) this.asyncError = `${op}: kernel '${call.key}' failed to compile: ${err.message}`;
    });
    this.pipelines.set(key, p);
    return p;
  }

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  /**
   * Bind groups are cached by layout, meta size and buffers: Dawn does not reclaim bind groups
   * promptly (on lavapipe a device fails after about 65k of them), and a training loop over pooled
   * buffers needs only a fixed set.
   */
  private bindGroup(call: KernelCall, metaBytes: number, buffers: GPUBuffer[]): GPUBindGroup {
    const layout = this.layout(call);
    const bound = call.errors ? [...buffers, this.errors.record] : buffers;
    const key = `${layout.key}:${metaBytes}:${bound.map((b) => this.bufferId(b)).join(',')}`;
    let bg = this.bindGroups.get(key);
    if (bg) {
      // Refresh the entry's position so the least recently used are dropped first.
      this.bindGroups.delete(key);
      this.bindGroups.set(key, bg);
      return bg;
    }
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.arena, offset: 0, size: metaBytes } },
      ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
    ];
    if (call.errors) entries.push({ binding: 5, resource: { buffer: this.errors.record } });
    bg = this.device.createBindGroup({ layout: layout.group, entries });
    this.bindGroups.set(key, bg);
    this.bindGroupsCreated++;
    if (this.bindGroups.size > MAX_BIND_GROUPS) this.bindGroups.delete(this.bindGroups.keys().next().value!);
    return bg;
  }

  /** Encodes one dispatch of `call` over `buffers` (its outputs, then its inputs). */
  private dispatchBuffers(op: string, call: KernelCall, buffers: GPUBuffer[], operands: () => string): void {
    if (call.grid.some((g) => g > this.limits.maxComputeWorkgroupsPerDimension)) {
      throw new GraftError(`webgpu: ${op} on ${operands()}: grid ${call.grid.join('x')} exceeds ${this.limits.maxComputeWorkgroupsPerDimension} workgroups per dimension`);
    }
    if (call.grid.some((g) => g === 0)) return;
    const storage = buffers.length + (call.errors ? 1 : 0);
    if (storage > this.limits.maxStorageBuffersPerShaderStage) {
      throw new GraftError(`webgpu: ${op} on ${operands()}: the kernel binds ${storage} storage buffers, over the adapter's maxStorageBuffersPerShaderStage of ${this.limits.maxStorageBuffersPerShaderStage}`);
    }
    const outputs = call.outputs ?? 1;
    const slot = this.errors.dispatched(buffers.slice(0, outputs), call.readsOutput ? buffers : buffers.slice(outputs), call.errors === true);
    if (call.errors) call.meta[call.meta.length - 1] = slot;
    const pipeline = this.pipeline(op, call);
    const metaBytes = Math.max(16, Math.ceil(call.meta.length / 4) * 16);
    if (align(this.arenaUsed, META_ALIGN) + metaBytes > ARENA_BYTES) this.flush();
    const metaAt = align(this.arenaUsed, META_ALIGN);
    this.arenaCpu.set(call.meta, metaAt / 4);
    this.arenaUsed = metaAt + metaBytes;
    for (let o = 0; o < (call.outputs ?? 1); o++) this.constants.delete(buffers[o]!);
    const bindGroup = this.bindGroup(call, metaBytes, buffers);
    if (!this.pass) this.pass = this.takeEncoder().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup, [metaAt]);
    this.pass.dispatchWorkgroups(...call.grid);
    this.dispatches++;
    if (++this.pending >= BATCH_LIMIT) this.flush();
  }

  private takeEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private submit(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) return;
    if (this.arenaUsed > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu.buffer, 0, this.arenaUsed);
    this.device.queue.submit([this.encoder.finish()]);
    this.pool.reap();
    this.staging.reap();
    this.encoder = null;
    this.arenaUsed = 0;
    this.pending = 0;
  }

  /** Submits whatever has been recorded. */
  flush(): void {
    if (this.encoder || this.pass) this.submit();
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.staging.trim();
    this.device.destroy();
  }
}
