/** @file The Tensor: a strided view of a backend buffer, with PyTorch-named methods over the op table. */
import { type BackwardOptions, Node, backward as runBackward, isGradEnabled, noGrad } from './autograd.js';
import { type Backend, type TensorView, getBackend } from './backend.js';
import { AUTOCAST, type AutocastPolicy, autocastDtype } from './amp/autocast.js';
import { type DType, type TypedArray, allocArray, dtypeOfArray, floatOf, isFloat, promote } from '../core/dtype.js';
import { GraftDTypeError, GraftError, GraftShapeError, GraftStateError, fmtShape } from '../core/errors.js';
import { formatTensor } from './format.js';
import { checkShape, contiguousStrides, isContiguous, mayOverlapItself, normAxes, normAxis, sizeOf } from '../core/shape.js';
import { Storage } from './storage.js';
import { keep, tidy as tidyScope, track, untrack } from './memory.js';
import { type OpAttrs, type OpName, SCHEMA, type Schema, VIEWS, type ViewOp, isElementwise } from '../ops/schema.js';
import { GRADS } from './grad.js';
import { recordElementwise, writeInto } from './lazy.js';

export type Scalar = number | boolean;
/** What max(dim) and min(dim) give: destructure it as [values, indices], or read its fields (torch.return_types.max). */
export type ValuesIndices = [values: Tensor, indices: Tensor] & { readonly values: Tensor; readonly indices: Tensor };
export type TensorLike = Tensor | Scalar;

let nextId = 1;
/** Tensors some leaf holds as its `.grad`: one of them reaching a second leaf is copied, so adding into a gradient in place never changes another's. */
const heldAsGrad = new WeakSet<Tensor>();

export class Tensor {
  /** Unique per tensor object; useful as a key for optimizer state. */
  readonly id = nextId++;
  readonly size: number;
  /** The node that produced this tensor; null for leaves. */
  gradFn: Node | null = null;
  /** Accumulated gradient, filled by backward() on leaves that require grad. */
  grad: Tensor | null = null;
  private _requiresGrad = false;
  private _disposed = false;

