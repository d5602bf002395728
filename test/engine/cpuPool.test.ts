/** @file The CPU backend's buffer reuse: a recycled array comes back zeroed, and data read earlier is a copy that reuse cannot touch. */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { full, tensor } from '../../index.js';

describe('cpu buffer pool', () => {
  it('hands a freed array out again, zeroed', () => {
    const b = new CpuBackend();
    const first = b.alloc(4096, 'f32');
    b.write(first, new Float32Array(4096).fill(7));
    b.free(first);
    const second = b.alloc(4096, 'f32');
    expect((second as unknown as { data: Float32Array }).data).toBe((first as unknown as { data: Float32Array }).data);
    expect(b.readSync(second).every((v) => v === 0)).toBe(true);
    expect(b.alloc(4096, 'i32').dtype).toBe('i32'); // a different dtype never gets the f32 array
  });

  it('keeps values read before a dispose intact after the array is reused', async () => {
    const backend = new CpuBackend();
    const t = full([64, 64], 3, 'f32', { backend });
    const read = await t.data();
    t.dispose();
    const u = tensor(new Float32Array(4096).fill(-1), { shape: [64, 64], backend });
    expect(read.every((v) => v === 3)).toBe(true);
    expect((await u.data()).every((v) => v === -1)).toBe(true);
  });
});
