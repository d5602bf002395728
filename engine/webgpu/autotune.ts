/** @file Per-adapter kernel choice: time the candidate matmul kernels once and remember the faster, by adapter. */
import { randn } from '../creation.js';
import type { WebGPUBackend } from './backend.js';
import type { Caps } from './kernels.js';

const chosen = new Map<string, Caps['matmul']>();

/** Sets backend.caps.matmul to the kernel that runs a 512^3 matmul faster on this adapter. */
export async function tuneMatmul(backend: WebGPUBackend): Promise<Caps['matmul']> {
  const i = backend.info;
  const key = `${i.vendor}|${i.architecture}|${i.device}|${i.description}`;
  const known = chosen.get(key);
  if (known) return (backend.caps.matmul = known);
  const a = randn([512, 512], { backend });
  const b = randn([512, 512], { backend });
  const timings: [Caps['matmul'], number][] = [];
  for (const variant of ['tiled', 'register'] as const) {
    backend.caps.matmul = variant;
    const warm = a.matmul(b);
    await warm.data();
    warm.dispose();
    const t0 = performance.now();
    for (let k = 0; k < 3; k++) a.matmul(b).dispose();
    await backend.sync();
    timings.push([variant, performance.now() - t0]);
  }
  a.dispose();
  b.dispose();
  const best = timings.sort((x, y) => x[1] - y[1])[0]![0];
  chosen.set(key, best);
  backend.caps.matmul = best;
  return best;
}
