/** @file What keeps tests apart: a GPU error a test leaves unread is raised by the check after that test, and is gone for the next. */
import { describe, expect, it } from 'vitest';
import { randn, tensor } from '../../index.js';
import { settleBackends, webgpuBackend } from '../backends.js';

// Throws when GRAFT_REQUIRE_WEBGPU=1 and no adapter exists; without it, the suite needs one to mean anything.
const gpu = await webgpuBackend();

describe.skipIf(gpu === null)('test isolation (WebGPU)', () => {
  it('the after-each check raises a GPU error left unread, once', async () => {
    const backend = gpu;
    const x = randn([2, 3], { backend: backend! });
    const bad = x.gather(1, tensor([[0, 9]], { dtype: 'i32', backend: backend! }));
    // Nothing reads `bad`: without the check, the next test's first read would raise this error.
    await expect(settleBackends()).rejects.toThrow(/gather: index 9 is out of range/);
    await settleBackends();
    x.dispose();
    bad.dispose();
  });

  it('the next test starts clean', async () => {
    const backend = gpu!;
    expect(Array.from(await tensor([1, 2], { backend }).add(1).data())).toEqual([2, 3]);
  });
});
