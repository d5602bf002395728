/** @file The error record kernels report into (out-of-range indices, i32 sums that overflow), and the messages its slots decode to. */

/** The backend's error record: per dispatch slot [flag, code, a, b], read back at the next sync. */
export const ERROR_BINDING = '@group(0) @binding(5) var<storage, read_write> errors: array<atomic<u32>>;';

export const ERROR_SLOT_WORDS = 4;

/** What a slot's code means; a and b are the words the kernel stored with it. */
export const GPU_ERRORS = {
  gather: (a: number, b: number) => `gather: index ${a | 0} is out of range for a dimension of size ${b} (found on the GPU)`,
  scatterAdd: (a: number, b: number) => `scatterAdd: index ${a | 0} is out of range for a dimension of size ${b} (found on the GPU)`,
  sum: (a: number, b: number) => `sum: the i32 sum ${BigInt.asIntN(64, (BigInt(b) << 32n) | BigInt(a))} overflows i32 (found on the GPU; cast to f32 first)`,
} as const;

export type GpuErrorKind = keyof typeof GPU_ERRORS;

const CODES = Object.keys(GPU_ERRORS) as GpuErrorKind[];

/** The message of a slot holding `code`, `a`, `b`. */
export function describeGpuError(code: number, a: number, b: number): string {
  return GPU_ERRORS[CODES[code] ?? 'gather'](a, b);
}

/**
 * WGSL that records the first error of this dispatch into its slot (the meta word at `slotAt`):
 * `a` and `b` are u32 expressions.
 */
export function reportError(kind: GpuErrorKind, slotAt: number, a: string, b: string): string {
  return `let e = u32(m(${slotAt}u)) * ${ERROR_SLOT_WORDS}u;
    if (atomicCompareExchangeWeak(&errors[e], 0u, 1u).exchanged) {
      atomicStore(&errors[e + 1u], ${CODES.indexOf(kind)}u); atomicStore(&errors[e + 2u], ${a}); atomicStore(&errors[e + 3u], ${b});
    }`;
}
