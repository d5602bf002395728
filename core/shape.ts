/** @file Shape arithmetic: sizes, strides, broadcasting and axis normalisation. */
import { GraftShapeError, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** Strides that read `x` broadcast to `shape`: 0 along missing and size-1 dimensions. */
export function broadcastStrides(x: { shape: readonly number[]; strides: readonly number[] }, shape: readonly number[]): number[] {
  const lead = shape.length - x.shape.length;
  return shape.map((_, i) => (i < lead || x.shape[i - lead] === 1 ? 0 : x.strides[i - lead]!));
}

/** NumPy/PyTorch broadcasting: align from the right, sizes equal or 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new GraftShapeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast (dimension ${o}: ${out[o]} vs ${d})`,
        );
      }
    }
  }
  return out;
}

/** Resolves a possibly negative axis against a rank, naming the op when it is out of range. */
export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -Math.max(rank, 1) || axis >= Math.max(rank, 1)) {
    throw new GraftShapeError(
      `${op}: dimension ${axis} is out of range for a tensor of rank ${rank} (expected in [${-Math.max(rank, 1)}, ${Math.max(rank, 1) - 1}])`,
    );
  }
  return axis < 0 ? axis + Math.max(rank, 1) : axis;
}

/** Normalises a list of axes (undefined means all), sorted and checked for repeats. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normAxis(op, a, rank)).sort((a, b) => a - b);
  for (let i = 1; i < out.length; i++) {
    if (out[i] === out[i - 1]) throw new GraftShapeError(`${op}: dimension ${out[i]} appears twice in ${fmtShape(list)}`);
  }
  return out;
}

/** The most elements one tensor may hold: typed arrays and WebGPU bindings are indexed by 32-bit integers. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new GraftShapeError(`${op}: invalid shape ${fmtShape(shape)}`);
  }
  const n = sizeOf(shape);
  if (n > MAX_ELEMENTS) throw new GraftShapeError(`${op}: shape ${fmtShape(shape)} has ${n} elements, more than the ${MAX_ELEMENTS} a tensor can hold`);
}

/**
 * Whether two elements of a view may share one memory location (an expanded axis, overlapping
 * windows): true unless each axis, taken by stride, steps past all the smaller ones span.
 */
export function mayOverlapItself(shape: readonly number[], strides: readonly number[]): boolean {
  if (shape.includes(0)) return false;
  const axes = shape.flatMap((n, i) => (n > 1 ? [[n, Math.abs(strides[i]!)] as const] : [])).sort((a, b) => a[1] - b[1]);
  let reach = 0;
  for (const [n, s] of axes) {
    if (s <= reach) return true;
    reach += (n - 1) * s;
  }
  return false;
}

/** True when a strided layout is row-major dense (size-1 dimensions may have any stride). */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** An [l, s] causal mask, row-major: 1 where key j may be attended by query i (j <= i, PyTorch's top-left alignment), else 0. */
export function causalKeep(l: number, s: number): Uint8Array {
  const out = new Uint8Array(l * s);
  for (let i = 0; i < l; i++) out.fill(1, i * s, i * s + Math.min(s, i + 1));
  return out;
}
