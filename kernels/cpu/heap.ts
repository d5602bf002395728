/** @file A size-class allocator over the CPU kernels' WebAssembly memory: tensors and kernel scratch live where wasm kernels read them in place. */

/** Bytes kept past the last block, so a kernel's vector may read a few lanes past a buffer's end without leaving memory. */
const GUARD = 64;
const PAGE = 65536;
const MIN_BLOCK = 64;

/**
 * The block size serving `bytes`: four classes per power of two (at most 25% unused), each a
 * multiple of 64 bytes so every block starts on a cache line (a vector load across two lines cost
 * the GEMM a third of its speed), with at least 16 bytes past the request so a four-lane store that
 * starts anywhere in the buffer stays inside its block.
 */
export function blockSize(request: number): number {
  const bytes = request + 16;
  if (bytes <= MIN_BLOCK) return MIN_BLOCK;
  const step = Math.max(MIN_BLOCK, 2 ** (Math.floor(Math.log2(bytes)) - 2));
  return Math.ceil(bytes / step) * step;
}

/**
 * Blocks of wasm memory handed out by size class and kept on free lists when released (wasm memory
 * never shrinks, so a freed block waits for the next request of its class). Fresh memory is zero;
 * reused blocks are zeroed on request, so no tensor sees another's values.
 */
export class WasmHeap {
  private top = MIN_BLOCK; // address 0 is never a block; every block starts on a multiple of MIN_BLOCK
  private readonly free = new Map<number, number[]>();
  /** Bytes in blocks handed out and not released. */
  inUse = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    /** Bytes the heap may span (the memory's maximum, less what other users need). */
    readonly limit: number,
    /** Zeroes `bytes` at an address: the wasm memory.fill where there is one. */
    readonly zero: (at: number, bytes: number) => void = (at, bytes) => new Uint8Array(memory.buffer, at, bytes).fill(0),
  ) {}

  /** A block of at least `bytes` at a 64-byte aligned address, or 0 when the heap is full. */
  alloc(bytes: number, zero = true): number {
    const size = blockSize(bytes);
    const reused = this.free.get(size)?.pop();
    if (reused !== undefined) {
      if (zero) this.zero(reused, size);
      this.inUse += size;
      return reused;
    }
    const end = this.top + size;
    if (end + GUARD > this.limit) return 0;
    const have = this.memory.buffer.byteLength;
    if (end + GUARD > have) {
      try {
        this.memory.grow(Math.ceil((end + GUARD - have) / PAGE));
      } catch {
        return 0;
      }
    }
    const at = this.top;
    this.top = end;
    this.inUse += size;
    return at;
  }

  /** Returns a block from `alloc(bytes)`. */
  release(at: number, bytes: number): void {
    const size = blockSize(bytes);
    const list = this.free.get(size);
    if (list) list.push(at);
    else this.free.set(size, [at]);
    this.inUse -= size;
  }

  /** Bytes the heap has taken from memory so far (in use or on free lists). */
  get spanned(): number {
    return this.top;
  }
}
