/** @file A backend buffer shared by a tensor and its views, freed when the last of them lets go. */
import type { Backend, BufferHandle } from './backend.js';

export class Storage {
  private refs = 1;
  freed = false;
  /** Bumped by every in-place write (PyTorch's `_version`): what a cache of values derived from this storage compares. */
  version = 0;
  constructor(
    readonly backend: Backend,
    readonly buffer: BufferHandle,
  ) {}

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (this.freed) return;
    if (--this.refs === 0) {
      this.freed = true;
      this.backend.free(this.buffer);
    }
  }
}
