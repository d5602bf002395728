/** @file Pieces every WGSL kernel shares: the kernel-call shape, storage types, meta access, dispatch grids. */
import type { DType } from '../../core/dtype.js';

/** How a kernel sees one tensor operand: the engine's view, with its dtype. */
export interface Operand {
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

/**
 * One dispatch: WGSL source (generated only on a pipeline-cache miss), integer parameters for the
 * `meta` uniform, the workgroup grid, and which operands bind after the output (binding 1).
 */
export interface KernelCall {
  key: string;
  source: () => string;
  meta: number[];
  grid: [number, number, number];
  /** Indices into the op's inputs, bound in order after the outputs (from binding 2 on for one output). */
  inputs: number[];
  /** Output buffers bound from binding 1 on (default 1); the inputs follow them. */
  outputs?: number;
  /** Write a scratch buffer of this many f32 instead of the op's output; a later call of the op reads it as input index SCRATCH. */
  toScratch?: number;
  /** The call reads the output it writes (an epilogue in place): what it writes depends on what was there. */
  readsOutput?: boolean;
  /** Bind the output as array<atomic<u32>> (scatterAdd's compare-and-swap float adds). */
  atomicOut?: boolean;
  /**
   * Bind the backend's error record at binding 5 (kernels that validate indices). The last meta
   * word is the dispatch's slot in the record, which the backend fills in, so an error found later
   * is charged to the tensor this dispatch wrote.
   */
  errors?: boolean;
}

/** The input index under which a call reads the scratch buffer an earlier call of the same op wrote. */
export const SCRATCH = -1;

/** WGSL storage element type: bool is stored as one u32 per element, f16 as f16 (shader-f16). */
export function storageType(d: DType): string {
  switch (d) {
    case 'f16': return 'f16';
    case 'f32': return 'f32';
    case 'i32': return 'i32';
    case 'bool': return 'u32';
    case 'f64': throw new Error('f64 has no WGSL storage type');
  }
}

/** WGSL value type an element is computed in: f16 values are computed in f32 and rounded per op. */
export function valueType(d: DType): string {
  return d === 'bool' ? 'bool' : d === 'f16' ? 'f32' : storageType(d);
}

/** Reads element `idx` of binding `name` as its value type. */
export function load(name: string, d: DType, idx: string): string {
  return d === 'bool' ? `(${name}[${idx}] != 0u)` : d === 'f16' ? `f32(${name}[${idx}])` : `${name}[${idx}]`;
}

/** Converts a value expression of type `from` into storage form for `to`. */
export function store(expr: string, to: DType): string {
  return to === 'bool' ? `select(0u, 1u, ${expr})` : to === 'f16' ? `to_f16(${expr})` : expr;
}

/** The directive a shader with f16 storage starts with. */
export function enableFor(dtypes: readonly DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

/** The `meta` uniform (ints) with 16-byte array stride, and its accessor m(i). */
export function metaDecl(count: number): string {
  const vecs = Math.max(1, Math.ceil(count / 4));
  return `struct Meta { v: array<vec4<i32>, ${vecs}> }
@group(0) @binding(0) var<uniform> params: Meta;
fn m(i: u32) -> i32 { return params.v[i / 4u][i % 4u]; }`;
}

export const MAX_GROUPS = 65535;

/** A grid of `groups` workgroups folded into x and y under the per-dimension limit. */
export function grid1d(groups: number): [number, number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

/** The linear invocation index for a grid built by grid1d with `size` threads per workgroup. */
export function linearIndex(size: number): string {
  return `(wid.y * nwg.x + wid.x) * ${size}u + lid.x`;
}

export const BUILTINS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>';

/**
 * Unravels a linear index `i` over a shape held in meta at `shapeAt`, accumulating one offset per
 * stride set (each set at meta[at .. at+rank), its base offset at meta[at+rank]).
 */
export function unravel(rank: number, shapeAt: number, sets: { name: string; at: number }[], i = 'i'): string {
  const lines = sets.map((s) => `var ${s.name} = m(${s.at + rank}u);`);
  lines.push(`var rem = ${i};`);
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`{ let size = u32(m(${shapeAt + d}u)); let c = i32(rem % size); rem = rem / size;`);
    for (const s of sets) lines.push(`  ${s.name} += c * m(${s.at + d}u);`);
    lines.push('}');
  }
  return lines.join('\n  ');
}

/** Math WGSL lacks or defines differently from PyTorch, prepended where a snippet uses it. */
export const PRELUDE: Record<string, string> = {
  // By bits: WGSL lets a compiler assume no NaN, so x != x may be folded to false.
  isnan_f32: `fn isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }`,
  // max/min/clamp that propagate NaN as PyTorch does (WGSL's builtins may return either operand).
  maxn_f32: `fn maxn_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, isnan_f32(b)), a, isnan_f32(a)); }`,
  minn_f32: `fn minn_f32(a: f32, b: f32) -> f32 { return select(select(min(a, b), b, isnan_f32(b)), a, isnan_f32(a)); }`,
  clampn_f32: `fn clampn_f32(a: f32, lo: f32, hi: f32) -> f32 { return select(min(max(a, lo), hi), a, isnan_f32(a)); }`,
  // i32(x) clamps to the largest f32 below 2^31 (2147483520); saturate to i32's own range as the CPU does.
  f32_to_i32: `fn f32_to_i32(x: f32) -> i32 {
  if (isnan_f32(x)) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return i32(-2147483647 - 1); }
  return i32(x);
}`,
  // f32 to f16 rounding to nearest, with overflow to infinity and NaN kept: WGSL leaves both of those undefined for f16(x).
  to_f16: `fn to_f16(x: f32) -> f16 {
  // vars: a NaN or infinite constant expression is rejected.
  var nan_bits = 0x7e007e00u;
  var inf_bits = 0x7c007c00u;
  if (isnan_f32(x)) { return bitcast<vec2<f16>>(nan_bits).x; }
  if (abs(x) >= 65520.0) { return select(-bitcast<vec2<f16>>(inf_bits).x, bitcast<vec2<f16>>(inf_bits).x, x > 0.0); }
  // Past the largest f16 but rounding down to it: said outright, not left to a conversion of an out-of-range value.
  if (abs(x) > 65504.0) { return select(-65504.0h, 65504.0h, x > 0.0); }
  return f16(x);
}`,
  // An f32 value rounded as storing it in f16 would: the result of every op whose dtype is f16.
  round_f16: `fn round_f16(x: f32) -> f32 { return f32(to_f16(x)); }`,
  maxn_i32: `fn maxn_i32(a: i32, b: i32) -> i32 { return max(a, b); }`,
  minn_i32: `fn minn_i32(a: i32, b: i32) -> i32 { return min(a, b); }`,
  clampn_i32: `fn clampn_i32(a: i32, lo: i32, hi: i32) -> i32 { return min(max(a, lo), hi); }`,
  erf_f32: `fn erf_f32(x: f32) -> f32 {
  // Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7).
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}`,
  pow_f32: `fn pow_f32(a: f32, b: f32) -> f32 {
  // WGSL's pow is undefined for a < 0; PyTorch gives real results for integral exponents.
  if (b == 0.0) { return 1.0; }
  let r = pow(abs(a), b);
  if (a >= 0.0) { return r; }
  var nan_bits = 0x7fc00000u; // a var: a NaN constant expression is rejected
  if (fract(b) != 0.0) { return bitcast<f32>(nan_bits); }
  return select(r, -r, fract(b * 0.5) != 0.0);
}`,
};

/** The PRELUDE functions `code` calls, less those already defined in `defined` (WGSL refuses a second definition). */
export function preludeFor(code: string, defined = ''): string {
  const used = new Set(Object.keys(PRELUDE).filter((name) => code.includes(`${name}(`)));
  if (used.has('round_f16')) used.add('to_f16');
  // The NaN-aware helpers call isnan_f32.
  if ([...used].some((n) => PRELUDE[n]!.includes('isnan_f32(') && n !== 'isnan_f32')) used.add('isnan_f32');
  return Object.keys(PRELUDE).filter((n) => used.has(n) && !defined.includes(`fn ${n}(`)).map((n) => PRELUDE[n]).join('\n');
}
