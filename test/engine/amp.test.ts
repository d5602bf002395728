/** @file Mixed precision: autocast's per-op dtypes and gradients, GradScaler's skipping and scale schedule, and f16 training reaching f32's accuracy, on every backend. */
import { describe, expect, it } from 'vitest';
import { type Backend, Generator, type Tensor, type WebGPUBackend, amp, createWebGPUBackend, functional as F, nn, noGrad, optim, randn, tensor } from '../../index.js';
import { getBackend, setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';

const BACKENDS = await testBackends();
const { autocast, GradScaler } = amp;

/** `make()` built on `backend` (modules take the current backend), its parameters drawn from `seed`. */
function seeded<M extends nn.Module>(backend: Backend, seed: number, make: () => M): M {
  const previous = getBackend();
  setBackend(backend);
  try {
    const m = make();
    const g = new Generator(seed);
    noGrad(() => {
      for (const p of m.parameters()) {
        const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1);
        p.copy_(tensor(Float32Array.from({ length: p.size }, () => (g.uniform() * 2 - 1) / Math.sqrt(fanIn)), { shape: p.shape, backend }));
      }
    });
    return m;
  } finally {
    setBackend(previous);
  }
}

/** Three interleaved spirals in the plane, `per` points each. */
function spirals(per: number, backend: Backend): { x: Tensor; y: Tensor } {
  const g = new Generator(7);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < per; i++) {
      const r = i / per;
      const t = (c * 2 * Math.PI) / 3 + 4 * r + 0.2 * (g.uniform() - 0.5);
      xs.push(r * Math.cos(t), r * Math.sin(t));
      ys.push(c);
    }
  }
  return { x: tensor(xs, { shape: [3 * per, 2], backend }), y: tensor(ys, { dtype: 'i32', backend }) };
}

/** 8x8 images of a horizontal, vertical or diagonal stroke at a random place, with noise. */
function strokes(n: number, backend: Backend): { x: Tensor; y: Tensor } {
  const g = new Generator(11);
  const px = new Float32Array(n * 64);
  const ys: number[] = [];
  for (let s = 0; s < n; s++) {
    const c = s % 3;
    const at = 1 + Math.floor(g.uniform() * 6);
    for (let i = 0; i < 64; i++) px[s * 64 + i] = 0.3 * (g.uniform() - 0.5);
    for (let k = 0; k < 8; k++) {
      const [r, q] = c === 0 ? [at, k] : c === 1 ? [k, at] : [k, k];
      px[s * 64 + r * 8 + q] += 1;
    }
    ys.push(c);
  }
  return { x: tensor(px, { shape: [n, 1, 8, 8], backend }), y: tensor(ys, { dtype: 'i32', backend }) };
}

async function accuracy(logits: Tensor, y: Tensor): Promise<number> {
  const pred = await logits.argmax(1).data();
  const want = await y.data();
  return pred.filter((p, i) => p === want[i]).length / want.length;
}

/** Trains `model` with Adam; in mixed precision the forward runs under autocast and the loss goes through a GradScaler. */
async function train(model: nn.Module, data: { x: Tensor; y: Tensor }, steps: number, mixed: boolean): Promise<{ acc: number; skipped: number }> {
  const opt = new optim.Adam(model.parameters(), { lr: 0.02 });
  const scaler = new GradScaler({ enabled: mixed });
  let skipped = 0;
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    const loss = autocast(() => F.crossEntropy(model.forward(data.x), data.y), { enabled: mixed });
    if (mixed) expect(loss.dtype).toBe('f32');
    scaler.scale(loss).backward();
    if (!(await scaler.step(opt))) skipped++;
    scaler.update();
  }
  const logits = autocast(() => model.forward(data.x), { enabled: mixed });
  return { acc: await accuracy(logits, data.y), skipped };
}

