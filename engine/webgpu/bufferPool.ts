/** @file GPU buffers recycled by size class, so steady-state training creates none. */

/** Rounds a byte count up to its class: powers of two up to 1 MiB, then steps of 1/8 of a power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.ceil(Math.log2(b));
  if (p <= 1 << 20) return p;
  const step = p / 16;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Bytes held by live tensors (size classes), the number a leak test watches. */
  liveBytes = 0;
  pooledBytes = 0;
  created = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    private maxPooledBytes = 512 * 1024 * 1024,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    const buf = list?.pop();
    this.liveBytes += size;
    if (buf) {
      this.pooledBytes -= size;
      return buf;
    }
    this.created++;
    return this.device.createBuffer({ size, usage: this.usage });
  }

  /** Over the pooling cap: destroyed after the next submit, since unsubmitted commands may still use them. */
  private doomed: GPUBuffer[] = [];

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.liveBytes -= size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.doomed.push(buf);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.pooledBytes += size;
  }

  /** Call after a submit: buffers released over the cap are no longer referenced by unsubmitted work. */
  reap(): void {
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  /** Destroys every pooled buffer (live ones stay with their tensors). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.reap();
    this.pooledBytes = 0;
  }
}