  /** Internal: use tensor(), zeros(), ... to create tensors. */
  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
    readonly dtype: DType,
  ) {
    this.size = sizeOf(shape);
    track(this);
  }

  /** Internal: a fresh contiguous tensor with unspecified contents. */
  static empty(shape: readonly number[], dtype: DType, backend: Backend = getBackend()): Tensor {
    const size = sizeOf(shape);
    return new Tensor(new Storage(backend, backend.alloc(size, dtype)), [...shape], contiguousStrides(shape), 0, dtype);
  }

  /** Internal: a tensor of `shape` with every element `value` (converted to dtype). */
  static full(shape: readonly number[], value: number | boolean, dtype: DType, backend: Backend = getBackend()): Tensor {
    const v = dtype === 'bool' ? (value ? 1 : 0) : Number(value);
    if (!backend.allocFull) return Tensor.fromArray(allocArray(dtype, sizeOf(shape)).fill(v), shape, dtype, backend);
    return new Tensor(new Storage(backend, backend.allocFull(sizeOf(shape), dtype, v)), [...shape], contiguousStrides(shape), 0, dtype);
  }

  /** Internal: a tensor holding `values` (converted to dtype). */
  static fromArray(values: ArrayLike<number>, shape: readonly number[], dtype: DType, backend: Backend = getBackend()): Tensor {
    const t = Tensor.empty(shape, dtype, backend);
    const own = ArrayBuffer.isView(values) && dtypeOfArray(values as TypedArray) === dtype;
    const arr = own ? (values as TypedArray) : allocArray(dtype, values.length);
    if (!own) for (let i = 0; i < values.length; i++) arr[i] = dtype === 'bool' ? (values[i] ? 1 : 0) : values[i]!;
    backend.write(t.storage.buffer, arr);
    return t;
  }

  /** Internal: a view sharing `base`'s storage. */
  static viewOf(base: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    return new Tensor(base.storage.retain(), shape, strides, offset, base.dtype);
  }

  /** A tensor of `shape` filled with `value`, of this one's dtype (or `dtype`) and backend (torch's new_full). */
  newFull(shape: readonly number[], value: number | boolean, dtype: DType = this.dtype): Tensor {
    checkShape('newFull', shape);
    return Tensor.full(shape, value, dtype, this.storage.backend);
  }
  newZeros(shape: readonly number[], dtype: DType = this.dtype): Tensor { return this.newFull(shape, 0, dtype); }
  newOnes(shape: readonly number[], dtype: DType = this.dtype): Tensor { return this.newFull(shape, 1, dtype); }
  /** A tensor of `values` in `shape` (1-d by default), of this one's dtype (or `dtype`) and backend (torch's new_tensor). */
  newTensor(values: ArrayLike<number>, shape: readonly number[] = [values.length], dtype: DType = this.dtype): Tensor {
    checkShape('newTensor', shape);
    if (sizeOf(shape) !== values.length) throw new GraftShapeError(`newTensor: ${values.length} values do not fill shape ${fmtShape(shape)}`);
    return Tensor.fromArray(values, shape, dtype, this.storage.backend);
  }

  /** The number of elements (torch's numel(); also the `size` property). */
  numel(): number {
    return this.size;
  }

  get ndim(): number {
    return this.shape.length;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get disposed(): boolean {
    return this._disposed || this.storage.freed;
  }
  get backend(): string {
    return this.storage.backend.name;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (!this.isLeaf) throw new GraftStateError('requiresGrad: only leaf tensors can change requiresGrad; use detach() for a leaf copy');
    if (v && !isFloat(this.dtype)) throw new GraftDTypeError(`requiresGrad: only floating-point tensors can require gradients, got ${this.dtype}`);
    this._requiresGrad = v;
  }
  /** Sets requiresGrad in place and returns this (torch's requires_grad_). */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }
  /** Internal: marks an op output as part of the graph. */
  setRequiresGradInternal(): void {
    this._requiresGrad = true;
  }

  assertAlive(op: string): void {
    if (this.disposed) throw new GraftStateError(`${op}: tensor of shape ${fmtShape(this.shape)} (${this.dtype}) was disposed`);
  }

  /** Frees this tensor's hold on its buffer; the buffer goes when no view of it remains. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    untrack(this);
    this.storage.release();
    this.grad?.dispose();
    this.grad = null;
  }

  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  // -- reading -----------------------------------------------------------------------------------

  private denseForRead(op: string): Tensor {
    this.assertAlive(op);
    const dense = this.isContiguous() && this.offset === 0 && this.storage.buffer.size === this.size;
    return dense ? this : noGrad(() => apply('contiguous', [this], {}));
  }

  /** The values in row-major order, as a fresh typed array. */
  async data(): Promise<TypedArray> {
    const t = this.denseForRead('data');
    const out = await t.storage.backend.read(t.storage.buffer);
    if (t !== this) t.dispose();
    return out;
  }

  /** Blocking read; only backends with synchronous memory (CPU) offer it. */
  dataSync(): TypedArray {
    const t = this.denseForRead('dataSync');
    const b = t.storage.backend;
    if (!b.readSync) throw new GraftStateError(`dataSync: the ${b.name} backend reads asynchronously; use await tensor.data()`);
    const out = b.readSync(t.storage.buffer);
    if (t !== this) t.dispose();
    return out;
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new GraftShapeError(`item: tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return (await this.data())[0]!;
  }

  /** Nested arrays of the values (torch's tolist). */
  async tolist(): Promise<unknown> {
    const data = Array.from(await this.data());
    const build = (d: number, at: number): unknown => {
      if (d === this.ndim) return data[at];
      const stride = sizeOf(this.shape.slice(d + 1));
      return Array.from({ length: this.shape[d]! }, (_, i) => build(d + 1, at + i * stride));
    };
    return build(0, 0);
  }

  /** What console.log and util.inspect print in Node: the values, as PyTorch prints them. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  toString(): string {
    if (this.disposed) return `tensor(<disposed>, shape=${fmtShape(this.shape)}, dtype=${this.dtype})`;
    if (!this.storage.backend.readSync) return `tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, backend=${this.backend})`;
    const extras: string[] = [];
    if (this.dtype !== 'f32') extras.push(`dtype=${this.dtype}`);
    if (this.gradFn) extras.push(`gradFn=<${this.gradFn.op}>`);
    else if (this.requiresGrad) extras.push('requiresGrad=true');
    return formatTensor(this.dataSync(), this.shape, this.dtype, extras);
  }

  // -- autograd ----------------------------------------------------------------------------------

  /** Computes gradients of this tensor with respect to every leaf that requires grad. */
  backward(grad?: Tensor, opts: BackwardOptions = {}): void {
    runBackward(this, grad, opts);
  }

  /**
   * Internal: adds a gradient into `.grad`. A gradient already there is added to in place (the same
   * tensor, as PyTorch's), except while the backward pass is recorded (createGraph); a new one is
   * this leaf's own, never a tensor another leaf holds as its gradient.
   */
  accumulateGrad(g: Tensor): void {
    let own = g.isContiguous() && g.size === g.storage.buffer.size ? g : g.contiguous();
    const prev = this.grad;
    if (prev && !isGradEnabled() && !prev.disposed && prev.dtype === own.dtype && prev.isContiguous() && prev.offset === 0) {
      prev.copy_(prev.add(own));
      return;
    }
    if (heldAsGrad.has(own)) own = own.clone();
    heldAsGrad.add(own);
    // Gradients outlive the tidy() scope of the backward pass that made them.
    this.grad = keep(prev ? prev.add(own) : own);
    if (prev && isGradEnabled()) return; // recorded: prev may be part of the graph, and the caller may hold it
    prev?.dispose();
  }

  /** A tensor sharing this one's data that is cut off from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage.retain(), this.shape, this.strides, this.offset, this.dtype);
  }

  /** Writes `src` (broadcast to this shape) into this tensor's memory, in place. */
  copy_(src: TensorLike): this {
    this.assertAlive('copy_');
    if (mayOverlapItself(this.shape, this.strides)) {
      throw new GraftStateError(`copy_: the view ${fmtShape(this.shape)} with strides ${fmtShape(this.strides)} has elements that share memory (an expanded or unfolded tensor); write into a clone() instead`);
    }
    if (isGradEnabled() && this.requiresGrad) {
      throw new GraftStateError('copy_: a leaf tensor that requires grad cannot be written in place outside noGrad()');
    }
    tidy(() => {
      let s = toTensor(src, this.dtype, this.storage.backend).cast(this.dtype).expand(this.shape);
      s.assertAlive('copy_');
      if (!writeInto(s, this)) {
        // Reading and writing one buffer in the same kernel is unsafe when the views overlap.
        if (s.storage === this.storage) s = s.clone();
        const source = viewOf(s);
        // Expressions still to be computed from the old values are computed first.
        this.storage.beforeWrite();
        this.storage.backend.run('contiguous', [source], viewOf(this), {});
      }
      this.storage.version++;
    });
    return this;
  }

  // -- in place (PyTorch's trailing underscore): values written into this tensor's memory ---------

  /** In-place ops write memory and record no history: on a tensor autograd tracks they are refused outside noGrad(), and a tensor a recorded op saved fails that op's backward once written. */
  private inPlace(op: string, value: () => TensorLike): this {
    if (isGradEnabled() && (this.requiresGrad || this.gradFn)) {
      throw new GraftStateError(`${op}: a tensor that requires grad cannot be modified in place while gradients are recorded (use noGrad(), or the out-of-place form)`);
    }
    return this.copy_(noGrad(value));
  }
  add_(other: TensorLike, alpha = 1): this { return this.inPlace('add_', () => this.add(other, alpha)); }
  sub_(other: TensorLike, alpha = 1): this { return this.inPlace('sub_', () => this.sub(other, alpha)); }
  mul_(other: TensorLike): this { return this.inPlace('mul_', () => this.mul(other)); }
  div_(other: TensorLike): this { return this.inPlace('div_', () => this.div(other)); }
  clamp_(min?: number | null, max?: number | null): this { return this.inPlace('clamp_', () => this.clamp(min, max)); }
  fill_(value: Scalar): this { return this.inPlace('fill_', () => value); }
  zero_(): this { return this.fill_(0); }

  // -- elementwise -------------------------------------------------------------------------------

  neg(): Tensor { return unary('neg', this); }
  exp(): Tensor { return unary('exp', floatT(this)); }
  log(): Tensor { return unary('log', floatT(this)); }
  sqrt(): Tensor { return unary('sqrt', floatT(this)); }
  rsqrt(): Tensor { return this.sqrt().reciprocal(); }
  reciprocal(): Tensor { return toTensor(1, floatT(this).dtype, this.storage.backend).div(this); }
  square(): Tensor { return this.mul(this); }
  abs(): Tensor { return unary('abs', this); }
  sin(): Tensor { return unary('sin', floatT(this)); }
  cos(): Tensor { return unary('cos', floatT(this)); }
  tanh(): Tensor { return unary('tanh', floatT(this)); }
  sigmoid(): Tensor { return unary('sigmoid', floatT(this)); }
  erf(): Tensor { return unary('erf', floatT(this)); }
  relu(): Tensor { return unary('relu', this); }
  /** Limits values to [min, max]; either bound may be omitted. */
  clamp(min?: number | null, max?: number | null): Tensor {
    return apply('clamp', [this], { min: min ?? -Infinity, max: max ?? Infinity });
  }
  cast(dtype: DType): Tensor {
    return dtype === this.dtype ? this : apply('cast', [this], { dtype });
  }
  /** Same as cast (torch's .to(dtype)). */
  to(dtype: DType): Tensor { return this.cast(dtype); }
  float(): Tensor { return this.cast('f32'); }
  /** f16 (PyTorch's `.half()`): values rounded to f16; on WebGPU the adapter needs shader-f16. */
  half(): Tensor { return this.cast('f16'); }
  int(): Tensor { return this.cast('i32'); }
  bool(): Tensor { return this.cast('bool'); }

  add(other: TensorLike, alpha = 1): Tensor {
    return binary('add', this, alpha === 1 ? other : toTensor(other, this.dtype, this.storage.backend).mul(alpha));
  }
  sub(other: TensorLike, alpha = 1): Tensor {
    return binary('sub', this, alpha === 1 ? other : toTensor(other, this.dtype, this.storage.backend).mul(alpha));
  }
  mul(other: TensorLike): Tensor { return binary('mul', this, other); }
  div(other: TensorLike): Tensor { return binary('div', this, other, true); }
  pow(other: TensorLike): Tensor { return binary('pow', this, other, true); }
  maximum(other: TensorLike): Tensor { return binary('maximum', this, other); }
  minimum(other: TensorLike): Tensor { return binary('minimum', this, other); }
  lt(other: TensorLike): Tensor { return binary('lt', this, other); }
  gt(other: TensorLike): Tensor { return binary('gt', this, other); }
  le(other: TensorLike): Tensor { return binary('gt', this, other).logicalNot(); }
  ge(other: TensorLike): Tensor { return binary('lt', this, other).logicalNot(); }
  eq(other: TensorLike): Tensor { return binary('eq', this, other); }
  ne(other: TensorLike): Tensor { return binary('eq', this, other).logicalNot(); }
  logicalNot(): Tensor { return this.cast('bool').eq(false); }
  logicalAnd(other: TensorLike): Tensor {
    return this.cast('bool').cast('i32').mul(toTensor(other, 'bool', this.storage.backend).cast('bool').cast('i32')).gt(0);
  }
  logicalOr(other: TensorLike): Tensor {
    return this.cast('bool').cast('i32').add(toTensor(other, 'bool', this.storage.backend).cast('bool').cast('i32')).gt(0);
  }
  /** `value` where `mask` (bool, broadcast to this shape) holds, this elsewhere (torch's masked_fill). */
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return where(this.broadcastMask('maskedFill', mask), value, this);
  }
  /**
   * The elements where `mask` (bool, broadcast to this shape) holds, as a 1-d tensor in row-major
   * order (torch.masked_select; the gradient flows back to them). Its length depends on the mask's
   * values, so the mask is read first: synchronously here (the CPU backend), with
   * maskedSelectAsync on a backend that reads asynchronously (WebGPU).
   */
  maskedSelect(mask: Tensor): Tensor {
    const m = this.broadcastMask('maskedSelect', mask);
    if (!m.storage.backend.readSync) {
      throw new GraftStateError(`maskedSelect: the output size depends on the mask's values, which the ${m.backend} backend reads asynchronously; use await x.maskedSelectAsync(mask)`);
    }
    return this.selected(m.dataSync());
  }
  async maskedSelectAsync(mask: Tensor): Promise<Tensor> {
    return this.selected(await this.broadcastMask('maskedSelectAsync', mask).data());
  }
  /** `mask` expanded to this shape, once it is bool and broadcasts to it (never this to it). */
  private broadcastMask(op: string, mask: Tensor): Tensor {
    if (mask.dtype !== 'bool') throw new GraftDTypeError(`${op}: mask must be bool, got ${mask.dtype}`);
    const lead = this.ndim - mask.ndim;
    if (lead < 0 || mask.shape.some((d, i) => d !== 1 && d !== this.shape[lead + i])) {
      throw new GraftShapeError(`${op}: mask ${fmtShape(mask.shape)} does not broadcast to ${fmtShape(this.shape)}`);
    }
    return mask.expand(this.shape);
  }
  private selected(flags: ArrayLike<number>): Tensor {
    const at: number[] = [];
    for (let i = 0; i < flags.length; i++) if (flags[i]) at.push(i);
    return this.reshape([-1]).gather(0, this.newTensor(at, [at.length], 'i32'));
  }
  /** Elements of this where `cond` holds, else of `other` (torch's x.where(cond, y)). */
  where(cond: Tensor, other: TensorLike): Tensor {
    return where(cond, this, other);
  }

  // -- reductions --------------------------------------------------------------------------------

  sum(dims?: number | readonly number[], keepdim = false): Tensor { return reduceOp('sum', this, dims, keepdim); }
  /** Mean over `dims`; like PyTorch, an integer tensor must be cast first (`x.cast('f32').mean()`). */
  mean(dims?: number | readonly number[], keepdim = false): Tensor { return reduceOp('mean', this, dims, keepdim); }
  /** Largest values over `dims`, all of them by default (torch.amax; ties share the gradient). */
  amax(dims?: number | readonly number[], keepdim = false): Tensor { return reduceOp('max', this, dims, keepdim); }
  amin(dims?: number | readonly number[], keepdim = false): Tensor { return this.neg().amax(dims, keepdim).neg(); }
  /**
   * As torch.max: the largest value of all (a 0-d tensor); along `dim`, the values and the index of
   * the first maximum (a NaN wins), `const [values, indices] = x.max(1)` or `.values` / `.indices`;
   * with a tensor, the elementwise maximum.
   */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): ValuesIndices;
  max(other: Tensor): Tensor;
  max(dim?: number | Tensor, keepdim = false): Tensor | ValuesIndices {
    if (dim instanceof Tensor) return this.maximum(dim);
    if (dim === undefined) return this.amax();
    return valuesIndices(this.amax(byOne('max', dim), keepdim), this.argmax(dim, keepdim));
  }
  /** As torch.min; see max. */
  min(): Tensor;
  min(dim: number, keepdim?: boolean): ValuesIndices;
  min(other: Tensor): Tensor;
  min(dim?: number | Tensor, keepdim = false): Tensor | ValuesIndices {
    if (dim instanceof Tensor) return this.minimum(dim);
    if (dim === undefined) return this.amin();
    return valuesIndices(this.amin(byOne('min', dim), keepdim), this.argmin(dim, keepdim));
  }
  /** Index of the largest value along `dim`, or in the flattened tensor when dim is omitted. */
  argmax(dim?: number, keepdim = false): Tensor {
    if (dim === undefined) return reduceOp('argmax', this.reshape([-1]), 0, false);
    return reduceOp('argmax', this, dim, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor { return this.neg().argmax(dim, keepdim); }
  /**
   * The product over `dims`, all of them by default (torch.prod). Halves are multiplied pairwise,
   * log2(n) elementwise products per dimension, so the gradient is exact where elements are zero
   * (no division by the values); the rounding differs from a sequential product by an ulp or so.
   */
  prod(dims?: number | readonly number[], keepdim = false): Tensor {
    const axes = normAxes('prod', dims, this.ndim);
    let y: Tensor = this.dtype === 'bool' ? this.cast('i32') : this;
    for (const d of axes) {
      if (y.shape[d] === 0) y = y.newOnes(y.shape.map((s, i) => (i === d ? 1 : s)));
      while (y.shape[d]! > 1) {
        const n = y.shape[d]!;
        if (n % 2) y = y.pad(y.shape.map((_, i): [number, number] => (i === d ? [0, 1] : [0, 0])), 1);
        const h = Math.ceil(n / 2);
        y = y.narrow(d, 0, h).mul(y.narrow(d, h, h));
      }
    }
    return keepdim ? y : y.reshape(y.shape.filter((_, i) => !axes.includes(i)));
  }
  /** The indices that sort this along `dim` (torch.argsort, stable: equal values keep their order; NaN sorts as the largest value). */
  argsort(dim = -1, descending = false): Tensor {
    return apply('argsort', [this], { dim: normAxis('argsort', dim, this.ndim), descending });
  }
  /** The values sorted along `dim` and the indices they came from (torch.sort; the values carry the gradient). */
  sort(dim = -1, descending = false): ValuesIndices {
    const d = normAxis('sort', dim, this.ndim);
    const indices = this.argsort(d, descending);
    return valuesIndices(this.gather(d, indices), indices);
  }
  /** The k largest (or smallest) values along `dim`, sorted, and their indices (torch.topk). */
  topk(k: number, dim = -1, largest = true): ValuesIndices {
    const d = normAxis('topk', dim, this.ndim);
    if (!Number.isInteger(k) || k < 0 || k > this.shape[d]!) throw new GraftShapeError(`topk: k=${k} is out of range for dimension ${d} of size ${this.shape[d]}`);
    const indices = this.argsort(d, largest).narrow(d, 0, k).contiguous();
    return valuesIndices(this.gather(d, indices), indices);
  }
  /** Running sums along `dim` (torch.cumsum); bools are counted as i32. */
  cumsum(dim: number): Tensor {
    const x = this.dtype === 'bool' ? this.cast('i32') : this;
    return apply('cumsum', [x], { dim: normAxis('cumsum', dim, this.ndim) });
  }
  /** Variance with Bessel's correction by default (correction = 1), as torch.var. */
  var(dims?: number | readonly number[], opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    const x = floatT(this);
    const axes = normAxes('var', dims, this.ndim);
    const n = axes.reduce((p, d) => p * this.shape[d]!, 1);
    const dev = x.sub(x.mean(axes, true));
    return dev.mul(dev).sum(axes, opts.keepdim ?? false).div(Math.max(n - (opts.correction ?? 1), 0));
  }
  std(dims?: number | readonly number[], opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return this.var(dims, opts).sqrt();
  }

  // -- views -------------------------------------------------------------------------------------

  /** A tensor of the given shape with the same data (one entry may be -1); copies only if it must. */
  reshape(shape: readonly number[]): Tensor {
    return apply('reshape', [this], { shape: inferShape('reshape', shape, this) });
  }
  /** Like reshape, but never copies: fails when the layout does not allow a view. */
  view(shape: readonly number[]): Tensor {
    if (!this.isContiguous()) {
      throw new GraftShapeError(`view: tensor of shape ${fmtShape(this.shape)} with strides ${fmtShape(this.strides)} is not contiguous; use reshape() instead`);
    }
    return this.reshape(shape);
  }
  permute(dims: readonly number[]): Tensor {
    return apply('permute', [this], { dims: dims.map((d) => normAxis('permute', d, this.ndim)) });
  }
  transpose(a: number, b: number): Tensor {
    const dims = [...Array(this.ndim).keys()];
    const [i, j] = [normAxis('transpose', a, this.ndim), normAxis('transpose', b, this.ndim)];
    [dims[i], dims[j]] = [dims[j]!, dims[i]!];
    return this.permute(dims);
  }
  /** Transpose of a matrix (rank <= 2). */
  get T(): Tensor {
    if (this.ndim > 2) throw new GraftShapeError(`T: expected a tensor of rank <= 2, got ${fmtShape(this.shape)}; use permute()`);
    return this.ndim < 2 ? this : this.transpose(0, 1);
  }
  /** Broadcasts to `shape` without copying (-1 keeps a dimension). */
  expand(shape: readonly number[]): Tensor {
    const lead = shape.length - this.ndim;
    const full = shape.map((d, i) => (d === -1 ? (i >= lead ? this.shape[i - lead]! : NaN) : d));
    if (full.length === this.ndim && full.every((d, i) => d === this.shape[i])) return this;
    return apply('expand', [this], { shape: full });
  }
  broadcastTo(shape: readonly number[]): Tensor { return this.expand(shape); }
  expandAs(other: Tensor): Tensor { return this.expand(other.shape); }
  /** Removes size-1 dimensions (all of them, or the given ones). */
  squeeze(dims?: number | readonly number[]): Tensor {
    const axes = dims === undefined ? undefined : normAxes('squeeze', dims, this.ndim);
    return this.reshape(this.shape.filter((d, i) => d !== 1 || (axes !== undefined && !axes.includes(i))));
  }
  unsqueeze(dim: number): Tensor {
    const d = normAxis('unsqueeze', dim, this.ndim + 1);
    const shape = [...this.shape];
    shape.splice(d, 0, 1);
    return this.reshape(shape);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    if (this.ndim === 0) return this.reshape([1]);
    const s = normAxis('flatten', startDim, this.ndim);
    const e = normAxis('flatten', endDim, this.ndim);
    if (s > e) throw new GraftShapeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
    return this.reshape([...this.shape.slice(0, s), sizeOf(this.shape.slice(s, e + 1)), ...this.shape.slice(e + 1)]);
  }
  /** Elements start, start+step, ... before end along `dim` (Python slice rules for start and end). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    const d = normAxis('slice', dim, this.ndim);
    const n = this.shape[d]!;
    if (!Number.isInteger(step) || step < 1) throw new GraftShapeError(`slice: step must be a positive integer, got ${step}`);
    const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
    const s = clampIdx(start ?? 0);
    const e = clampIdx(end ?? n);
    const count = e > s ? Math.ceil((e - s) / step) : 0;
    const starts = this.shape.map((_, i) => (i === d ? (count ? s : 0) : 0));
    const sizes = this.shape.map((x, i) => (i === d ? count : x));
    const steps = this.shape.map((_, i) => (i === d ? step : 1));
    return apply('slice', [this], { starts, sizes, steps });
  }
  /** `length` elements from `start` along `dim`. */
  narrow(dim: number, start: number, length: number): Tensor {
    const d = normAxis('narrow', dim, this.ndim);
    if (start < 0) start += this.shape[d]!;
    if (start < 0 || length < 0 || start + length > this.shape[d]!) {
      throw new GraftShapeError(`narrow: start ${start} and length ${length} exceed dimension ${d} of size ${this.shape[d]} in ${fmtShape(this.shape)}`);
    }
    return this.slice(d, start, start + length);
  }
  /**
   * Every window of `size` elements, `step` apart, along `dimension`: that axis becomes the window
   * positions and a last axis of `size` is added (torch.Tensor.unfold). A view whose windows may
   * share elements; writing into it in place is refused.
   */
  unfold(dimension: number, size: number, step: number): Tensor {
    return apply('unfold', [this], { dim: normAxis('unfold', dimension, this.ndim), size, step });
  }
  /** The slice at `index` along `dim`, with that dimension removed. */
  select(dim: number, index: number): Tensor {
    const d = normAxis('select', dim, this.ndim);
    const n = this.shape[d]!;
    if (index < -n || index >= n) throw new GraftShapeError(`select: index ${index} is out of range for dimension ${d} of size ${n}`);
    return this.narrow(d, index < 0 ? index + n : index, 1).squeeze(d);
  }
  flip(dims: number | readonly number[]): Tensor {
    return apply('flip', [this], { dims: normAxes('flip', dims, this.ndim) });
  }
  /** A contiguous tensor with the same values (this one when already contiguous). */
  contiguous(): Tensor {
    return this.isContiguous() ? this : apply('contiguous', [this], {});
  }
  /** A copy with its own memory, recorded in the graph. */
  clone(): Tensor {
    return apply('contiguous', [this], {});
  }
  /** Pads with a constant: one [before, after] pair per dimension, first dimension first. */
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor {
    return apply('pad', [this], { pads: pads.map(([a, b]) => [a, b] as [number, number]), value });
  }
  split(size: number, dim = 0): Tensor[] {
    const d = normAxis('split', dim, this.ndim);
    const out: Tensor[] = [];
    for (let at = 0; at < this.shape[d]!; at += size) out.push(this.narrow(d, at, Math.min(size, this.shape[d]! - at)));
    return out;
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    const d = normAxis('chunk', dim, this.ndim);
    return this.split(Math.ceil(this.shape[d]! / chunks), d);
  }

  // -- structured ops ----------------------------------------------------------------------------

  /** Matrix product with PyTorch's rules for 1-d operands and broadcast batch dimensions. */
  matmul(other: Tensor): Tensor {
    const [a, b] = promotePair(floatT(this), floatT(other));
    if (a.ndim === 0 || b.ndim === 0) throw new GraftShapeError(`matmul: both operands need at least 1 dimension, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
    const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
    const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
    let out = apply('matmul', [a2, b2], {});
    if (a.ndim === 1) out = out.squeeze(-2);
    if (b.ndim === 1) out = out.squeeze(-1);
    return out;
  }
  /** The conv2d primitive (see F.conv2d for PyTorch-style options). */
  conv2d(weight: Tensor, attrs: OpAttrs['conv2d'], bias?: Tensor): Tensor {
    return apply('conv2d', bias ? [this, weight, bias] : [this, weight], attrs);
  }
  /** out[i][j][k] = this[i][index[i][j][k]][k] for dim = 1. */
  gather(dim: number, index: Tensor): Tensor {
    return apply('gather', [this, index], { dim: normAxis('gather', dim, this.ndim) });
  }
  /** A copy of this with src added at the positions index names along dim. */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return apply('scatterAdd', [this, index, src.cast(this.dtype)], { dim: normAxis('scatterAdd', dim, this.ndim) });
  }
  /** Entries of `index` (1-d, i32) along `dim`. */
  indexSelect(dim: number, index: Tensor): Tensor {
    const d = normAxis('indexSelect', dim, this.ndim);
    if (index.ndim !== 1) throw new GraftShapeError(`indexSelect: index must be 1-d, got ${fmtShape(index.shape)}`);
    const shape = this.shape.map((s, i) => (i === d ? index.shape[0]! : s));
    const idx = index.reshape(this.shape.map((_, i) => (i === d ? index.shape[0]! : 1))).expand(shape);
    return this.gather(d, idx);
  }
  /** exp(x) / sum(exp(x)) along `dim`, shifted by the (constant) row maximum so exp cannot overflow. */
  softmax(dim: number): Tensor {
    return apply('softmax', [this], { dim: normAxis('softmax', dim, this.ndim) });
  }
  /** (x - max) - log(sum(exp(x - max))) along `dim`: log(softmax(x)) without its underflow. */
  logSoftmax(dim: number): Tensor {
    return apply('logSoftmax', [this], { dim: normAxis('logSoftmax', dim, this.ndim) });
  }
}

// -- the path every primitive takes ------------------------------------------------------------------

/** Float inputs cast as an autocast policy asks: to the lower dtype, or f16 ones to f32. */
function autocastInputs(policy: AutocastPolicy, inputs: Tensor[], lower: DType): Tensor[] {
  return inputs.map((t) => {
    if (policy === 'lower') return isFloat(t.dtype) && t.dtype !== 'f64' ? t.cast(lower) : t;
    return t.dtype === lower ? t.cast('f32') : t;
  });
}

export function viewOf(t: Tensor): TensorView {
  return { buffer: t.storage.buffer, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset };
}

/** Applies primitive `op` to `inputs`: checks shapes and dtypes, runs the kernel or makes the view, records the node. */
export function apply<K extends OpName>(op: K, inputs: Tensor[], attrs: OpAttrs[K]): Tensor {
  const spec: Schema<K> = SCHEMA[op];
  for (const t of inputs) t.assertAlive(op);
  const lower = autocastDtype();
  if (lower && AUTOCAST[op] !== 'keep') inputs = autocastInputs(AUTOCAST[op], inputs, lower);
  const backend = inputs[0]?.storage.backend;
  if (backend && inputs.some((t) => t.storage.backend !== backend)) {
    throw new GraftError(`${op}: inputs live on different backends (${inputs.map((t) => t.storage.backend.name).join(', ')})`);
  }
  const meta = spec.infer(inputs, attrs);
  let out: Tensor;
  if (spec.kind === 'view') {
    const x = inputs[0]!;
    // The kind names the table; TypeScript cannot carry K's attributes through that test.
    const v = VIEWS[op as ViewOp]({ shape: [...x.shape], strides: [...x.strides], offset: x.offset }, attrs as never);
    if (v === null) return apply(op, [apply('contiguous', [x], {})], attrs);
    out = Tensor.viewOf(x, v.shape, v.strides, v.offset);
  } else {
    let made: Tensor | undefined;
    try {
      if (isElementwise(op) && backend?.runExpr && sizeOf(meta.shape) > 0) {
        // Recorded, not run: the backend gets the whole expression when its values are needed. A
        // buffer it could not allocate then is refused now, where the op was written.
        backend.checkAlloc?.(sizeOf(meta.shape), meta.dtype);
        const storage = recordElementwise(op, inputs, meta.shape, meta.dtype, attrs, backend);
        made = new Tensor(storage, [...meta.shape], contiguousStrides(meta.shape), 0, meta.dtype);
      } else {
        made = Tensor.empty(meta.shape, meta.dtype, backend);
        if (made.size > 0) backend!.run(op, inputs.map(viewOf), viewOf(made), attrs);
      }
    } catch (e) {
      made?.dispose();
      if (e instanceof GraftError && !e.message.startsWith(`${op}:`)) {
        e.message = `${op} on ${inputs.map((t) => `${fmtShape(t.shape)} ${t.dtype}`).join(', ')}: ${e.message}`;
      }
      throw e;
    }
    out = made;
  }
  if (GRADS[op] && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.gradFn = new Node(op, inputs, out, attrs);
    out.setRequiresGradInternal();
    for (const t of inputs) t.storage.saved = true;
    out.storage.saved = true;
  }
  return out;
}

/** max(dim) and min(dim) take one dimension, as PyTorch's do; amax and amin take several. */
function byOne(op: string, dim: unknown): number {
  if (typeof dim !== 'number') throw new GraftShapeError(`${op}: takes one dimension (PyTorch's ${op}(dim) gives values and indices); use a${op}(dims) to reduce over several`);
  return dim;
}

function valuesIndices(values: Tensor, indices: Tensor): ValuesIndices {
  return Object.assign([values, indices] as [Tensor, Tensor], { values, indices });
}

// -- helpers shared by the methods -----------------------------------------------------------------

/** Turns a scalar into a 0-d tensor of a dtype that fits it next to `like`. */
export function toTensor(x: TensorLike, like: DType, backend: Backend): Tensor {
  if (x instanceof Tensor) return x;
  const dtype: DType = typeof x === 'boolean' ? (like === 'bool' ? 'bool' : like) : !isFloat(like) && !Number.isInteger(x) ? 'f32' : like === 'bool' ? 'i32' : like;
  const t = Tensor.empty([], dtype, backend);
  const arr = allocArray(dtype, 1);
  arr[0] = Number(x);
  backend.write(t.storage.buffer, arr);
  return t;
}

function floatT(t: Tensor): Tensor {
  return isFloat(t.dtype) ? t : t.cast(floatOf(t.dtype));
}

function promotePair(a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (a.dtype === b.dtype) return [a, b];
  const d = promote(a.dtype, b.dtype);
  return [a.cast(d), b.cast(d)];
}

function unary(op: OpName & ('neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'erf' | 'relu'), x: Tensor): Tensor {
  return apply(op, [x], {});
}

const ARITH = new Set(['add', 'sub', 'mul', 'maximum', 'minimum']);

function binary(op: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'lt' | 'gt' | 'eq', a: Tensor, other: TensorLike, toFloat = false): Tensor {
  let [x, y] = promotePair(a, toTensor(other, a.dtype, a.storage.backend));
  if (toFloat && !isFloat(x.dtype)) [x, y] = [x.cast('f32'), y.cast('f32')];
  else if (ARITH.has(op) && x.dtype === 'bool') [x, y] = [x.cast('i32'), y.cast('i32')];
  return apply(op, [x, y], {});
}

function reduceOp(op: 'sum' | 'mean' | 'max' | 'argmax', x: Tensor, dims: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  const input = op === 'sum' && x.dtype === 'bool' ? x.cast('i32') : x;
  return apply(op, [input], { dims: normAxes(op, dims, x.ndim), keepdim });
}

function inferShape(op: string, shape: readonly number[], x: Tensor): number[] {
  const free = shape.filter((d) => d === -1).length;
  if (free > 1) throw new GraftShapeError(`${op}: only one dimension can be -1, got ${fmtShape(shape)}`);
  if (shape.some((d) => !Number.isInteger(d) || d < -1)) throw new GraftShapeError(`${op}: invalid shape ${fmtShape(shape)}`);
  if (!free) return [...shape];
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (known === 0 || x.size % known) {
    throw new GraftShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of shape ${fmtShape(x.shape)} (${x.size} elements)`);
  }
  return shape.map((d) => (d === -1 ? x.size / known : d));
}

/** Elements of a where cond holds, else of b; all three broadcast together. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const backend = cond.storage.backend;
  const ta = a instanceof Tensor ? a : toTensor(a, b instanceof Tensor ? b.dtype : 'f32', backend);
  const [x, y] = promotePair(ta, toTensor(b, ta.dtype, backend));
  return apply('where', [cond.cast('bool'), x, y], {});
}

/**
 * Runs fn and disposes every tensor it created except the ones it returns (tfjs's tidy). Tensors
 * a backward pass stores in `.grad` and optimizer state survive; call backward() inside the scope.
 */
export function tidy<T>(fn: () => T): T {
  return tidyScope(fn, (v): v is Tensor => v instanceof Tensor);
}
