/** @file TensorProto to values and back: ONNX element types, raw_data and the typed fields, bounds-checked. */
import { type Backend, type DType, GraftFormatError, type Tensor, tensor } from '../../index.js';
import { bf16ToF32, f16ToF32 } from '../../core/half.js';
import type { TensorProto } from './proto.js';

/** ONNX element types graft reads: byte width in raw_data, graft dtype, and how to read one element. */
export const ELEM: Record<number, { name: string; bytes: number; dtype: DType; read: (v: DataView, at: number) => number }> = {
  1: { name: 'FLOAT', bytes: 4, dtype: 'f32', read: (v, at) => v.getFloat32(at, true) },
  2: { name: 'UINT8', bytes: 1, dtype: 'i32', read: (v, at) => v.getUint8(at) },
  3: { name: 'INT8', bytes: 1, dtype: 'i32', read: (v, at) => v.getInt8(at) },
  4: { name: 'UINT16', bytes: 2, dtype: 'i32', read: (v, at) => v.getUint16(at, true) },
  5: { name: 'INT16', bytes: 2, dtype: 'i32', read: (v, at) => v.getInt16(at, true) },
  6: { name: 'INT32', bytes: 4, dtype: 'i32', read: (v, at) => v.getInt32(at, true) },
  // INT64 as a JavaScript number: exact to 2^53, and INT64_MAX (a slice's "to the end") stays larger than any size.
  7: { name: 'INT64', bytes: 8, dtype: 'i32', read: (v, at) => Number(v.getBigInt64(at, true)) },
  9: { name: 'BOOL', bytes: 1, dtype: 'bool', read: (v, at) => (v.getUint8(at) ? 1 : 0) },
  10: { name: 'FLOAT16', bytes: 2, dtype: 'f32', read: (v, at) => f16ToF32(v.getUint16(at, true)) },
  11: { name: 'DOUBLE', bytes: 8, dtype: 'f32', read: (v, at) => v.getFloat64(at, true) },
  12: { name: 'UINT32', bytes: 4, dtype: 'i32', read: (v, at) => v.getUint32(at, true) },
  13: { name: 'UINT64', bytes: 8, dtype: 'i32', read: (v, at) => Number(v.getBigUint64(at, true)) },
  16: { name: 'BFLOAT16', bytes: 2, dtype: 'f32', read: (v, at) => bf16ToF32(v.getUint16(at, true)) },
};

/** ONNX element type of each graft dtype when writing. */
export const ONNX_TYPE: Record<DType, number> = { f32: 1, i32: 7, bool: 9 } as Record<DType, number>;

/** A tensor's values as read from the file: integers of any width as exact numbers, before any graft dtype applies. */
export interface ProtoValues {
  name: string;
  elem: number;
  dtype: DType;
  shape: number[];
  values: ArrayLike<number>;
}

const I32: [number, number] = [-(2 ** 31), 2 ** 31 - 1];

export function protoValues(t: TensorProto, file: string, what = `tensor '${t.name ?? ''}'`): ProtoValues {
  const fail = (msg: string): never => {
    throw new GraftFormatError(`onnx: ${file}: ${what}: ${msg}`);
  };
  const elem = t.dataType ?? 0;
  const type = ELEM[elem] ?? fail(`data type ${elem} is not one graft reads`);
  if (t.dataLocation === 1) fail('keeps its data in an external file, which graft does not follow');
  const dims = t.dims ?? [];
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`has invalid dimensions [${dims.join(',')}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData;
  if (raw && raw.length) {
    if (raw.length !== n * type.bytes) fail(`shape [${dims.join(',')}] of ${type.name} needs ${n * type.bytes} bytes, raw_data has ${raw.length}`);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = type.dtype === 'f32' ? new Float32Array(n) : elem === 7 || elem === 12 || elem === 13 ? new Float64Array(n) : type.dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = type.read(v, i * type.bytes);
    return { name: t.name ?? '', elem, dtype: type.dtype, shape: dims, values: out };
  }
  // Typed fields: float_data for FLOAT, double_data for DOUBLE, int64_data for INT64, uint64_data for UINT32/64, int32_data for the rest (FLOAT16 bits too).
  const list = elem === 1 ? t.floatData : elem === 11 ? t.doubleData : elem === 7 ? t.int64Data : elem === 12 || elem === 13 ? (t.uint64Data?.length ? t.uint64Data : t.int32Data) : t.int32Data;
  const vals = list ?? [];
  if (vals.length !== n) fail(`shape [${dims.join(',')}] needs ${n} values, the typed field has ${vals.length}`);
  return { name: t.name ?? '', elem, dtype: type.dtype, shape: dims, values: elem === 10 ? vals.map(f16ToF32) : elem === 16 ? vals.map(bf16ToF32) : vals };
}

/** The values as a graft tensor; an integer outside i32 (graft's integer type) is refused, never wrapped. */
export function protoTensor(p: ProtoValues, file: string, backend?: Backend, what = `tensor '${p.name}'`): Tensor {
  if (p.dtype === 'i32') {
    for (let i = 0; i < p.values.length; i++) {
      const x = p.values[i]!;
      if (x < I32[0] || x > I32[1]) {
        throw new GraftFormatError(`onnx: ${file}: ${what}: ${ELEM[p.elem]!.name} value ${x} at element ${i} is outside [${I32[0]}, ${I32[1]}] (graft holds integers as i32)`);
      }
    }
  }
  const values = p.dtype === 'f32' && !(p.values instanceof Float32Array) ? Float32Array.from(p.values) : p.dtype === 'i32' && !(p.values instanceof Int32Array) ? Int32Array.from(p.values) : p.values;
  return tensor(values as Float32Array, { shape: p.shape, dtype: p.dtype, backend });
}

/** A TensorProto holding `values` as raw little-endian data. */
export function toProto(name: string, dtype: DType, shape: readonly number[], values: ArrayLike<number>): TensorProto {
  const elem = ONNX_TYPE[dtype];
  const n = values.length;
  const raw = new Uint8Array(n * (elem === 7 ? 8 : elem === 9 ? 1 : 4));
  const v = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    if (elem === 1) v.setFloat32(i * 4, values[i]!, true);
    else if (elem === 7) v.setBigInt64(i * 8, BigInt(Math.trunc(values[i]!)), true);
    else v.setUint8(i, values[i] ? 1 : 0);
  }
  return { name, dataType: elem, dims: [...shape], rawData: raw };
}
