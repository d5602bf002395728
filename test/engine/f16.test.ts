/** @file f16 tensors: rounding on creation and after every op, promotion, storage and reads on every backend, and the refusal where an adapter lacks shader-f16. */
import { describe, expect, it } from 'vitest';
import { GraftDTypeError, type Tensor, type WebGPUBackend, createWebGPUBackend, functional as F, nn, randn, tensor } from '../../index.js';
import { getBackend, setBackend } from '../../engine/backend.js';
import { loadSafetensors, saveSafetensors } from '../../transfer/index.js';
import { f16ToF32, f32ToF16, roundF16, roundF16Array } from '../../core/half.js';
import { testBackends } from '../backends.js';

const BACKENDS = await testBackends();

describe('f16 rounding (core)', () => {
  it('rounds to nearest, ties to even, in the normal, subnormal and overflow ranges', () => {
    expect(roundF16(0.1)).toBe(0.0999755859375);
    expect(roundF16(1 + 2 ** -11)).toBe(1); // a tie: to the even neighbour
    expect(roundF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundF16(65504)).toBe(65504);
    expect(roundF16(65519.99)).toBe(65504);
    expect(roundF16(65520)).toBe(Infinity);
    expect(roundF16(-70000)).toBe(-Infinity);
    expect(roundF16(2 ** -25)).toBe(0); // half the smallest subnormal: ties to even (zero)
    expect(roundF16(3 * 2 ** -25)).toBe(2 ** -23);
    expect(roundF16(2 ** -24 * 0.51)).toBe(2 ** -24);
    expect(Number.isNaN(roundF16(NaN))).toBe(true);
    expect(Object.is(roundF16(-0), -0)).toBe(true);
  });

  it('agrees with the bit-level conversion for every f16 value and its neighbourhood, in place over arrays too', () => {
    const probes: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (!Number.isFinite(v)) continue;
      // The value, and points a quarter and a half of the way to the next f16 (exact ties included).
      const next = f16ToF32(h + 1 === 0x7c00 || h + 1 === 0xfc00 ? h : h + 1);
      probes.push(v, v + (next - v) / 4, v + (next - v) / 2, v + ((next - v) * 3) / 4);
    }
    const arr = Float32Array.from(probes);
    const viaBits = Float32Array.from(arr, (v) => f16ToF32(f32ToF16(v)));
    const scalar = Float32Array.from(arr, (v) => roundF16(v));
    roundF16Array(arr);
    expect(Array.from(arr)).toEqual(Array.from(viaBits));
    expect(Array.from(scalar)).toEqual(Array.from(viaBits));
  });
});

