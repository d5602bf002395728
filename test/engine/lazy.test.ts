/** @file The lazy elementwise graph on the CPU: the same bits as op-by-op runs, one program per chain, in-place writes and disposal kept correct. */
import { describe, expect, it } from 'vitest';
import { type Tensor, Generator, functional as F, keep, noGrad, randn, tensor, where, zeros } from '../../index.js';
import type { ExprProgram } from '../../engine/backend.js';
import { CpuBackend } from '../../engine/cpu/backend.js';

const lazy = new CpuBackend();
/** The same backend without runExpr: every op runs when it is called, the reference here. */
const eager = new CpuBackend();
Object.defineProperty(eager, 'runExpr', { value: undefined });

/** Programs the lazy backend ran while `fn` ran. */
function programs<T>(fn: () => T): { result: T; runs: ExprProgram[] } {
  const runs: ExprProgram[] = [];
  const original = lazy.runExpr.bind(lazy);
  lazy.runExpr = (p: ExprProgram) => {
    runs.push(p);
    original(p);
  };
  try {
    return { result: fn(), runs };
  } finally {
    delete (lazy as { runExpr?: unknown }).runExpr;
  }
}

const bits = (t: Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

/** A random elementwise program over a few inputs of broadcastable shapes, the same for any backend given the same seed. */
function randomProgram(seed: number, inputs: Tensor[]): Tensor {
  const g = new Generator(seed);
  const pool = [...inputs];
  for (let k = 0; k < 25; k++) {
    const a = pool[g.int(pool.length)]!;
    const b = pool[g.int(pool.length)]!;
    const pick = g.int(10);
    const next = pick === 0 ? a.add(b) : pick === 1 ? a.mul(b) : pick === 2 ? a.sub(b.mul(0.5)) : pick === 3 ? a.tanh() : pick === 4 ? a.abs().add(1).log()
      : pick === 5 ? where(a.gt(b), a, b) : pick === 6 ? a.clamp(-0.7, 0.9) : pick === 7 ? a.exp().div(b.abs().add(1)) : pick === 8 ? a.cast('i32').cast('f32').add(a.sigmoid()) : a.relu().sqrt();
    pool.push(next);
  }
  return pool.slice(inputs.length).reduce((s, t) => s.add(t.mul(0.01)));
}

describe('lazy elementwise graph (cpu)', () => {
  it('gives exactly the bits of op-by-op runs on 40 random programs over broadcast and strided inputs', () => {
    for (let seed = 0; seed < 40; seed++) {
      const make = (backend: CpuBackend) => {
        const g = new Generator(100 + seed);
        const base = randn([6, 5], { generator: g, backend });
        return [base, randn([5], { generator: g, backend }), randn([6, 1], { generator: g, backend }), randn([5, 6], { generator: g, backend }).T, randn([6, 10], { generator: g, backend }).slice(1, 0, null, 2)];
      };
      const want = noGrad(() => randomProgram(seed, make(eager)));
      const got = noGrad(() => randomProgram(seed, make(lazy)));
      expect(bits(got), `program ${seed}`).toEqual(bits(want));
    }
  });

  it('runs a chain as one program that writes only its result, and recomputes an intermediate read later', () => {
    const x = randn([1000], { backend: lazy });
    const { result, runs } = programs(() => {
      const h = x.mul(2).add(1);
      const y = h.tanh().mul(3).sub(h);
      y.dataSync();
      return { h, y };
    });
    expect(runs).toHaveLength(1);
    expect(runs[0]!.nodes.map((n) => n.op)).toEqual(['mul', 'add', 'tanh', 'mul', 'sub']);
    expect(runs[0]!.outputs).toHaveLength(1);
    expect(runs[0]!.leaves.length).toBe(4); // x and the scalars 2, 1 and 3
    const again = programs(() => result.h.dataSync());
    expect(again.runs).toHaveLength(1);
    expect(Array.from(result.h.dataSync())).toEqual(Array.from(x.dataSync(), (v) => Math.fround(Math.fround(v * 2) + 1)));
  });

  it('writes intermediates autograd saved in the same program, and backward matches op-by-op runs', () => {
    const run = (backend: CpuBackend) => {
      const x = tensor([0.3, -1.2, 2.5, 0.1], { backend, requiresGrad: true });
      const y = x.mul(x).add(1).log().mul(x.sigmoid()).sum();
      y.backward();
      return [Array.from(y.dataSync()), Array.from(x.grad!.dataSync())];
    };
    const { result, runs } = programs(() => run(lazy));
    expect(result).toEqual(run(eager));
    // The forward chain ran as one program writing the saved intermediates with it.
    expect(runs[0]!.outputs.length).toBeGreaterThan(1);
  });

  it('an in-place write after recording does not change a result computed from the old values', () => {
    const x = tensor([1, 2, 3], { backend: lazy });
    const y = x.mul(10);
    const z = y.add(x);
    noGrad(() => x.copy_(zeros([3], 'f32', { backend: lazy })));
    expect(Array.from(z.dataSync())).toEqual([11, 22, 33]);
    expect(Array.from(y.dataSync())).toEqual([10, 20, 30]);
    expect(Array.from(x.mul(10).dataSync())).toEqual([0, 0, 0]);
  });

  it('disposing inputs and intermediates before the read keeps the result right, and lets their buffers go after it', () => {
    const x = randn([64], { backend: lazy });
    const xs = Array.from(x.dataSync());
    const y = x.exp();
    const a = y.add(1);
    const z = a.mul(2);
    for (const t of [y, x, a]) t.dispose();
    expect(x.storage.freed).toBe(false); // the pending expression still reads it
    expect(Array.from(z.dataSync())).toEqual(xs.map((v) => Math.fround(Math.fround(Math.fround(Math.exp(v)) + 1) * 2)));
    expect(x.storage.freed).toBe(true);
    expect(x.storage.readers.size).toBe(0);
  });

  it('keeps programs within their bounds: 64 nodes, 8 views of more than one element read (scalars do not count)', () => {
    const x = randn([16], { backend: lazy });
    const extra = Array.from({ length: 20 }, () => randn([16], { backend: lazy }));
    const { runs } = programs(() => {
      let y = x;
      for (let i = 0; i < 200; i++) y = y.mul(1.001).add(extra[i % 20]!);
      return y.dataSync();
    });
    expect(runs.length).toBeGreaterThan(1);
    for (const p of runs) {
      expect(p.nodes.length).toBeLessThanOrEqual(64);
      expect(p.leaves.filter((l) => l.shape.reduce((m, d) => m * d, 1) > 1).length).toBeLessThanOrEqual(8);
    }
    // Each op reads a scalar, so counting them would have cut programs at 4 ops, not 8 views.
    expect(Math.max(...runs.map((p) => p.nodes.length))).toBeGreaterThan(8);
  });

  it('counts a subexpression read several times once, so a DAG is not cut short', () => {
    const x = randn([64], { backend: lazy });
    const { runs } = programs(() => {
      let y = x;
      // y is read three times per round: counted as a tree, the program would pass 64 nodes in 4 rounds.
      for (let i = 0; i < 6; i++) y = where(y.gt(0), y, y.mul(-0.5)).add(0.1);
      return y.dataSync();
    });
    expect(runs.length).toBe(1);
  });

  it('copy_ of a pending expression writes the target in the program that computes it, after the old values are read', () => {
    const w = randn([300], { backend: lazy });
    const g = randn([300], { backend: lazy });
    const [w0, g0] = [w.dataSync(), g.dataSync()];
    const { result, runs } = programs(() => {
      const old = w.mul(2);
      noGrad(() => w.copy_(w.sub(g.mul(0.1))));
      return old;
    });
    // old's program (it reads the values copy_ overwrites), then the update, written into w directly.
    expect(runs.length).toBe(2);
    expect(runs[1]!.outputs.map((o) => o.buffer)).toContain(w.storage.buffer);
    expect(Array.from(result.dataSync())).toEqual(Array.from(w0, (v) => Math.fround(v * 2)));
    expect(Array.from(w.dataSync())).toEqual(Array.from(w0, (v, i) => Math.fround(v - Math.fround(g0[i]! * Math.fround(0.1)))));
  });

  it('copy_ in place stays exact when rows of a strided operand are not whole vectors (the SIMD tail would write into the next row)', () => {
    // 40 rows of 7: a heap tensor (over 1 KiB) read with a narrowed operand, so the program runs row by row.
    const w = randn([40, 7], { backend: lazy });
    const g = randn([40, 8], { backend: lazy }).narrow(1, 0, 7);
    const [w0, g0] = [w.dataSync(), g.dataSync()];
    const { runs } = programs(() => noGrad(() => w.copy_(w.sub(g.mul(0.5)))));
    expect(runs.length).toBe(1);
    expect(Array.from(w.dataSync())).toEqual(Array.from(w0, (v, i) => Math.fround(v - Math.fround(g0[i]! * 0.5))));
  });

  it('writes a kept tensor (optimizer state) in the program that computes it, so a recurrence is not recomputed from its whole history', () => {
    const p = randn([300], { backend: lazy });
    const g = randn([300], { backend: lazy });
    let buf = zeros([300], 'f32', { backend: lazy });
    const sizes: number[] = [];
    for (let step = 0; step < 6; step++) {
      const { runs } = programs(() => noGrad(() => {
        const next = keep(buf.mul(0.9).add(g));
        buf.dispose();
        buf = next;
        p.copy_(p.sub(buf.mul(0.1)));
      }));
      sizes.push(Math.max(...runs.map((r) => r.nodes.length)));
      expect(runs.at(-1)!.outputs.some((o) => o.buffer === buf.storage.buffer)).toBe(true);
    }
    // The same small program every step: the buffer's earlier values are read, not recomputed.
    expect(new Set(sizes).size).toBe(1);
  });

  it('copy_ falls back to a copy when the program would read the target other than element by element', () => {
    const w = tensor([1, 2, 3, 4], { backend: lazy });
    noGrad(() => w.copy_(w.flip([0]).add(10)));
    expect(Array.from(w.dataSync())).toEqual([14, 13, 12, 11]);
  });

  it('softmax and layerNorm match op-by-op runs bit for bit', () => {
    const g = () => new Generator(9);
    for (const fn of [(x: Tensor) => F.softmax(x, 1), (x: Tensor) => F.layerNorm(x, [32])]) {
      expect(bits(noGrad(() => fn(randn([8, 32], { generator: g(), backend: lazy }))))).toEqual(bits(noGrad(() => fn(randn([8, 32], { generator: g(), backend: eager })))));
    }
  });
});
