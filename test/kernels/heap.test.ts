/** @file The wasm heap CPU tensors live in: size classes, reuse zeroed, the JavaScript fallback when it is full, values across memory growth, and reads that are copies reuse cannot touch. */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { full, tensor } from '../../index.js';
import { WasmHeap, blockSize } from '../../kernels/cpu/heap.js';
import { tensorHeap } from '../../kernels/cpu/wasm.js';

const dataOf = (b: unknown) => (b as { data: Float32Array }).data;

describe('wasm heap', () => {
  it('serves each request from a class at most a quarter larger, in multiples of a cache line', () => {
    for (const bytes of [1, 64, 65, 100, 1000, 4096, 4097, 123_457, 3 * 2 ** 20 + 5]) {
      const s = blockSize(bytes);
      expect(s).toBeGreaterThanOrEqual(bytes);
      expect(s % 64).toBe(0);
      expect(s).toBeGreaterThanOrEqual(bytes + 16); // room for a four-lane store starting at the last element
      if (bytes > 256) expect(s).toBeLessThanOrEqual((bytes + 16) * 1.25 + 64);
    }
    expect(blockSize(4097)).toBe(blockSize(5000)); // one class
  });

  it('reuses a released block zeroed, grows the memory for new ones, and reports 0 once past its limit', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16 });
    const heap = new WasmHeap(memory, 4 * 65536);
    const a = heap.alloc(1000);
    new Uint8Array(memory.buffer, a, 1000).fill(9);
    heap.release(a, 1000);
    expect(heap.alloc(900)).toBe(a); // the same class
    expect(new Uint8Array(memory.buffer, a, 1000).every((v) => v === 0)).toBe(true);
    const big = heap.alloc(2 * 65536);
    expect([a % 64, big % 64]).toEqual([0, 0]);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(big + 2 * 65536);
    expect(heap.alloc(3 * 65536)).toBe(0);
    expect(heap.inUse).toBe(blockSize(900) + blockSize(2 * 65536));
  });

  it('holds CPU tensors in wasm memory, falls back to a JavaScript array when full, and keeps values across growth', () => {
    const h = tensorHeap();
    expect(h, 'this platform has shared wasm memory').not.toBeNull();
    const b = new CpuBackend();
    const t = b.alloc(4096, 'f32');
    expect(dataOf(t).buffer).toBeInstanceOf(SharedArrayBuffer);
    b.write(t, new Float32Array(4096).fill(7));
    const before = h!.memory.buffer.byteLength;
    const huge = b.alloc(64 * 2 ** 20, 'f32'); // grows the memory
    expect(h!.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(b.readSync(t).every((v) => v === 7)).toBe(true);
    b.free(huge);
    const tiny = b.alloc(16, 'f32');
    expect(dataOf(tiny).buffer).not.toBeInstanceOf(SharedArrayBuffer); // below the heap's threshold
    b.free(t);
    // alloc's contents are unspecified (kernels write every output element); allocFull zeroes a reused block.
    const again = b.allocFull(4096, 'i32', 0);
    expect(b.readSync(again).every((v) => v === 0)).toBe(true);
  });

  it('keeps values read before a dispose intact after the block is reused', async () => {
    const backend = new CpuBackend();
    const t = full([64, 64], 3, 'f32', { backend });
    const read = await t.data();
    t.dispose();
    const u = tensor(new Float32Array(4096).fill(-1), { shape: [64, 64], backend });
    expect(read.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(read.every((v) => v === 3)).toBe(true);
    expect((await u.data()).every((v) => v === -1)).toBe(true);
  });
});
