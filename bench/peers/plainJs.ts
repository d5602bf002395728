/** @file Plain JavaScript loops: what a user writes without a library (i-k-j matmul, hand-written backprop). */
import type { Impl, MlpInit, MlpParams, MatmulParams, Prepared } from '../types.js';

function matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number): void {
  c.fill(0);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      const row = p * n;
      const out = i * n;
      for (let j = 0; j < n; j++) c[out + j] += av * b[row + j]!;
    }
  }
}

export const plainJs: Impl = {
  name: 'plain-js',
  available: async () => null,
  async matmul(p: MatmulParams, a: Float32Array, b: Float32Array): Promise<Prepared> {
    const c = new Float32Array(p.m * p.n);
    return { run: async () => matmul(a, b, c, p.m, p.n, p.k), output: async () => c };
  },
  async mlpStep(p: MlpParams, init: MlpInit): Promise<Prepared> {
    const ws = init.weights.map((w) => w.slice());
    const bs = init.biases.map((b) => b.slice());
    const n = p.batch;
    let loss = 0;
    return {
      run: async () => {
        // forward, keeping activations
        const acts: Float32Array[] = [init.x];
        for (let l = 0; l < ws.length; l++) {
          const [fi, fo] = [p.sizes[l]!, p.sizes[l + 1]!];
          const z = new Float32Array(n * fo);
          matmul(acts[l]!, ws[l]!, z, n, fo, fi);
          for (let i = 0; i < n; i++) for (let j = 0; j < fo; j++) {
            const v = z[i * fo + j]! + bs[l]![j]!;
            z[i * fo + j] = l < ws.length - 1 ? Math.max(v, 0) : v;
          }
          acts.push(z);
        }
        // softmax cross-entropy and its gradient
        const C = p.sizes[p.sizes.length - 1]!;
        const logits = acts[acts.length - 1]!;
        let g = new Float32Array(n * C);
        loss = 0;
        for (let i = 0; i < n; i++) {
          let mx = -Infinity;
          for (let j = 0; j < C; j++) mx = Math.max(mx, logits[i * C + j]!);
          let s = 0;
          for (let j = 0; j < C; j++) s += Math.exp(logits[i * C + j]! - mx);
          for (let j = 0; j < C; j++) g[i * C + j] = Math.exp(logits[i * C + j]! - mx) / s / n;
          loss += (Math.log(s) + mx - logits[i * C + init.labels[i]!]!) / n;
          g[i * C + init.labels[i]!]! -= 1 / n;
        }
        // backward through the layers, updating as we go
        for (let l = ws.length - 1; l >= 0; l--) {
          const [fi, fo] = [p.sizes[l]!, p.sizes[l + 1]!];
          const a = acts[l]!;
          const gw = new Float32Array(fi * fo);
          for (let i = 0; i < n; i++) for (let q = 0; q < fi; q++) {
            const av = a[i * fi + q]!;
            if (av === 0) continue;
            for (let j = 0; j < fo; j++) gw[q * fo + j] += av * g[i * fo + j]!;
          }
          const gb = new Float32Array(fo);
          for (let i = 0; i < n; i++) for (let j = 0; j < fo; j++) gb[j] += g[i * fo + j]!;
          let ga = new Float32Array(0);
          if (l > 0) {
            ga = new Float32Array(n * fi);
            for (let i = 0; i < n; i++) for (let q = 0; q < fi; q++) {
              if (a[i * fi + q]! <= 0) continue;
              let s = 0;
              for (let j = 0; j < fo; j++) s += g[i * fo + j]! * ws[l]![q * fo + j]!;
              ga[i * fi + q] = s;
            }
          }
          for (let t = 0; t < gw.length; t++) ws[l]![t] -= 0.1 * gw[t]!;
          for (let j = 0; j < fo; j++) bs[l]![j] -= 0.1 * gb[j]!;
          g = ga;
        }
      },
      output: async () => [loss, ...ws[0]!],
    };
  },
};
