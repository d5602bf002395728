/** @file The op tables agree: every concern (schema, gradient, each backend's kernels) has one entry per op of its kind, and a missing one does not compile. */
import { describe, expect, it } from 'vitest';
import { type KernelOp, OP_NAMES, type OpKind, SCHEMA, VIEWS } from '../../ops/schema.js';
import { GRADS } from '../../engine/grad.js';
import { type CpuKernel, KERNELS as CPU_KERNELS, SCALAR } from '../../engine/cpu/kernels.js';
import { SIMD } from '../../engine/cpu/simd.js';
import { KERNELS as WGSL_KERNELS, WGSL } from '../../engine/webgpu/kernels.js';

const opsOf = (...kinds: OpKind[]) => OP_NAMES.filter((op) => kinds.includes(SCHEMA[op].kind)).sort();
const keys = (table: object) => Object.keys(table).sort();

describe('op tables', () => {
  it('hold exactly the ops of their kind', () => {
    expect(keys(GRADS)).toEqual([...OP_NAMES].sort());
    expect(keys(VIEWS)).toEqual(opsOf('view'));
    expect(keys(SCALAR)).toEqual(opsOf('unary', 'binary', 'ternary'));
    expect(keys(SIMD)).toEqual(opsOf('unary', 'binary', 'ternary'));
    expect(keys(WGSL)).toEqual(opsOf('unary', 'binary', 'ternary'));
    expect(keys(CPU_KERNELS)).toEqual(opsOf('kernel'));
    expect(keys(WGSL_KERNELS)).toEqual(opsOf('kernel', 'reduce'));
    // Every kind is in use, so none of the lists above is vacuously empty.
    expect((['unary', 'binary', 'ternary', 'reduce', 'view', 'kernel'] as const).map((k) => opsOf(k).length > 0)).toEqual(Array(6).fill(true));
  });

  it('a table that forgets an op does not compile', () => {
    const { matmul, ...rest } = CPU_KERNELS;
    // @ts-expect-error matmul is missing
    const missing: { [K in KernelOp]: CpuKernel<K> } = rest;
    expect(Object.keys(missing)).not.toContain('matmul');
    expect(typeof matmul).toBe('function');
  });
});
