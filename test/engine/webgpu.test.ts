/** @file WebGPU runtime: batching, limits and errors named clearly (memory soaks are in memory.soak.ts). */
import { describe, expect, it } from 'vitest';
import { WebGPUBackend, createWebGPUBackend, functional as F, randn, tensor, zeros } from '../../index.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { webgpuBackend } from '../backends.js';

const gpu = (await webgpuBackend()) as WebGPUBackend | null;

describe.runIf(gpu)('webgpu runtime', () => {
  const backend = gpu!;

  it('survives 100,000 dispatches (Dawn fails past about 65k bind groups)', async () => {
    backend.fusion = false;
    try {
      let t = zeros([4], 'f32', { backend });
      const one = tensor([1], { backend });
      for (let i = 0; i < 100_000; i++) {
        const next = t.add(one);
        t.dispose();
        t = next;
      }
      expect(Array.from(await t.data())).toEqual([100000, 100000, 100000, 100000]);
    } finally {
      backend.fusion = true;
    }
  });

  it('never destroys a released buffer that unsubmitted work still reads', async () => {
    const pool = backend.pool as unknown as { maxPooledBytes: number };
    const cap = pool.maxPooledBytes;
    pool.maxPooledBytes = 0; // every release goes over the cap
    try {
      let t = tensor([1, 2, 3, 4], { backend });
      for (let i = 0; i < 20; i++) {
        const next = t.mul(2);
        t.dispose(); // released while the mul that reads it is still unsubmitted
        t = next;
      }
      expect(Array.from(await t.data())).toEqual([1, 2, 3, 4].map((v) => v * 2 ** 20));
    } finally {
      pool.maxPooledBytes = cap;
    }
  });

  it('runs both matmul kernels (tiled and register-blocked) to the CPU result, and tuned one for this adapter', async () => {
    expect(['tiled', 'register', 'wide']).toContain(backend.caps.matmul);
    const chosen = backend.caps.matmul;
    const cpu = new CpuBackend();
    const a = randn([33, 20], { backend: cpu });
    const b = randn([20, 12], { backend: cpu });
    const want = a.matmul(b).dataSync();
    try {
      for (const variant of ['tiled', 'register', 'wide'] as const) {
        backend.caps.matmul = variant;
        const got = await tensor(a.dataSync(), { shape: [33, 20], backend }).matmul(tensor(b.dataSync(), { shape: [20, 12], backend })).data();
        got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
      }
      backend.caps.matmul = 'register';
      const w = randn([12, 20], { backend: cpu });
      const wantNT = a.matmul(w.T).dataSync();
      const gotNT = await tensor(a.dataSync(), { shape: [33, 20], backend }).matmul(tensor(w.dataSync(), { shape: [12, 20], backend }).T).data();
      gotNT.forEach((v, i) => expect(v).toBeCloseTo(wantNT[i]!, 4));
      const keys = [...(backend as unknown as { pipelines: Map<string, unknown> }).pipelines.keys()];
      expect(keys.some((k) => k.startsWith('matmul-rb-nt'))).toBe(true);
      expect(keys.some((k) => k.startsWith('matmul-rb'))).toBe(true);
      expect(keys.some((k) => k.startsWith('matmul:'))).toBe(true);
    } finally {
      backend.caps.matmul = chosen;
    }
  });

  it('runs the wide double-buffered matmul to the CPU result over several tiles, with vec4 and scalar loads', async () => {
    const chosen = backend.caps.matmul;
    const cpu = new CpuBackend();
    backend.caps.matmul = 'wide';
    try {
      // [M, K] x [K, N]: whole vec4s and several 64-wide tiles and 16-deep steps; then odd sizes; then a transposed B and a batch.
      for (const [M, K, N, transposeB, batch] of [[130, 100, 68, false, 0], [67, 33, 65, false, 0], [70, 48, 72, true, 0], [20, 16, 12, false, 3]] as const) {
        const a = randn(batch ? [batch, M, K] : [M, K], { backend: cpu });
        const b = transposeB ? randn([N, K], { backend: cpu }).transpose(0, 1) : randn([K, N], { backend: cpu });
        const want = a.matmul(b).dataSync();
        const on = (t: typeof a) => tensor(t.contiguous().dataSync(), { shape: t.shape, backend });
        const gb = transposeB ? tensor(b.transpose(0, 1).contiguous().dataSync(), { shape: [N, K], backend }).transpose(0, 1) : on(b);
        const got = await on(a).matmul(gb).data();
        got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!))));
      }
      const keys = [...(backend as unknown as { pipelines: Map<string, unknown> }).pipelines.keys()];
      expect(keys.some((k) => k.startsWith('matmul-wide:b0:vavb:'))).toBe(true);
      expect(keys.some((k) => k.startsWith('matmul-wide:b0:sasb:'))).toBe(true);
      expect(keys.some((k) => k.startsWith('matmul-wide:b0:vasb:'))).toBe(true);
      expect(keys.some((k) => k.startsWith('matmul-wide:b1:'))).toBe(true);
    } finally {
      backend.caps.matmul = chosen;
    }
  });

  it('applies the conv bias and clamp inside every conv kernel family (and after the matmul route), to the CPU result', async () => {
    const chosen = backend.caps.matmul;
    const cpu = new CpuBackend();
    const shapes: [number[], number[], number][] = [[[2, 6, 9, 9], [6, 1, 3, 3], 6], [[2, 4, 7, 7], [6, 2, 3, 3], 2], [[2, 3, 8, 8], [12, 3, 3, 3], 1], [[2, 8, 5, 6], [16, 8, 1, 1], 1]];
    try {
      for (const variant of ['tiled', 'register', 'wide'] as const) {
        backend.caps.matmul = variant;
        for (const [xs, ws, groups] of shapes) {
          const [x, w, b] = [randn(xs, { backend: cpu }), randn(ws, { backend: cpu }), randn([ws[0]!], { backend: cpu })];
          const opts = { padding: 1 as const, groups, clamp: [-0.5, 0.7] as [number, number] };
          const want = F.conv2d(x, w, b, opts).dataSync();
          const on = (t: typeof x) => tensor(t.dataSync(), { shape: [...t.shape], backend });
          const got = await F.conv2d(on(x), on(w), on(b), opts).data();
          got.forEach((v, i) => expect(v, `${variant} ${xs} ${ws} element ${i}`).toBeCloseTo(want[i]!, 4));
        }
      }
      const keys = [...(backend as unknown as { pipelines: Map<string, unknown> }).pipelines.keys()];
      for (const family of ['conv2d:ebc', 'conv2d-direct:', 'conv2d-dw:', 'conv2d-rb:', 'conv2d-wide:ebc']) expect(keys.some((k) => k.startsWith(family) && k.includes(':ebc')), family).toBe(true);
      expect(keys.some((k) => k.startsWith('convEpilogue:ebc'))).toBe(true);
    } finally {
      backend.caps.matmul = chosen;
    }
  });

  it('records many dispatches before a sync point', async () => {
    backend.fusion = false;
    try {
      const before = backend.dispatches;
      let t = zeros([4], 'f32', { backend });
      for (let i = 0; i < 50; i++) t = t.add(1);
      expect(backend.dispatches - before).toBeGreaterThanOrEqual(50);
      expect(Array.from(await t.data())).toEqual([50, 50, 50, 50]);
    } finally {
      backend.fusion = true;
    }
  });

  it('refuses f64 and names the limit for a buffer over it', () => {
    expect(() => zeros([2], 'f64', { backend })).toThrow(/f64 tensors are not supported on WebGPU/);
    const limit = backend.limits.maxStorageBufferBindingSize;
    const big = tensor([1], { backend }).expand([limit / 4 + 1]);
    expect(() => big.contiguous()).toThrow(new RegExp(`contiguous on \\[${limit / 4 + 1}\\] f32: webgpu: a f32 tensor of ${limit / 4 + 1} elements needs ${limit + 4} bytes, over the device's storage binding limit of ${limit} bytes`));
  });

  it('charges an out-of-range index found on the GPU to the tensor it spoilt, on every read, and to nothing else', async () => {
    const x = randn([2, 3], { backend });
    const bad = x.gather(1, tensor([[0, 7]], { dtype: 'i32', backend }));
    const good = x.gather(1, tensor([[2, 1]], { dtype: 'i32', backend }));
    const derived = bad.mul(2).add(1);
    const unrelated = tensor([1, 2], { backend }).add(1);
    // Read an unrelated tensor first: it is not the one at fault.
    expect(Array.from(await unrelated.data())).toEqual([2, 3]);
    await expect(bad.data()).rejects.toThrow(/gather: index 7 is out of range for a dimension of size 3/);
    await expect(bad.data()).rejects.toThrow(/gather: index 7 is out of range/);
    await expect(derived.data()).rejects.toThrow(/gather: index 7 is out of range/);
    const xs = await x.data();
    expect(Array.from(await good.data())).toEqual([xs[2], xs[1]]);
    // A sync reports an error found since the last check once.
    const bad2 = x.gather(1, tensor([[-1, 0]], { dtype: 'i32', backend }));
    await expect(backend.sync()).rejects.toThrow(/gather: index -1 is out of range/);
    await backend.sync();
    await expect(bad2.data()).rejects.toThrow(/index -1/);
    for (const t of [x, bad, good, derived, unrelated, bad2]) t.dispose();
  });

  it('reads strided and boolean tensors back correctly', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { backend });
    expect(Array.from(await x.T.data())).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(await x.gt(2.5).data())).toEqual([0, 0, 1, 1, 1, 1]);
    expect(await x.sum().item()).toBe(21);
  });

  it('names the op and kernel when a shader fails to compile, at the next sync', async () => {
    const out = zeros([1], 'f32', { backend });
    const buffer = (out.storage.buffer as unknown as { buffer: GPUBuffer }).buffer;
    const broken = { key: 'broken-kernel', source: () => 'fn main( {', meta: [0], grid: [1, 1, 1] as [number, number, number], inputs: [] };
    (backend as unknown as { dispatchBuffers: (op: string, c: typeof broken, b: GPUBuffer[], d: () => string) => void }).dispatchBuffers('myop', broken, [buffer], () => '[1]');
    await expect(backend.sync()).rejects.toThrow(/myop: kernel 'broken-kernel' failed to compile/);
    expect(Array.from(await tensor([3], { backend }).data())).toEqual([3]);
  });

  it('fails clearly after the device is lost, never hangs', async () => {
    const other = await createWebGPUBackend();
    if (typeof other === 'string') throw new Error(other);
    const x = tensor([1, 2], { backend: other });
    other.device.destroy();
    await other.device.lost;
    expect(() => x.add(1)).toThrow(/the device was lost/);
    await expect(x.data()).rejects.toThrow(/the device was lost/);
  });

  it('says which adapter it runs on', () => {
    expect(typeof backend.info.vendor).toBe('string');
    expect(backend.info.vendor.length + backend.info.description.length + backend.info.architecture.length).toBeGreaterThan(0);
  });
});
