/** @file Creating tensors: from data, constants, ranges and random distributions. */
import { type Backend, getBackend } from './backend.js';
import { type DType, type TypedArray, allocArray, dtypeOfArray, isFloat } from '../core/dtype.js';
import { GraftDTypeError, GraftShapeError, GraftValueError, fmtShape } from '../core/errors.js';
import { Generator, defaultGenerator } from './random.js';
import { checkShape, sizeOf } from '../core/shape.js';
import { Tensor } from './tensor.js';

export type NestedData = number | boolean | readonly NestedData[];

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  backend?: Backend;
}
export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

function inferNested(data: NestedData): { shape: number[]; flat: number[]; bool: boolean } {
  const shape: number[] = [];
  for (let d: NestedData = data; Array.isArray(d); d = (d as readonly NestedData[])[0]!) {
    shape.push((d as readonly NestedData[]).length);
    if ((d as readonly NestedData[]).length === 0) break;
  }
  const flat: number[] = [];
  let bool = true;
  const walk = (d: NestedData, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(d)) throw new GraftShapeError(`tensor: ragged nested array at ${path || 'top level'} (expected shape ${fmtShape(shape)})`);
      if (typeof d !== 'number' && typeof d !== 'boolean') throw new GraftDTypeError(`tensor: element at ${path} is ${typeof d}, not a number or boolean`);
      if (typeof d === 'number') bool = false;
      flat.push(Number(d));
      return;
    }
    if (!Array.isArray(d) || d.length !== shape[depth]) {
      throw new GraftShapeError(`tensor: ragged nested array at ${path || 'top level'} (expected shape ${fmtShape(shape)})`);
    }
    d.forEach((x: NestedData, i: number) => walk(x, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return { shape, flat, bool: bool && flat.length > 0 };
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Internal: a tensor holding `values` (converted to dtype). */
export function fromArray(values: ArrayLike<number>, shape: readonly number[], dtype: DType, backend: Backend = getBackend()): Tensor {
  return Tensor.fromArray(values, shape, dtype, backend);
}

/**
 * A tensor from nested arrays, a typed array or a scalar. Numbers give f32 and booleans bool unless
 * `dtype` says otherwise; a typed array keeps its own dtype and may be given a `shape`.
 */
export function tensor(data: NestedData | TypedArray, opts: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  let values: ArrayLike<number>;
  let shape: readonly number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    values = data as TypedArray;
    dtype = opts.dtype ?? dtypeOfArray(data as TypedArray);
    shape = opts.shape ?? [values.length];
  } else {
    const n = inferNested(data as NestedData);
    values = n.flat;
    dtype = opts.dtype ?? (n.bool ? 'bool' : 'f32');
    shape = opts.shape ?? n.shape;
  }
  checkShape('tensor', shape);
  if (sizeOf(shape) !== values.length) {
    throw new GraftShapeError(`tensor: ${values.length} values do not fill shape ${fmtShape(shape)} (${sizeOf(shape)} elements)`);
  }
  if (dtype === 'i32' && !(values instanceof Int32Array)) checkInt32('tensor', values);
  return finish(fromArray(values, shape, dtype, opts.backend), opts);
}

/** Refuses values an i32 cannot hold (PyTorch: "value cannot be converted to type int32 without overflow"). */
function checkInt32(op: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= -2147483648 && v < 2147483648)) throw new GraftValueError(`${op}: value ${v} at index ${i} cannot be converted to i32 without overflow`);
  }
}

function checkCount(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new GraftValueError(`${op}: ${name} must be a non-negative integer, got ${v}`);
}

export function full(shape: readonly number[], value: number | boolean, dtype: DType = 'f32', opts: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  if (dtype === 'i32') checkInt32('full', [Number(value)]);
  return finish(Tensor.full(shape, value, dtype, opts.backend ?? getBackend()), opts);
}
export function zeros(shape: readonly number[], dtype: DType = 'f32', opts: CreateOptions = {}): Tensor {
  return full(shape, 0, dtype, opts);
}
export function ones(shape: readonly number[], dtype: DType = 'f32', opts: CreateOptions = {}): Tensor {
  return full(shape, 1, dtype, opts);
}

