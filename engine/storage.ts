/** @file A backend buffer shared by a tensor and its views, freed when the last of them lets go; its contents may still be a pending expression (lazy.ts). */
import type { Backend, BufferHandle } from './backend.js';

/** What a storage's pending contents or a pending reader of it must answer (implemented by lazy.ts's Expr). */
export interface Pending {
  /** Computes the values into the storage's buffer (and whatever else is pending with them). */
  realize(): void;
  /** The storage's last view is gone before its values were needed. */
  orphaned(): void;
  /** A storage this expression reads is about to be written in place: compute what depends on the old values now. */
  settle(): void;
}

export class Storage {
  private refs = 1;
  freed = false;
  /** Bumped by every in-place write (PyTorch's `_version`): what a cache of values derived from this storage compares. */
  version = 0;
  private _buffer: BufferHandle | null;
  /** Pending expressions that read this storage (made on first use: most storages never have one). */
  private _readers: Set<Pending> | null = null;
  /** Its values will be read again (autograd saved a view of it, or it was kept past its tidy scope), so a fused program writes them once rather than recomputing them later. */
  saved = false;

  constructor(
    readonly backend: Backend,
    buffer: BufferHandle | null,
    /** The expression whose values this storage holds once realized. */
    public pending: Pending | null = null,
  ) {
    this._buffer = buffer;
  }

  /** The backend buffer, computing pending contents first. */
  get buffer(): BufferHandle {
    if (this._buffer === null) this.pending!.realize();
    return this._buffer!;
  }

  get realized(): boolean {
    return this._buffer !== null;
  }

  /** Called by the expression that computed this storage's values into `buffer`. */
  fill(buffer: BufferHandle): void {
    this._buffer = buffer;
    this.pending = null;
  }

  get readers(): Set<Pending> {
    return (this._readers ??= new Set());
  }

  /** Before an in-place write: every pending expression reading the old values computes them now. */
  beforeWrite(): void {
    if (this._readers) for (const r of [...this._readers]) r.settle();
  }

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (this.freed) return;
    if (--this.refs === 0) {
      this.freed = true;
      if (this._buffer !== null) this.backend.free(this._buffer);
      else this.pending?.orphaned();
    }
  }
}
