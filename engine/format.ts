/** @file Printing tensors the way PyTorch prints them. */
import type { DType, TypedArray } from '../core/dtype.js';

const EDGE = 3;
const SUMMARIZE_OVER = 1000;

function formatter(data: TypedArray, dtype: DType): (v: number) => string {
  if (dtype === 'bool') return (v) => (v ? 'true' : 'false');
  if (dtype === 'i32') return (v) => String(v);
  const finite = Array.from(data).filter((v) => Number.isFinite(v));
  const ints = finite.every((v) => Number.isInteger(v));
  const absMax = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const absMin = finite.filter((v) => v !== 0).reduce((m, v) => Math.min(m, Math.abs(v)), Infinity);
  const special = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (ints && absMax < 1e8) return (v) => (Number.isFinite(v) ? `${v}.` : special(v));
  if (absMax >= 1e8 || absMin < 1e-4) return (v) => (Number.isFinite(v) ? v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2') : special(v));
  return (v) => (Number.isFinite(v) ? v.toFixed(4) : special(v));
}

/** `tensor([[1., 2.], [3., 4.]], dtype=...)` with aligned columns and '...' for large tensors. */
export function formatTensor(data: TypedArray, shape: readonly number[], dtype: DType, extras: string[]): string {
  const fmt = formatter(data, dtype);
  const summarize = data.length > SUMMARIZE_OVER;
  const strs = Array.from(data, fmt);
  const width = strs.reduce((w, s) => Math.max(w, s.length), 0);
  const cell = (i: number) => strs[i]!.padStart(width);
  const strides: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i]!;
  }
  const indent = 'tensor('.length;
  const render = (d: number, at: number): string => {
    if (d === shape.length) return cell(at);
    const n = shape[d]!;
    const idx = summarize && n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()];
    const parts = idx.map((i) => (i < 0 ? '...' : render(d + 1, at + i * strides[d]!)));
    if (d === shape.length - 1) return `[${parts.join(', ')}]`;
    const sep = ',' + '\n'.repeat(shape.length - d - 1) + ' '.repeat(indent + d + 1);
    return `[${parts.join(sep)}]`;
  };
  const body = shape.length === 0 ? fmt(data[0]!) : render(0, 0);
  return `tensor(${body}${extras.map((e) => `, ${e}`).join('')})`;
}
