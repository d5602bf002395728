/** @file Data types, their storage arrays and the promotion rule between them. */
import { GraftDTypeError } from './errors.js';

/**
 * f64 exists for the CPU reference (gradcheck); GPU backends accept f16 (where the adapter has
 * shader-f16), f32, i32 and bool. f16 is a storage type: every op computes in f32 and rounds its
 * result to f16, so host-side arrays of f16 tensors are Float32Array holding f16 values.
 */
export type DType = 'f16' | 'f32' | 'f64' | 'i32' | 'bool';

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export type ArrayFor<D extends DType> = D extends 'f32' | 'f16'
  ? Float32Array
  : D extends 'f64'
    ? Float64Array
    : D extends 'i32'
      ? Int32Array
      : Uint8Array;

/** Each dtype's storage array. */
export const ARRAY_TYPES = {
  f16: Float32Array,
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  bool: Uint8Array,
} as const;

export function allocArray(dtype: DType, size: number): TypedArray {
  return new ARRAY_TYPES[dtype](size);
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f16' || dtype === 'f32' || dtype === 'f64';
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint8Array) return 'bool';
  throw new GraftDTypeError(`unsupported typed array ${(a as object).constructor.name}`);
}

const RANK: Record<DType, number> = { bool: 0, i32: 1, f16: 2, f32: 3, f64: 4 };

/** The smaller common type of two dtypes, as PyTorch's type promotion picks it. */
export function promote(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

/** Result dtype of float-valued math (exp, div, ...): integers and bools become f32. */
export function floatOf(d: DType): DType {
  return isFloat(d) ? d : 'f32';
}

/** The most negative finite f32: masked attention scores take it (a fully masked row then averages instead of turning NaN). */
export const F32_LOWEST = -3.4028234663852886e38;
