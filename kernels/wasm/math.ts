/** @file Vector forms of transcendental functions for the SIMD expression programs, each within a stated error of the correctly rounded f32 result. */
import type { Body } from './encode.js';

const LOG2E = 1.4426950408889634;
// ln 2 split so that n * LN2_HI is exact in f32 for |n| <= 150 (LN2_HI has 15 significant bits).
const LN2_HI = 0.693145751953125;
const LN2_LO = 1.4286068203094172e-6;

/**
 * e^a for the v128 in local `a`, left on the stack; temps t0..t2. Range reduction a = n ln2 + r with
 * |r| <= ln2 / 2, e^r by its Taylor polynomial to degree 7 (truncation below 1e-8 relative), 2^n
 * applied as two exact power-of-two factors so results that underflow to subnormals round once.
 * Within 1 ulp of the correctly rounded result (measured over [-110, 95] in the tests); NaN gives NaN, overflow
 * +Infinity, underflow 0.
 */
export function expF32x4(b: Body, a: number, [t0, t1, t2]: readonly number[]): void {
  // Past these e^x is +Infinity or rounds to 0 anyway; clamping keeps n inside the i32 exponent math. pmax/pmin pass NaN through.
  b.get(a).f32x4Const(-104).f32x4Pmax().f32x4Const(89).f32x4Pmin().tee(t1!);
  b.f32x4Const(LOG2E).f32x4Mul().f32x4Nearest().set(t0!);
  b.get(t1!).get(t0!).f32x4Const(LN2_HI).f32x4Mul().f32x4Sub().get(t0!).f32x4Const(LN2_LO).f32x4Mul().f32x4Sub().set(t1!);
  const coefficients = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  b.f32x4Const(coefficients[0]!);
  for (const c of coefficients.slice(1)) b.get(t1!).f32x4Mul().f32x4Const(c).f32x4Add();
  // 2^n = 2^n1 * 2^n2 with n1 = n >> 1: each factor a normal f32 for |n| <= 150.
  b.get(t0!).i32x4TruncSatF32x4S().tee(t2!).i32(1).i32x4ShrS().tee(t0!);
  b.i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
  b.get(t2!).get(t0!).i32x4Sub().i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
}
