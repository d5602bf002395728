/** @file Typed errors: every failure names the op, the shapes or the object that was wrong. */

/** Base class of every error graft throws on purpose. */
export class GraftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit an op: `matmul: [2,3] x [4,5]: inner dimensions 3 and 4 differ`. */
export class GraftShapeError extends GraftError {}

/** A dtype an op or backend does not accept. */
export class GraftDTypeError extends GraftError {}

/** Use of an object in the wrong state: a disposed tensor, a graph already freed, a bad index. */
export class GraftStateError extends GraftError {}

/** An argument whose value is out of its domain: a negative size, a rate above 1, a learning rate that is not a finite number >= 0, a value that does not fit its dtype. */
export class GraftValueError extends GraftError {}

/** Formats a shape the way error messages print it: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** A file that is not what it claims to be; the message names the file and the offset or key. */
export class GraftFormatError extends GraftError {}
