/** @file Vector forms of transcendental functions for the SIMD expression programs, each within a stated error of the correctly rounded f32 result. */
import type { Body } from './encode.js';

const LOG2E = 1.4426950408889634;
const ROUNDER = 12582912; // 1.5 * 2^23
const ROUNDER_BITS = 0x4b400000;
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
  // n = round(a log2 e) by adding 1.5 * 2^23: the sum's low mantissa bits are n (ties to even, as
  // nearest rounds), so n as an integer is the sum's bits less the constant's, with no conversion.
  b.f32x4Const(LOG2E).f32x4Mul().f32x4Const(ROUNDER).f32x4Add().tee(t2!).f32x4Const(ROUNDER).f32x4Sub().set(t0!);
  b.get(t1!).get(t0!).f32x4Const(LN2_HI).f32x4Mul().f32x4Sub().get(t0!).f32x4Const(LN2_LO).f32x4Mul().f32x4Sub().set(t1!);
  const coefficients = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  b.f32x4Const(coefficients[0]!);
  for (const c of coefficients.slice(1)) b.get(t1!).f32x4Mul().f32x4Const(c).f32x4Add();
  // 2^n = 2^n1 * 2^n2 with n1 = n >> 1: each factor a normal f32 for |n| <= 150.
  b.get(t2!).i32x4Const(ROUNDER_BITS).i32x4Sub().tee(t2!).i32(1).i32x4ShrS().tee(t0!);
  b.i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
  b.get(t2!).get(t0!).i32x4Sub().i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
}

// (e^t - 1) / t on [-ln2/2, ln2/2] to degree 4, fitted for the relative error of 1 + t q(t) (at most 1.7e-7, measured in f32).
const EXPM1_Q = [0.9999997019767761, 0.4999915063381195, 0.1666763573884964, 0.041897933930158615, 0.008290317840874195];
/** Below this e^a is under 2^-126: the softmax form gives 0 there. */
const EXP_NORMAL_MIN = -126 * Math.LN2;

/**
 * e^a for a <= 0 (softmax's x - max), left on the stack; temps t0..t2. a = n ln2 + r as in
 * expF32x4, then 2^n (1 + r q(r)) with q of degree 4 and 2^n made by one shift (n >= -126).
 * Within 2e-7 relative for results of at least 2^-126; below that 0, where expF32x4 keeps
 * subnormals (an absolute difference under 1.2e-38, nothing beside the row's largest term, 1).
 * NaN gives NaN and -Infinity 0. About two thirds of expF32x4's instructions.
 */
export function expNonPositiveF32x4(b: Body, a: number, [t0, t1, t2]: readonly number[]): void {
  b.get(a).f32x4Const(LOG2E).f32x4Mul().f32x4Const(ROUNDER).f32x4Add().tee(t2!).f32x4Const(ROUNDER).f32x4Sub().set(t0!);
  b.get(a).get(t0!).f32x4Const(LN2_HI).f32x4Mul().f32x4Sub().get(t0!).f32x4Const(LN2_LO).f32x4Mul().f32x4Sub().set(t1!);
  // 2^n: n's bits are the sum's less the rounder's, shifted into the exponent with the bias.
  b.get(t2!).i32(23).i32x4Shl().i32x4Const(((127 - ROUNDER_BITS) << 23) | 0).i32x4Add().set(t2!);
  // s + (r s) q(r), then 0 below the normal range (and for -Infinity, whose r is NaN).
  b.get(t2!);
  b.get(t1!).get(t2!).f32x4Mul();
  b.f32x4Const(EXPM1_Q[4]!);
  for (const c of EXPM1_Q.slice(0, 4).reverse()) b.get(t1!).f32x4Mul().f32x4Const(c).f32x4Add();
  b.f32x4Mul().f32x4Add().set(t0!);
  b.f32x4Const(0).get(t0!).get(a).f32x4Const(EXP_NORMAL_MIN).f32x4Lt().bitselect();
}

// logf's constants (the minimax coefficients of the Cephes/musl single-precision log).
const LG = [0.66666662693, 0.40000972152, 0.28498786688, 0.24279078841];
const LOG_LN2_HI = 6.9313812256e-1;
const LOG_LN2_LO = 9.0580006145e-6;

/**
 * ln a for the v128 in local `a`, left on the stack; temps t0..t5. a = 2^k m with m in
 * [sqrt(1/2), sqrt(2)) by integer operations on the bits (subnormals scaled by 2^25 first), then
 * ln m = 2 atanh(f / (2 + f)) with f = m - 1 by a degree-4 minimax polynomial in s^2, as the
 * single-precision C logf does. Within 1 ulp of the correctly rounded result (measured in the
 * tests); ln 0 = -Infinity, ln of a negative number or NaN is NaN, ln +Infinity = +Infinity.
 */
