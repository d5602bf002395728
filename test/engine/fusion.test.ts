/** @file WebGPU elementwise fusion: chains run as few kernels, results match the CPU, and buffer reuse, in-place writes and binding limits stay correct. */
import { describe, expect, it } from 'vitest';
import { type Backend, type Tensor, WebGPUBackend, noGrad, randn, tensor, tidy, where } from '../../index.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { webgpuBackend } from '../backends.js';
import { expectCloseArrays } from '../helpers.js';

const gpu = (await webgpuBackend()) as WebGPUBackend | null;
const cpu = new CpuBackend();

/** The same values on both backends. */
function pair(shape: number[], seed = 0): [Tensor, Tensor] {
  const c = randn(shape, { backend: cpu, generator: undefined }).add(seed);
  return [c, tensor(c.dataSync(), { shape, backend: gpu! })];
}

async function same(gpuT: Tensor, cpuT: Tensor, what: string): Promise<void> {
  expect(gpuT.shape).toEqual(cpuT.shape);
  expectCloseArrays(Array.from(await gpuT.data()), Array.from(cpuT.dataSync()), 1e-5, 1e-5, what);
}

describe.runIf(gpu)('webgpu elementwise fusion', () => {
  const b = gpu!;

  it('runs a 40-op chain with scalars, comparisons, where and casts as one kernel, matching the CPU', async () => {
    const chain = (x: Tensor) => tidy(() => {
      let y = x;
      for (let i = 0; i < 5; i++) {
        y = y.mul(1.5).add(0.25).tanh().abs().add(1).log().sqrt().neg();
        y = where(y.gt(-0.5), y, y.mul(-2)).cast('f32');
      }
      return y;
    });
    const [xc, xg] = pair([1000]);
    const before = { ...b.stats };
    const fused = await chain(xg).data();
    expect(b.stats.nodes - before.nodes).toBeGreaterThanOrEqual(50);
    expect(b.stats.kernels - before.kernels).toBe(1);
    b.fusion = false;
    try {
      // The same WGSL per op, so fusing changes no bit; the CPU differs by the GPU's tanh and log rounding, compounded.
      expect(Array.from(fused)).toEqual(Array.from(await chain(xg).data()));
    } finally {
      b.fusion = true;
    }
    expectCloseArrays(Array.from(fused), Array.from(chain(xc).dataSync()), 1e-3, 1e-3, 'fused vs cpu');
  });

  it('writes every result still referenced, including intermediates read later', async () => {
    const [xc, xg] = pair([257]);
    const run = (x: Tensor) => {
      const a = x.mul(2);
      const c = a.exp().add(x);
      const d = c.sub(a).div(3);
      return [a, c, d];
    };
    const g = run(xg);
    const c = run(xc);
    for (let i = 0; i < 3; i++) await same(g[i]!, c[i]!, `result ${i}`);
  });

  it('reads the old value of a buffer that an in-place copy overwrites later', async () => {
    const t = tensor([1, 2, 3, 4], { backend: b });
    const doubled = t.mul(2);
    t.copy_(tensor([9, 9, 9, 9], { backend: b }));
    const after = t.add(1);
    expect(Array.from(await doubled.data())).toEqual([2, 4, 6, 8]);
    expect(Array.from(await after.data())).toEqual([10, 10, 10, 10]);
  });

  it('does not hand a freed input back to the pool before the chain that reads it has run', async () => {
    const [xc, xg] = pair([4096], 1);
    const e = xg.exp();
    xg.dispose();
    const others: Tensor[] = [];
    for (let i = 0; i < 8; i++) others.push(tensor(new Float32Array(4096).fill(i), { shape: [4096], backend: b }).neg());
    const out = e.add(1);
    await same(out, xc.exp().add(1), 'after the input was freed');
    for (const [i, o] of others.entries()) expect((await o.data())[17]).toBe(-i);
  });

  it('splits a chain that reads more buffers than a kernel may bind, with the same results', async () => {
    const pairs = Array.from({ length: 24 }, (_, i) => pair([300], i));
    const sum = (ts: Tensor[], backend: Backend) => ts.reduce((acc, t) => acc.add(t.mul(0.5)), tensor(new Float32Array(300), { shape: [300], backend }));
    const before = b.stats.kernels;
    const g = sum(pairs.map((p) => p[1]), b);
    await same(g, sum(pairs.map((p) => p[0]), cpu), 'sum of 24 buffers');
    expect(b.stats.kernels - before).toBeGreaterThan(1);
    expect(b.stats.kernels - before).toBeLessThan(24);
  });

  it('takes one-element operands computed on the GPU or viewed at an offset as broadcast reads', async () => {
    const [xc, xg] = pair([64], 2);
    const run = (x: Tensor) => x.mul(x.sum()).add(x.slice(0, 5, 6)).sub(x.max());
    await same(run(xg), run(xc), 'one-element operands');
  });

  it('keeps groups of different sizes apart', async () => {
    const [ac, ag] = pair([16], 3);
    const [bc, bg] = pair([24], 4);
    const run = (a: Tensor, c: Tensor) => {
      const a1 = a.mul(3);
      const c1 = c.add(2);
      return [a1.exp(), c1.neg(), a1.add(a)];
    };
    const g = run(ag, bg);
    const c = run(ac, bc);
    for (let i = 0; i < 3; i++) await same(g[i]!, c[i]!, `output ${i}`);
  });

  it('gives the same training result with fusion off', async () => {
    const step = async (fusion: boolean) => {
      b.fusion = fusion;
      try {
        const w = tensor([0.5, -0.25, 0.75], { backend: b, requiresGrad: true });
        for (let i = 0; i < 5; i++) {
          const loss = w.mul(w).sub(w.exp().mul(0.1)).sum();
          loss.backward();
          noGrad(() => w.copy_(w.sub(w.grad!.mul(0.1))));
          w.grad = null;
        }
        return Array.from(await w.data());
      } finally {
        b.fusion = true;
      }
    };
    expectCloseArrays(await step(true), await step(false), 1e-6, 1e-6, 'fused vs unfused');
  });
});