for (const backend of BACKENDS) {
  describe(`f16 tensors on ${backend.name}`, () => {
    it('round their values on creation and read back as f32 numbers', async () => {
      const x = tensor([0.1, 65519, 65520, 1e-7, 3e-8, -2.5, NaN], { dtype: 'f16', backend });
      expect(x.dtype).toBe('f16');
      const got = Array.from(await x.data());
      expect(got).toEqual([0.0999755859375, 65504, Infinity, 2 * 2 ** -24, 2 ** -24, -2.5, NaN]);
    });

    it('round the result of every op, fused or not: overflow becomes infinity, as stored f16 does', async () => {
      const x = tensor([0.1, 300, 1], { dtype: 'f16', backend });
      const y = x.mul(300).add(1);
      expect(y.dtype).toBe('f16');
      // 0.0999755859375 * 300 = 29.99267578125 rounds to 30 before the add; 90,000 overflows.
      expect(Array.from(await y.data())).toEqual([31, Infinity, 301]);
      // Near the top of the range a kernel rounds as the host does: to 65504 below 65520, infinity from it.
      const top = tensor([65000, 65000, -65000], { dtype: 'f16', backend });
      // 65000 is stored as 64992: +520 gives 65512 (between 65504 and 65520), +528 gives 65520.
      expect(Array.from(await top.add(tensor([520, 528, -520], { dtype: 'f16', backend })).data())).toEqual([65504, Infinity, -65504]);
      // Rounded after each op, not once at the end: (1 + 3/1024)^2 loses its 9 * 2^-20 to f16 before the subtraction.
      const t = tensor([1 + 3 / 1024], { dtype: 'f16', backend });
      expect(Array.from(await t.mul(t).sub(1).data())).toEqual([6 / 1024]);
      // The same values in f32 keep what f16 loses.
      expect(Array.from(await x.float().mul(300).add(1).data())).toEqual([Math.fround(29.99267578125 + 1), 90001, 301]);
    });

    it('promote as PyTorch does: with f32 to f32, with a number or an i32 tensor to f16', () => {
      const h = tensor([1, 2], { dtype: 'f16', backend });
      expect(h.add(tensor([1, 2], { backend })).dtype).toBe('f32');
      expect(h.add(1.5).dtype).toBe('f16');
      expect(h.add(tensor([1, 2], { dtype: 'i32', backend })).dtype).toBe('f16');
      expect(h.matmul(h.reshape([2, 1])).dtype).toBe('f16');
    });

    it('read odd lengths and views at odd element offsets', async () => {
      const x = tensor([1, 2, 3, 4, 5], { dtype: 'f16', backend });
      expect(Array.from(await x.data())).toEqual([1, 2, 3, 4, 5]);
      expect(Array.from(await x.slice(0, 1, 4).mul(2).data())).toEqual([4, 6, 8]);
      expect(Array.from(await x.slice(0, 3).contiguous().data())).toEqual([4, 5]);
      expect(Array.from(await x.reshape([5, 1]).expand([5, 3]).sum(1).data())).toEqual([3, 6, 9, 12, 15]);
    });

    it('carry gradients in f16 and back through a cast into f32 leaves', async () => {
      const w = randn([4, 3], { backend, requiresGrad: true });
      const x = randn([2, 4], { backend }).half();
      const y = x.matmul(w.half()).relu().sum();
      expect(y.dtype).toBe('f16');
      y.backward();
      expect(w.grad!.dtype).toBe('f32');
      const ref = x.float().matmul(w.detach()).gt(0).float();
      // dL/dw = x^T 1[xw > 0] in f32 on the same f16 inputs, within f16 rounding of the forward.
      const expected = await x.float().transpose(0, 1).matmul(ref).data();
      const got = await w.grad!.data();
      got.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 2));
    });

    it('turn a module half and back (module.half(), module.float()): parameters, buffers and shared weights', async () => {
      const previous = getBackend();
      setBackend(backend);
      try {
        const lin = new nn.Linear(3, 3);
        const model = new nn.Sequential(lin, new nn.BatchNorm1d(3), lin);
        model.eval();
        const x = randn([4, 3], { backend });
        const want = await model.forward(x.half().float()).half().data();
        model.half();
        expect(model.parameters().map((p) => p.dtype)).toEqual(['f16', 'f16', 'f16', 'f16']);
        expect(model.parameters().length).toBe(4); // the shared Linear still counts once
        const sd = model.stateDict();
        expect(sd.get('1.running_var')!.dtype).toBe('f16');
        expect(sd.get('1.num_batches_tracked')!.dtype).toBe('i32');
        expect([...sd.values()].every((t) => t.dtype === 'f16' || t.dtype === 'i32')).toBe(true);
        const got = model.forward(x.half());
        expect(got.dtype).toBe('f16');
        // Rounded after each op rather than once: within a few f16 steps.
        (await got.data()).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-2 * (1 + Math.abs(want[i]!))));
        model.float();
        expect(model.parameters().every((p) => p.dtype === 'f32')).toBe(true);
      } finally {
        setBackend(previous);
      }
    });

    it('save to safetensors as F16 and load back widened to f32, or kept f16', async () => {
      const x = tensor([0.1, -2, 65504], { dtype: 'f16', backend });
      const bytes = await saveSafetensors({ x });
      expect(new TextDecoder().decode(bytes.subarray(8, 60))).toContain('"dtype":"F16"');
      const back = loadSafetensors(bytes).tensors.get('x')!;
      expect(back.dtype).toBe('f32');
      expect(Array.from(await back.data())).toEqual([0.0999755859375, -2, 65504]);
      const kept = loadSafetensors(bytes, { halfAs: 'f16', backend }).tensors.get('x')!;
      expect(kept.dtype).toBe('f16');
      expect(Array.from(await kept.data())).toEqual([0.0999755859375, -2, 65504]);
    });
  });
}

