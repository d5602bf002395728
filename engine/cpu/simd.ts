/** @file The CPU backend's WebAssembly SIMD table for elementwise ops: each op's exact f32x4 form, or null where it runs as JavaScript (transcendental functions, other dtypes). */
import type { Body } from '../../kernels/wasm/encode.js';
import type { SimdLowering } from '../../kernels/wasm/expr.js';
import { expF32x4, logF32x4, sigmoidF32x4 } from '../../kernels/wasm/math.js';
import type { ElementwiseOp } from '../../ops/schema.js';

const unary = (f: (b: Body) => Body): SimdLowering => ({ emit: (b, [a]) => void f(b.get(a!)) });
const binary = (f: (b: Body) => Body): SimdLowering => ({ emit: (b, [a, c]) => void f(b.get(a!).get(c!)) });

/**
 * Arithmetic IEEE requires to be correctly rounded, and selections, give the same f32 as the
 * JavaScript loop (which computes in f64 and rounds once). exp and log are within 1 ulp of it
 * (math.ts), the bound PyTorch's vectorized versions have; sigmoid, built on exp, within 2. The
 * rest stay null, running in JavaScript, until a vector form within a stated error is chosen for
 * them.
 */
export const SIMD: { [K in ElementwiseOp]: SimdLowering | null } = {
  neg: unary((b) => b.f32x4Neg()),
  abs: unary((b) => b.f32x4Abs()),
  sqrt: unary((b) => b.f32x4Sqrt()),
  // max with +0: NaN stays NaN and -0 becomes +0, as the JavaScript relu gives.
  relu: unary((b) => b.zero().f32x4Max()),
  // a < min ? min : a, then b > max ? max : b: NaN passes through both.
  clamp: { attrs: ['min', 'max'], emit: (b, [a], [lo, hi]) => void b.get(a!).get(lo!).f32x4Pmax().get(hi!).f32x4Pmin() },
  contiguous: unary((b) => b),
  add: binary((b) => b.f32x4Add()),
  sub: binary((b) => b.f32x4Sub()),
  mul: binary((b) => b.f32x4Mul()),
  div: binary((b) => b.f32x4Div()),
  maximum: binary((b) => b.f32x4Max()),
  minimum: binary((b) => b.f32x4Min()),
  exp: { temps: 3, emit: (b, [a], _, t) => expF32x4(b, a!, t) },
  log: { temps: 6, emit: (b, [a], _, t) => logF32x4(b, a!, t) }, sin: null, cos: null, tanh: null, erf: null, pow: null,
  sigmoid: { temps: 5, emit: (b, [a], _, t) => sigmoidF32x4(b, a!, t) },
  // Comparisons give lane masks (all ones where true; NaN compares false, -0 equals +0, as in
  // JavaScript); the program runs in wasm only where a mask is read by a cast to f32 (1 or 0) or a
  // where (kernels/cpu/exprSimd.ts checks).
  lt: binary((b) => b.f32x4Lt()),
  gt: binary((b) => b.f32x4Gt()),
  eq: binary((b) => b.f32x4Eq()),
  cast: unary((b) => b.f32x4Const(1).v128And()),
  where: { emit: (b, [c, x, y]) => void b.get(x!).get(y!).get(c!).bitselect() },
};
