/** @file Values flowing through an ONNX graph in graft: tensors, and constants known while building (shapes, indices, axes) computed in JavaScript. */
import { type Backend, type DType, GraftValueError, Tensor, fmtShape, tensor } from '../../index.js';

/**
 * A value known without running a kernel: a Shape's result, an initializer of integers, a Constant.
 * Shape arithmetic (Shape -> Gather -> Concat -> Reshape) stays here, exact in 64-bit-safe numbers,
 * so a graph exported with dynamic shapes still builds static graft views.
 */
export class Const {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: readonly number[],
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new GraftValueError(`onnx: constant of shape ${fmtShape(shape)} has ${data.length} values`);
  }
  get size(): number {
    return this.data.length;
  }
  static scalar(v: number, dtype: DType = 'i32'): Const {
    return new Const(dtype, [], [v]);
  }
  static vector(v: readonly number[], dtype: DType = 'i32'): Const {
    return new Const(dtype, [v.length], v);
  }
}

export type Value = Tensor | Const;

/** Constants at most this large are computed in JavaScript; larger ones become tensors. */
export const CONST_LIMIT = 1 << 16;

export function asTensor(v: Value, backend: Backend | undefined, what: string): Tensor {
  if (v instanceof Tensor) return v;
  if (v.dtype === 'i32' && v.data.some((x) => x < -(2 ** 31) || x > 2 ** 31 - 1)) {
    // INT64 sentinels (a slice's INT64_MAX) only make sense as constants.
    throw new GraftValueError(`onnx: ${what}: integer constant ${fmtShape(v.shape)} has values outside i32, which graft tensors do not hold`);
  }
  const data = v.dtype === 'f32' ? Float32Array.from(v.data) : v.dtype === 'i32' ? Int32Array.from(v.data) : Uint8Array.from(v.data);
  return tensor(data as Float32Array, { shape: [...v.shape], dtype: v.dtype, backend });
}

/** Broadcast shape of two shapes (numpy rules), or null when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Flat index into `shape` of each element of the broadcast `out` shape. */
function broadcastIndex(shape: readonly number[], out: readonly number[]): number[] {
  const n = out.reduce((a, b) => a * b, 1);
  const idx: number[] = new Array(n);
  const off = out.length - shape.length;
  for (let i = 0; i < n; i++) {
    let rem = i;
    let flat = 0;
    let stride = 1;
    for (let d = out.length - 1; d >= 0; d--) {
      const c = rem % out[d]!;
      rem = Math.floor(rem / out[d]!);
      const s = d - off >= 0 ? shape[d - off]! : 1;
      if (d - off >= 0) {
        flat += (s === 1 ? 0 : c) * stride;
        stride *= s;
      }
    }
    idx[i] = flat;
  }
  return idx;
}

/** An elementwise function of constants with broadcasting. */
export function constMap(inputs: readonly Const[], dtype: DType, f: (...xs: number[]) => number, what: string): Const {
  let shape: number[] = [];
  for (const c of inputs) {
    const s = broadcastShape(shape, c.shape);
    if (!s) throw new GraftValueError(`onnx: ${what}: shapes ${inputs.map((i) => fmtShape(i.shape)).join(', ')} do not broadcast`);
    shape = s;
  }
  const idx = inputs.map((c) => broadcastIndex(c.shape, shape));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Array<number>(n);
  for (let i = 0; i < n; i++) data[i] = f(...inputs.map((c, k) => c.data[idx[k]![i]!]!));
  return new Const(dtype, shape, data);
}