const gpu = BACKENDS[1] as WebGPUBackend | undefined;
describe.runIf(gpu)('f16 kernels on WebGPU', () => {
  const cpu = BACKENDS[0]!;
  const pipelines = () => [...(gpu as unknown as { pipelines: Map<string, unknown> }).pipelines.keys()];
  /** Within one f16 rounding step of the CPU reference (both sum in f32, then round). */
  const expectF16Close = (got: Float32Array, want: Float32Array) => got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(2 ** -10 * Math.abs(want[i]!) + 1e-6));

  it('runs each matmul kernel variant (tiled, register-blocked) on f16 storage to the CPU result', async () => {
    const a = randn([33, 20], { backend: cpu }).half();
    const b = randn([20, 12], { backend: cpu }).half();
    const want = a.matmul(b).dataSync() as Float32Array;
    const chosen = gpu!.caps.matmul;
    try {
      for (const variant of ['tiled', 'register', 'wide'] as const) {
        gpu!.caps.matmul = variant;
        const got = tensor(a.dataSync(), { shape: [33, 20], dtype: 'f16', backend: gpu }).matmul(tensor(b.dataSync(), { shape: [20, 12], dtype: 'f16', backend: gpu }));
        expect(got.dtype).toBe('f16');
        expectF16Close((await got.data()) as Float32Array, want);
      }
    } finally {
      gpu!.caps.matmul = chosen;
    }
    expect(pipelines().some((k) => k.startsWith('matmul:b0:f16,f16>f16#'))).toBe(true);
    expect(pipelines().some((k) => k.startsWith('matmul-rb:b0:f16,f16>f16#'))).toBe(true);
  });

  it('runs conv2d on f16 storage in each kernel family, its bias and clamp in the store, to the CPU result', async () => {
    const chosen = gpu!.caps.matmul;
    const on = (t: Tensor) => tensor(t.dataSync(), { shape: t.shape, dtype: 'f16', backend: gpu });
    try {
      // 8 output channels take the GEMM families' f16 kernels; 4 (and the register family) the f32 kernels on widened copies.
      for (const O of [8, 4]) {
        const x = randn([2, 3, 7, 7], { backend: cpu }).half();
        const w = randn([O, 3, 3, 3], { backend: cpu }).half();
        const bias = randn([O], { backend: cpu }).half();
        const want = F.conv2d(x, w, bias, { padding: 1, stride: 2, clamp: [0, 6] }).dataSync() as Float32Array;
        for (const variant of ['tiled', 'register', 'wide'] as const) {
          gpu!.caps.matmul = variant;
          const got = F.conv2d(on(x), on(w), on(bias), { padding: 1, stride: 2, clamp: [0, 6] });
          expect(got.dtype).toBe('f16');
          expectF16Close((await got.data()) as Float32Array, want);
        }
      }
    } finally {
      gpu!.caps.matmul = chosen;
    }
    expect(pipelines().some((k) => k.startsWith('conv2d:ebc:f16,f16,f16,f16'))).toBe(true);
    expect(pipelines().some((k) => k.startsWith('conv2d-wide:ebc:f16,f16,f16,f16'))).toBe(true);
  });
});

describe.runIf(gpu)('f16 on a WebGPU adapter without shader-f16', () => {
  it('is refused with an error that names the feature, never run as f32', async () => {
    const plain = await createWebGPUBackend(undefined, { withoutFeatures: ['shader-f16'] });
    if (typeof plain === 'string') throw new Error(plain);
    try {
      expect(plain.f16).toBe(false);
      expect(() => tensor([1, 2], { dtype: 'f16', backend: plain })).toThrow(GraftDTypeError);
      expect(() => tensor([1, 2], { dtype: 'f16', backend: plain })).toThrow(/f16 tensors need the adapter feature 'shader-f16'/);
      const x = tensor([1, 2], { backend: plain });
      expect(() => x.half()).toThrow(/shader-f16/);
    } finally {
      plain.destroy();
    }
  });
});