/** Values start, start+step, ... below end (torch.arange); f32 unless dtype says otherwise. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (![start, end, step].every(Number.isFinite)) throw new GraftValueError(`arange: start ${start}, end ${end} and step ${step} must be finite`);
  if (step === 0) throw new GraftShapeError('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  checkShape('arange', [n]);
  const dtype = opts.dtype ?? 'f32';
  const arr = allocArray(dtype, n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return finish(fromArray(arr, [n], dtype, opts.backend), opts);
}

export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  checkCount('linspace', 'steps', steps);
  checkShape('linspace', [steps]);
  const arr = allocArray(opts.dtype ?? 'f32', steps);
  for (let i = 0; i < steps; i++) arr[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  return finish(fromArray(arr, [steps], opts.dtype ?? 'f32', opts.backend), opts);
}

export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  checkCount('eye', 'n', n);
  checkCount('eye', 'm', m);
  checkShape('eye', [n, m]);
  const dtype = opts.dtype ?? 'f32';
  const arr = allocArray(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
  return finish(fromArray(arr, [n, m], dtype, opts.backend), opts);
}

function randomFill(shape: readonly number[], opts: RandomOptions, draw: (g: Generator) => number): Tensor {
  checkShape('random', shape);
  const dtype = opts.dtype ?? 'f32';
  if (!isFloat(dtype)) throw new GraftDTypeError(`random: expected a floating-point dtype, got ${dtype}`);
  const g = opts.generator ?? defaultGenerator;
  const arr = allocArray(dtype, sizeOf(shape));
  for (let i = 0; i < arr.length; i++) arr[i] = draw(g);
  return finish(fromArray(arr, shape, dtype, opts.backend), opts);
}

/** Standard normal samples. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return randomFill(shape, opts, (g) => g.normal());
}
/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return randomFill(shape, opts, (g) => g.uniform());
}
/** Uniform samples in [low, high). */
export function uniform(shape: readonly number[], low: number, high: number, opts: RandomOptions = {}): Tensor {
  return randomFill(shape, opts, (g) => low + (high - low) * g.uniform());
}
/** Uniform integers in [low, high), i32. */
export function randint(low: number, high: number, shape: readonly number[], opts: Omit<RandomOptions, 'dtype'> = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || low >= high) throw new GraftValueError(`randint: expected integers low < high, got low ${low} and high ${high}`);
  checkInt32('randint', [low, high - 1]);
  checkShape('randint', shape);
  const g = opts.generator ?? defaultGenerator;
  const arr = new Int32Array(sizeOf(shape));
  for (let i = 0; i < arr.length; i++) arr[i] = low + g.int(high - low);
  return fromArray(arr, shape, 'i32', opts.backend);
}
/** A random permutation of 0..n-1, i32 (Fisher-Yates). */
export function randperm(n: number, opts: Omit<RandomOptions, 'dtype'> = {}): Tensor {
  checkCount('randperm', 'n', n);
  checkShape('randperm', [n]);
  return fromArray(permutation(n, opts.generator ?? defaultGenerator), [n], 'i32', opts.backend);
}
export function permutation(n: number, g: Generator): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

export function zerosLike(t: Tensor, dtype: DType = t.dtype): Tensor {
  return full(t.shape, 0, dtype, { backend: t.storage.backend });
}
export function onesLike(t: Tensor, dtype: DType = t.dtype): Tensor {
  return full(t.shape, 1, dtype, { backend: t.storage.backend });
}
export function fullLike(t: Tensor, value: number, dtype: DType = t.dtype): Tensor {
  return full(t.shape, value, dtype, { backend: t.storage.backend });
}
export function randnLike(t: Tensor, opts: RandomOptions = {}): Tensor {
  return randn(t.shape, { dtype: t.dtype, backend: t.storage.backend, ...opts });
}
