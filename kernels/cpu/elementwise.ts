/** @file Elementwise CPU kernels: unary, binary and ternary maps over broadcast, strided inputs, with one compiled loop per op. */
import type { TypedArray } from '../../engine/dtype.js';
import { broadcastStrides } from '../../engine/shape.js';
import { type Strided, forEachRow, isContiguous } from './strided.js';

type Fn = (...args: never[]) => number;
/** out[p + i] = f(x[xo + i*xs], y[yo + i*ys], z[zo + i*zs], attrs) for i < n (unused operands are ignored). */
type Loop = (out: TypedArray, p: number, n: number, attrs: unknown, ...operands: (TypedArray | number)[]) => void;

const SOURCES: Record<1 | 2 | 3, string> = {
  1: 'for (let i = 0; i < n; i++, xo += xs) out[p + i] = f(x[xo], attrs);',
  2: 'for (let i = 0; i < n; i++, xo += xs, yo += ys) out[p + i] = f(x[xo], y[yo]);',
  3: 'for (let i = 0; i < n; i++, xo += xs, yo += ys, zo += zs) out[p + i] = f(x[xo], y[yo], z[zo]);',
};
const PARAMS = 'out, p, n, attrs, x, xo, xs, y, yo, ys, z, zo, zs';

const compiled = new WeakMap<Fn, Loop>();
let canCompile = true;

/**
 * The loop for `f`. Each op gets its own copy of the loop's code with `f` a constant of its
 * closure, so V8 inlines the op into the loop (a loop shared by every op calls through a
 * megamorphic site, several times slower). Where a page's content security policy forbids
 * compiling, the shared loop runs.
 */
function loopFor(f: Fn, arity: 1 | 2 | 3): Loop {
  let loop = compiled.get(f);
  if (loop) return loop;
  if (canCompile) {
    try {
      loop = new Function('f', `return function (${PARAMS}) { ${SOURCES[arity]} }`)(f) as Loop;
    } catch {
      canCompile = false;
    }
  }
  loop ??= ((...args: Parameters<Loop>) => shared[arity](f, ...args)) as Loop;
  compiled.set(f, loop);
  return loop;
}

type SharedLoop = (f: Fn, ...args: Parameters<Loop>) => void;
const shared: Record<1 | 2 | 3, SharedLoop> = {
  1: ((f: (a: number, attrs: unknown) => number, out: TypedArray, p: number, n: number, attrs: unknown, x: TypedArray, xo: number, xs: number) => {
    for (let i = 0; i < n; i++, xo += xs) out[p + i] = f(x[xo]!, attrs);
  }) as unknown as SharedLoop,
  2: ((f: (a: number, b: number) => number, out: TypedArray, p: number, n: number, _: unknown, x: TypedArray, xo: number, xs: number, y: TypedArray, yo: number, ys: number) => {
    for (let i = 0; i < n; i++, xo += xs, yo += ys) out[p + i] = f(x[xo]!, y[yo]!);
  }) as unknown as SharedLoop,
  3: ((f: (a: number, b: number, c: number) => number, out: TypedArray, p: number, n: number, _: unknown, x: TypedArray, xo: number, xs: number, y: TypedArray, yo: number, ys: number, z: TypedArray, zo: number, zs: number) => {
    for (let i = 0; i < n; i++, xo += xs, yo += ys, zo += zs) out[p + i] = f(x[xo]!, y[yo]!, z[zo]!);
  }) as unknown as SharedLoop,
};

function dense(x: Strided, shape: readonly number[], size: number): boolean {
  return x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]) && isContiguous(x.shape, x.strides) && x.data.length >= x.offset + size;
}

/** out = f(inputs..., attrs) elementwise over `shape`, the inputs broadcast to it. */
function map(f: Fn, inputs: Strided[], out: TypedArray, shape: readonly number[], attrs: unknown): void {
  const arity = inputs.length as 1 | 2 | 3;
  const loop = loopFor(f, arity);
  const size = out.length;
  if (inputs.every((x) => dense(x, shape, size))) {
    loop(out, 0, size, attrs, ...inputs.flatMap((x) => [x.data, x.offset, 1]));
    return;
  }
  const r = shape.length;
  const strides = inputs.map((x) => broadcastStrides(x, shape));
  const inner = strides.map((s) => (r ? s[r - 1]! : 0));
  const data = inputs.map((x) => x.data);
  let p = 0;
  forEachRow(shape, strides, inputs.map((x) => x.offset), (b, n) => {
    if (arity === 1) loop(out, p, n, attrs, data[0]!, b[0]!, inner[0]!);
    else if (arity === 2) loop(out, p, n, attrs, data[0]!, b[0]!, inner[0]!, data[1]!, b[1]!, inner[1]!);
    else loop(out, p, n, attrs, data[0]!, b[0]!, inner[0]!, data[1]!, b[1]!, inner[1]!, data[2]!, b[2]!, inner[2]!);
    p += n;
  });
}

export function mapUnary(f: (a: number, attrs: never) => number, x: Strided, out: TypedArray, shape: readonly number[], attrs?: unknown): void {
  map(f as Fn, [x], out, shape, attrs);
}

export function mapBinary(f: (a: number, b: number) => number, x: Strided, y: Strided, out: TypedArray, shape: readonly number[]): void {
  map(f as Fn, [x, y], out, shape, undefined);
}

export function mapTernary(f: (a: number, b: number, c: number) => number, x: Strided, y: Strided, z: Strided, out: TypedArray, shape: readonly number[]): void {
  map(f as Fn, [x, y, z], out, shape, undefined);
}