describe.runIf(gpu)('webgpu elementwise fusion with broadcast and views', () => {
  const b = gpu!;

  it('fuses a bias add, activation and scaling over broadcast and transposed operands', async () => {
    const [xc, xg] = pair([6, 5], 5);
    const [bc, bg] = pair([5], 6);
    const [cc, cg] = pair([6, 1], 7);
    const [tc, tg] = pair([5, 6], 8);
    const run = (x: Tensor, bias: Tensor, col: Tensor, t: Tensor) => x.add(bias).relu().mul(col).sub(t.transpose(0, 1)).add(x.slice(1, 1, 2));
    const before = b.stats.kernels;
    const g = run(xg, bg, cg, tg);
    await same(g, run(xc, bc, cc, tc), 'broadcast chain');
    expect(b.stats.kernels - before).toBe(1);
  });

  it('does not read a transposed view of an earlier result from registers', async () => {
    const [xc, xg] = pair([4, 4], 9);
    const run = (x: Tensor) => {
      const y = x.mul(2).add(1);
      return y.add(y.transpose(0, 1)).sub(y);
    };
    await same(run(xg), run(xc), 'transposed earlier result');
  });
});

describe.runIf(gpu)('webgpu elementwise fusion with in-place writes', () => {
  const b = gpu!;

  it('computes an in-place update in the kernel that writes it, after the kernel that reads the old value', async () => {
    const [wc, wg] = pair([512], 11);
    const [gc, gg] = pair([512], 12);
    const step = (w: Tensor, g: Tensor) => {
      const old = w.mul(1);
      noGrad(() => w.copy_(w.sub(g.mul(0.1))));
      return [old, w.add(0)];
    };
    const before = b.stats.kernels;
    const got = step(wg, gg);
    const want = step(wc, gc);
    await same(got[0]!, want[0]!, 'the value before the update');
    await same(got[1]!, want[1]!, 'the value after the update');
    await same(wg, wc, 'the updated tensor');
    // old (it reads what copy_ overwrites), the update written into w by its own program (no copy after it), w.add(0).
    expect(b.stats.kernels - before).toBe(3);
  });

  it('does not write in place over a buffer other invocations still read', async () => {
    const t = tensor([1, 2, 3, 4], { backend: b });
    const shifted = t.flip([0]).add(0); // reads t at other indices
    t.copy_(tensor([5, 6, 7, 8], { backend: b }));
    expect(Array.from(await shifted.data())).toEqual([4, 3, 2, 1]);
    expect(Array.from(await t.data())).toEqual([5, 6, 7, 8]);
  });
});

describe.runIf(gpu)('webgpu fusion over random programs', () => {
  const b = gpu!;

  /** A seeded program of `ops` elementwise ops over `inputs` tensors (dense, transposed, broadcast rows and columns, scalars). */
  function program(seed: number, inputs: number, ops: number) {
    let s = seed;
    const rnd = (n: number) => ((s = (s * 1103515245 + 12345) % 2 ** 31) % n);
    // One buffer may be read through several views in one kernel, each its own binding.
    const steps = Array.from({ length: ops }, () => ({ op: rnd(6), a: rnd(inputs + ops), b: rnd(inputs + ops), va: rnd(4), vb: rnd(4) }));
    const view = (t: Tensor, v: number) => [t, t.transpose(0, 1), t.slice(0, 0, 1), t.slice(1, 2, 3)][v]!;
    return (leaves: Tensor[]) => {
      const vals: Tensor[] = [...leaves];
      for (const st of steps) {
        const x = view(vals[st.a % vals.length]!, st.va);
        const y = view(vals[st.b % vals.length]!, st.vb);
        vals.push([x.add(y), x.mul(y), x.sub(y).tanh(), x.maximum(y), x.mul(0.5).add(y.abs()), where(x.gt(y), x, y.neg())][st.op]!);
      }
      return vals.slice(leaves.length);
    };
  }

  it('gives the CPU\'s values for every result of 120 random programs, however many buffers they bind', async () => {
    const limit = b.limits.maxStorageBuffersPerShaderStage;
    for (let seed = 1; seed <= 120; seed++) {
      const inputs = 4 + (seed % 20);
      const run = program(seed, inputs, 6 + (seed % 14));
      const pairs = Array.from({ length: inputs }, (_, i) => pair([12, 12], i));
      const want = run(pairs.map(([c]) => c));
      const got = run(pairs.map(([, g]) => g));
      for (let k = 0; k < got.length; k++) await same(got[k]!, want[k]!, `program ${seed} (limit ${limit}) result ${k}`);
      for (const t of [...want, ...got, ...pairs.flat()]) t.dispose();
    }
  });
});
