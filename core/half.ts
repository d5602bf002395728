/** @file f16 and bf16: widening their bit patterns to f32, narrowing back, and rounding values to f16. */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half to float, subnormals and NaN/Inf included. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 is the top half of an f32. */
export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** f32 to half with round-to-nearest-even. */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let frac = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (frac ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    frac |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = frac >> shift;
    const rest = frac & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = frac >> 13;
  const rest = frac & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** The largest f16 is 65504; from halfway to the next binade (65520) on, rounding gives infinity. */
const F16_OVERFLOW = 65520;
const F16_MIN_NORMAL = 2 ** -14;

/** Rounds `v` to the nearest f16 value (ties to even), as a number: what storing it as f16 keeps. */
export function roundF16(v: number): number {
  const a = Math.abs(v);
  if (!(a < F16_OVERFLOW)) return a === a ? (v > 0 ? Infinity : -Infinity) : NaN;
  if (a < F16_MIN_NORMAL) {
    // Subnormals step by 2^-24: round |v| * 2^24 to an integer, ties to even; the sign is kept (-0 too).
    const y = a * 16777216;
    const f = Math.floor(y);
    const d = y - f;
    const r = (d > 0.5 || (d === 0.5 && (f & 1) !== 0) ? f + 1 : f) / 16777216;
    return v < 0 || 1 / v < 0 ? -r : r;
  }
  f32[0] = v;
  u32[0] = roundMantissa(u32[0]!);
  return f32[0]!;
}

/** f32 bits rounded to f16's 10 mantissa bits, ties to even; a carry into the exponent is the right result. */
function roundMantissa(x: number): number {
  return ((x + 0xfff + ((x >>> 13) & 1)) & ~0x1fff) >>> 0;
}

/** Rounds every element of `a` to f16 in place. */
export function roundF16Array(a: Float32Array): void {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < a.length; i++) {
    const x = bits[i]!;
    const mag = x & 0x7fffffff;
    // Normal f16 range (2^-14 <= |v| < 65520 has biased f32 exponent 113..142 and below 0x477ff000).
    if (mag >= 0x38800000 && mag < 0x477ff000) bits[i] = roundMantissa(x);
    else if (mag <= 0x7f800000) a[i] = roundF16(a[i]!); // NaN stays as it is
  }
}
