/** @file Shared test helpers: fixture decoding and closeness checks with useful failure messages. */
import { expect } from 'vitest';
import { type DType, type Tensor, tensor } from '../index.js';
import type { CaseResult } from './engine/opInputs.js';

export interface Encoded {
  shape: number[];
  dtype: 'f64' | 'i32' | 'bool';
  data: number[];
}

/** A fixture tensor as graft's tensor; floats become `float` (f64 or f32). */
export function decode(e: Encoded, float: DType = 'f64', requiresGrad = false): Tensor {
  const dtype = e.dtype === 'f64' ? float : e.dtype;
  return tensor(e.data, { shape: e.shape, dtype, requiresGrad: requiresGrad && e.dtype === 'f64' });
}

/** Asserts |a - e| <= atol + rtol |e| elementwise, reporting the worst element. */
export function expectClose(actual: Tensor, expected: ArrayLike<number>, shape: readonly number[], atol: number, rtol: number, what = ''): void {
  expect(actual.shape, `${what} shape`).toEqual([...shape]);
  expectCloseArrays(actual.dataSync(), expected, atol, rtol, what);
}

/** Elementwise |a - e| <= atol + rtol |e| (NaN fails), naming the worst element. */
export function expectCloseArrays(a: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what = ''): void {
  expect(a.length, `${what} length`).toBe(expected.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(a[i]! - e) - (atol + rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${a[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** A case's output and gradients on some backend match the CPU reference's (1e-4). */
export function expectSameCase(got: CaseResult, ref: CaseResult, where: string, tol = 1e-4): void {
  expect(got.shape, `${where} shape`).toEqual(ref.shape);
  expect(got.dtype, `${where} dtype`).toBe(ref.dtype);
  expectCloseArrays(got.out, ref.out, tol, tol, `${where} forward`);
  ref.grads.forEach((rg, i) => {
    if (!rg) return;
    expect(got.grads[i], `${where} grad ${i}`).toBeTruthy();
    expectCloseArrays(got.grads[i]!, rg, tol, tol, `${where} grad ${i}`);
  });
}
