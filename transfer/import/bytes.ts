/** @file Byte inputs as plain Uint8Array views: a Node Buffer is a view into a shared pool, and its slice() does not copy. */
import { GraftFormatError } from '../../index.js';

/**
 * The same bytes as a plain Uint8Array over exactly `byteOffset`..`byteOffset + byteLength` of
 * the input's memory, so `slice()` copies and `.buffer` is never read past the view.
 */
export function plainBytes(bytes: Uint8Array | ArrayBuffer, what: string): Uint8Array {
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) throw new GraftFormatError(`${what}: expected bytes (a Uint8Array or ArrayBuffer), got ${Object.prototype.toString.call(bytes)}`);
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A copy of `bytes[begin, end)` in its own aligned buffer, so typed arrays can read it. */
export function alignedCopy(bytes: Uint8Array, begin: number, end: number): ArrayBuffer {
  const out = new Uint8Array(end - begin);
  out.set(bytes.subarray(begin, end));
  return out.buffer;
}
