/** @file Per-adapter kernel choice: time every candidate matmul kernel family once and remember the fastest, by adapter. */
import { randn } from '../creation.js';
import type { WebGPUBackend } from './backend.js';
import { type Caps, MATMUL_VARIANTS } from './kernels.js';

const chosen = new Map<string, Caps['matmul']>();

/** Sets backend.caps.matmul to the kernel family that runs a 512^3 matmul fastest on this adapter. */
export async function tuneMatmul(backend: WebGPUBackend): Promise<Caps['matmul']> {
  const i = backend.info;
  const key = `${i.vendor}|${i.architecture}|${i.device}|${i.description}`;
  const known = chosen.get(key);
  if (known) return (backend.caps.matmul = known);
  const a = randn([512, 512], { backend });
  const b = randn([512, 512], { backend });
  const timings: [Caps['matmul'], number][] = [];
  for (const variant of MATMUL_VARIANTS) {
    backend.caps.matmul = variant;
    const warm = a.matmul(b);
    await warm.data();
    warm.dispose();
    // Batches of three until 20 ms have passed: a discrete GPU runs 512^3 in microseconds, where
    // one batch would time the dispatch rather than the kernel.
    const t0 = performance.now();
    let runs = 0;
    do {
      for (let k = 0; k < 3; k++) a.matmul(b).dispose();
      runs += 3;
      await backend.sync();
    } while (performance.now() - t0 < 20 && runs < 300);
    timings.push([variant, (performance.now() - t0) / runs]);
  }
  a.dispose();
  b.dispose();
  const best = timings.sort((x, y) => x[1] - y[1])[0]![0];
  chosen.set(key, best);
  backend.caps.matmul = best;
  return best;
}
