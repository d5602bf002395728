/** @file Checks of module and optimizer arguments, so a bad value fails where it is given, naming the class and the argument. */
import { GraftValueError } from '../../core/errors.js';

/** A size: a non-negative integer (PyTorch allows 0-sized layers). */
export function checkSize(owner: string, name: string, v: number, min = 0): void {
  if (!Number.isInteger(v) || v < min) throw new GraftValueError(`${owner}: ${name} must be an integer >= ${min}, got ${v}`);
}

/** A number in [lo, hi] (NaN fails). */
export function checkRange(owner: string, name: string, v: number, lo: number, hi: number): void {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new GraftValueError(`${owner}: ${name} must be a number in [${lo}, ${hi}], got ${String(v)}`);
}

/** A finite number >= 0 (learning rates, weight decay, eps). */
export function checkNonNegative(owner: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new GraftValueError(`${owner}: ${name} must be a finite number >= 0, got ${String(v)}`);
}
