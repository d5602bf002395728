/** @file Memory soaks: training loops written as in PyTorch, with and without disposing, stay bounded for thousands of steps on every backend. */
import { describe, expect, it } from 'vitest';
import { WebGPUBackend, functional as F, nn, optim, randn, tensor } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';

const backends = await testBackends();

describe.each(backends.map((b) => [b.name, b] as const))('undisposed training loop on %s', (name, backend) => {
  it('runs 10,000 steps that dispose nothing, with memory bounded', async () => {
    setBackend(backend);
    const model = new nn.Sequential(new nn.Linear(16, 32), new nn.ReLU(), new nn.Linear(32, 4));
    const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
    const x = randn([8, 16]);
    const y = tensor([0, 1, 2, 3, 0, 1, 2, 3], { dtype: 'i32' });
    const gpu = backend instanceof WebGPUBackend ? backend : null;
    let rssAt1000 = 0;
    let liveAt1000 = 0;
    let loss = 0;
    for (let step = 0; step < 10_000; step++) {
      opt.zeroGrad();
      const out = F.crossEntropy(model.forward(x), y);
      out.backward();
      opt.step();
      // A loop that logs its loss now and then, as PyTorch users write it.
      if (step % 100 === 0) loss = await out.item();
      if (step === 1000) {
        rssAt1000 = process.memoryUsage().rss;
        liveAt1000 = gpu?.pool.liveBytes ?? 0;
      }
    }
    const grownMb = (process.memoryUsage().rss - rssAt1000) / 2 ** 20;
    expect(grownMb, `${name}: resident memory grew ${grownMb.toFixed(0)} MB over 9,000 steps`).toBeLessThan(300);
    if (gpu) expect(gpu.pool.liveBytes).toBeLessThan(liveAt1000 + 64 * 2 ** 20);
    expect(loss).toBeLessThan(1.4);
  });
});