export function logF32x4(b: Body, a: number, [x, k, f, s, z, r]: readonly number[]): void {
  // Subnormals times 2^25 (exact), with 25 taken off k below.
  b.get(a).f32x4Const(33554432).f32x4Mul().get(a).get(a).f32x4Const(1.17549435e-38).f32x4Lt().bitselect().set(x!);
  // ix = bits + (1 - sqrt(1/2)) in bits, so its exponent is k and its mantissa m's offset from sqrt(1/2).
  b.get(x!).i32x4Const(0x3f800000 - 0x3f3504f3).i32x4Add().tee(k!);
  b.i32x4Const(0x007fffff).v128And().i32x4Const(0x3f3504f3).i32x4Add().f32x4Const(1).f32x4Sub().set(f!);
  b.get(k!).i32(23).i32x4ShrS().i32x4Const(127).i32x4Sub();
  b.i32x4Const(25).i32x4Const(0).get(a).f32x4Const(1.17549435e-38).f32x4Lt().bitselect().i32x4Sub().f32x4ConvertI32x4S().set(k!);
  // s = f / (2 + f), z = s^2, w = z^2; R = z (Lg1 + w Lg3) + w (Lg2 + w Lg4).
  b.get(f!).get(f!).f32x4Const(2).f32x4Add().f32x4Div().tee(s!).get(s!).f32x4Mul().set(z!);
  b.get(z!).get(z!).f32x4Mul().set(r!); // w
  b.get(z!).f32x4Const(LG[0]!).get(r!).f32x4Const(LG[2]!).f32x4Mul().f32x4Add().f32x4Mul();
  b.get(r!).f32x4Const(LG[1]!).get(r!).f32x4Const(LG[3]!).f32x4Mul().f32x4Add().f32x4Mul().f32x4Add().set(r!);
  // hfsq = f^2 / 2 (in z); ln = s (hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi.
  b.get(f!).get(f!).f32x4Mul().f32x4Const(0.5).f32x4Mul().set(z!);
  b.get(s!).get(z!).get(r!).f32x4Add().f32x4Mul().get(k!).f32x4Const(LOG_LN2_LO).f32x4Mul().f32x4Add().get(z!).f32x4Sub().get(f!).f32x4Add().get(k!).f32x4Const(LOG_LN2_HI).f32x4Mul().f32x4Add().set(x!);
  // The special values: +Infinity and NaN stay, 0 gives -Infinity, negatives NaN.
  b.get(a).get(x!).get(a).f32x4Const(Infinity).f32x4Eq().get(a).get(a).f32x4Ne().v128Or().bitselect().set(x!);
  b.f32x4Const(-Infinity).get(x!).get(a).f32x4Const(0).f32x4Eq().bitselect().set(x!);
  b.f32x4Const(NaN).get(x!).get(a).f32x4Const(0).f32x4Lt().bitselect();
}

/**
 * The logistic function of local `a`, left on the stack; temps t0..t4 (exp's three and two more).
 * e = e^-|a| keeps exp's argument non-positive, as the reference's two branches do; then 1 / (1 + e)
 * for a >= 0 and e / (1 + e) below (NaN stays NaN). Within 2 ulp of the correctly rounded result
 * (measured over [-110, 95] in the tests).
 */
export function sigmoidF32x4(b: Body, a: number, t: readonly number[]): void {
  const [e, q] = [t[3]!, t[4]!];
  b.get(a).f32x4Abs().f32x4Neg().set(e);
  expF32x4(b, e, t);
  b.set(e);
  b.f32x4Const(1).get(e).f32x4Const(1).f32x4Add().f32x4Div().set(q);
  // a >= 0 ? q : e * q; a NaN compares false and e * q is NaN then.
  b.get(q).get(e).get(q).f32x4Mul().get(a).f32x4Const(0).f32x4Ge().bitselect();
}

/**
 * The f32 lanes of local `a` rounded to f16 values (still f32 lanes), left on the stack; temps
 * t0, t1. The bits of a normal f16 value round at mantissa bit 13, ties to even (a carry into the
 * exponent is right); below 2^-14, (|a| + 0.5) - 0.5 rounds to the 2^-24 steps of f16's subnormals
 * in f32 arithmetic, ties to even; from 65520 on, infinity; NaN stays as it is; signs are kept.
 * Exactly what roundF16 gives (tested over every f16 value and the points between).
 */
export function roundF16x4(b: Body, a: number, [t0, t1]: readonly number[]): void {
  b.get(a).f32x4Abs().set(t0!);
  // Normal: (bits + 0xfff + bit 13) with the low 13 bits cleared.
  b.get(a).get(a).i32(13).i32x4ShrS().i32x4Const(1).v128And().i32x4Add().i32x4Const(0xfff).i32x4Add().i32x4Const(~0x1fff).v128And().set(t1!);
  // Subnormal: the rounded magnitude with a's sign bit.
  b.get(a).get(t0!).f32x4Const(0.5).f32x4Add().f32x4Const(0.5).f32x4Sub().i32x4Const(-0x80000000).bitselect();
  b.get(t1!).get(t0!).f32x4Const(2 ** -14).f32x4Lt().bitselect().set(t1!);
  // Overflow: infinity with a's sign bit.
  b.get(a).f32x4Const(Infinity).i32x4Const(-0x80000000).bitselect();
  b.get(t1!).get(t0!).f32x4Const(65520).f32x4Ge().bitselect().set(t1!);
  // NaN as it came.
  b.get(a).get(t1!).get(a).get(a).f32x4Ne().bitselect();
}