for (const backend of BACKENDS) {
  describe(`autocast on ${backend.name}`, () => {
    it('runs matmul, linear and conv2d in f16 and exp, reductions, softmax, norms and losses in f32', () => {
      const x = randn([4, 8], { backend });
      const w = randn([8, 8], { backend });
      autocast(() => {
        expect(x.matmul(w).dtype).toBe('f16');
        expect(F.linear(x, w, randn([8], { backend })).dtype).toBe('f16');
        const img = randn([1, 2, 5, 5], { backend });
        expect(F.conv2d(img, randn([3, 2, 3, 3], { backend }), randn([3], { backend })).dtype).toBe('f16');
        const h = x.matmul(w);
        expect(h.relu().dtype).toBe('f16');
        expect(h.add(x).dtype).toBe('f32'); // f16 with f32 promotes
        expect(h.exp().dtype).toBe('f32');
        expect(h.sum().dtype).toBe('f32');
        expect(h.softmax(-1).dtype).toBe('f32');
        expect(F.layerNorm(h, [8]).dtype).toBe('f32');
        expect(F.crossEntropy(h, tensor([0, 1, 2, 3], { dtype: 'i32', backend })).dtype).toBe('f32');
        expect(autocast(() => x.matmul(w), { enabled: false }).dtype).toBe('f32');
      });
      expect(x.matmul(w).dtype).toBe('f32');
    });

    it('gives f32 gradients to f32 weights, close to the f32 run, and never autocasts the backward pass', async () => {
      const layer = seeded(backend, 3, () => new nn.Linear(8, 4));
      const x = randn([16, 8], { backend, generator: new Generator(5) });
      const target = randn([16, 4], { backend, generator: new Generator(6) });
      const gradOf = async (mixed: boolean, backwardInside: boolean) => {
        layer.zeroGrad();
        autocast(() => {
          const loss = F.mseLoss(layer.forward(x), target);
          if (backwardInside) loss.backward();
          return loss;
        }, { enabled: mixed });
        return { dtype: layer.weight.grad!.dtype, values: await layer.weight.grad!.data() };
      };
      const full = await gradOf(false, true);
      const mixed = await gradOf(true, true);
      expect(mixed.dtype).toBe('f32');
      mixed.values.forEach((v, i) => expect(Math.abs(v - full.values[i]!)).toBeLessThan(1e-2 * (1 + Math.abs(full.values[i]!))));
      // Backward inside the scope gives what backward after it gives.
      layer.zeroGrad();
      const loss = autocast(() => F.mseLoss(layer.forward(x), target));
      loss.backward();
      expect(Array.from(await layer.weight.grad!.data())).toEqual(Array.from(mixed.values));
    });
  });

  describe(`GradScaler on ${backend.name}`, () => {
    it('unscales the gradients it scaled: the step equals an unscaled one', async () => {
      const make = () => seeded(backend, 9, () => new nn.Linear(3, 2));
      const x = randn([5, 3], { backend, generator: new Generator(1) });
      const plain = make();
      const o1 = new optim.SGD(plain.parameters(), { lr: 0.1 });
      plain.forward(x).square().mean().backward();
      o1.step();
      const scaled = make();
      const o2 = new optim.SGD(scaled.parameters(), { lr: 0.1 });
      const scaler = new GradScaler({ initScale: 1024 });
      scaler.scale(scaled.forward(x).square().mean()).backward();
      expect(await scaler.step(o2)).toBe(true);
      scaler.update();
      expect(Array.from(await scaled.weight.data())).toEqual(Array.from(await plain.weight.data()));
      expect(scaler.getScale()).toBe(1024);
    });

    it('skips the step when a gradient holds an inf or NaN, backs the scale off, and grows it after clean steps', async () => {
      const layer = seeded(backend, 4, () => new nn.Linear(2, 1));
      const opt = new optim.SGD(layer.parameters(), { lr: 0.1 });
      const scaler = new GradScaler({ initScale: 8, growthInterval: 2 });
      const before = Array.from(await layer.weight.data());
      const x = tensor([[1, 2]], { backend });
      scaler.scale(layer.forward(x).sum()).backward();
      layer.bias!.grad = tensor([Infinity], { backend });
      expect(await scaler.step(opt)).toBe(false);
      scaler.update();
      expect(Array.from(await layer.weight.data())).toEqual(before);
      expect(scaler.getScale()).toBe(4);
      for (let s = 0; s < 2; s++) {
        opt.zeroGrad();
        scaler.scale(layer.forward(x).sum()).backward();
        if (s === 0) layer.weight.grad = tensor([[NaN, 0]], { backend }).mul(layer.weight.grad!);
        await scaler.step(opt);
        scaler.update();
      }
      expect(scaler.getScale()).toBe(2); // the NaN backed off again
      for (let s = 0; s < 2; s++) {
        opt.zeroGrad();
        scaler.scale(layer.forward(x).sum()).backward();
        expect(await scaler.step(opt)).toBe(true);
        scaler.update();
      }
      expect(scaler.getScale()).toBe(4);
      // One clean step after the NaN, then two more: growth at the second, one counted since.
      expect(scaler.stateDict()).toEqual({ scale: 4, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2, growthTracker: 1 });
    });

    it('finds f16 gradients overflowed by a scale too large and skips steps until the scale fits', async () => {
      const layer = seeded(backend, 2, () => new nn.Sequential(new nn.Linear(4, 4), new nn.Linear(4, 4)));
      const opt = new optim.SGD(layer.parameters(), { lr: 0.1 });
      const scaler = new GradScaler({ initScale: 2 ** 40 });
      const x = randn([8, 4], { backend, generator: new Generator(3) });
      let skipped = 0;
      for (let i = 0; i < 60; i++) {
        opt.zeroGrad();
        const loss = autocast(() => layer.forward(x).square().mean());
        scaler.scale(loss).backward();
        const stepped = await scaler.step(opt);
        scaler.update();
        if (stepped) break;
        skipped++;
      }
      // The gradient between the layers is an f16 tensor: it holds at most 65504, so the scale must fall below about 2^16 first.
      expect(skipped).toBeGreaterThan(20);
      expect(skipped).toBeLessThan(60);
      expect(scaler.getScale()).toBeLessThanOrEqual(2 ** 17);
    });

    it('refuses misuse by name: unscale twice, update without a step, f16 gradients, bad options', async () => {
      const layer = seeded(backend, 4, () => new nn.Linear(2, 1));
      const opt = new optim.SGD(layer.parameters(), { lr: 0.1 });
      const scaler = new GradScaler();
      expect(() => scaler.update()).toThrow(/no step\(\) or unscale_\(\) since the last update/);
      scaler.scale(layer.forward(tensor([[1, 2]], { backend })).sum()).backward();
      await scaler.unscale_(opt);
      await expect(scaler.unscale_(opt)).rejects.toThrow(/already called for this optimizer/);
      await scaler.step(opt);
      await expect(scaler.step(opt)).rejects.toThrow(/step: already called/);
      scaler.update();
      layer.weight.grad = tensor([[1, 2]], { dtype: 'f16', backend });
      await expect(scaler.step(opt)).rejects.toThrow(/a gradient is f16; keep the parameters in f32/);
      expect(() => new GradScaler({ backoffFactor: 1 })).toThrow(/backoffFactor must be in \(0, 1\), got 1/);
      expect(() => new GradScaler({ growthInterval: 0.5 })).toThrow(/growthInterval must be an integer > 0/);
      const restored = new GradScaler();
      restored.loadStateDict({ scale: 32, growthFactor: 4, backoffFactor: 0.25, growthInterval: 3, growthTracker: 1 });
      expect(restored.stateDict()).toEqual({ scale: 32, growthFactor: 4, backoffFactor: 0.25, growthInterval: 3, growthTracker: 1 });
      expect(() => restored.loadStateDict({ ...restored.stateDict(), scale: NaN })).toThrow(/GradScaler.loadStateDict: scale must be a finite number > 0, got NaN/);
      expect(() => restored.loadStateDict({ ...restored.stateDict(), growthTracker: -1 })).toThrow(/GradScaler.loadStateDict: growthTracker must be an integer >= 0, got -1/);
      expect(restored.stateDict().scale).toBe(32); // a refused state leaves the scaler as it was
    });
  });

  describe(`mixed-precision training on ${backend.name}`, () => {
    it('an MLP reaches the accuracy of its f32 run', async () => {
      const data = spirals(60, backend);
      const make = () => seeded(backend, 21, () => new nn.Sequential(new nn.Linear(2, 64), new nn.ReLU(), new nn.Linear(64, 64), new nn.ReLU(), new nn.Linear(64, 3)));
      const full = await train(make(), data, 150, false);
      const mixed = await train(make(), data, 150, true);
      console.info(`mlp on ${backend.name}: f32 ${full.acc}, mixed ${mixed.acc} (${mixed.skipped} steps skipped)`);
      expect(full.acc).toBeGreaterThan(0.9);
      expect(mixed.acc).toBeGreaterThan(full.acc - 0.03);
      expect(mixed.skipped).toBeLessThan(20);
    }, 60_000);

    it('a CNN reaches the accuracy of its f32 run', async () => {
      const data = strokes(60, backend);
      const make = () => seeded(backend, 5, () => new nn.Sequential(
        new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Conv2d(8, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.Flatten(), new nn.Linear(8 * 16, 3),
      ));
      const full = await train(make(), data, 40, false);
      const mixed = await train(make(), data, 40, true);
      console.info(`cnn on ${backend.name}: f32 ${full.acc}, mixed ${mixed.acc} (${mixed.skipped} steps skipped)`);
      expect(full.acc).toBeGreaterThan(0.9);
      expect(mixed.acc).toBeGreaterThan(full.acc - 0.03);
    }, 60_000);
  });
}

const gpu = BACKENDS[1] as WebGPUBackend | undefined;
describe.runIf(gpu)('autocast on a WebGPU adapter without shader-f16', () => {
  it('fails at the first cast with an error naming the feature, never running f32 in its place', async () => {
    const plain = await createWebGPUBackend(undefined, { withoutFeatures: ['shader-f16'] });
    if (typeof plain === 'string') throw new Error(plain);
    try {
      const x = randn([2, 2], { backend: plain });
      expect(() => autocast(() => x.matmul(x))).toThrow(/matmul.*shader-f16|shader-f16/);
    } finally {
      plain.destroy();
    }
  });
});
