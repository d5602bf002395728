/** @file WebGPU memory soak in a process of its own: a tidy training loop keeps live memory, buffers and bind groups flat. */
import { describe, expect, it } from 'vitest';
import { type Tensor, WebGPUBackend, functional as F, nn, optim, randn, tensor, tidy } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { testBackends } from '../backends.js';

const backends = await testBackends();
const gpu = backends.find((b) => b instanceof WebGPUBackend) as WebGPUBackend | undefined;

describe.runIf(gpu)('webgpu tidy loop', () => {
  const backend = gpu!;

  it('keeps live GPU memory flat over 5,000 training steps, creates no buffers and almost no bind groups in steady state', async () => {
    setBackend(backend);
    const model = new nn.Sequential(new nn.Linear(16, 32), new nn.ReLU(), new nn.Linear(32, 4));
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = randn([8, 16]);
    const y = tensor([0, 1, 2, 3, 0, 1, 2, 3], { dtype: 'i32' });
    let warm = { live: 0, created: 0, bindGroups: 0 };
    let last: Tensor | null = null;
    // Fusion varies which pooled buffers meet in one kernel for a while (measured here: bind groups
    // stop growing near step 3,000), so the steady state is measured from step 3,000.
    for (let step = 0; step < 5000; step++) {
      last?.dispose();
      last = tidy(() => {
        opt.zeroGrad();
        const loss = F.crossEntropy(model.forward(x), y);
        loss.backward();
        opt.step();
        return loss.detach();
      });
      // Reads every 100 steps, as a training loop logging its loss does.
      if (step % 100 === 0) await backend.sync();
      // Both measurements after the same read: what is still a pending expression then (the
      // optimizer's last update, say) holds the same buffers at both.
      if (step === 3000 || step === 4999) {
        await last.data();
        await backend.sync();
      }
      if (step === 3000) {
        warm = { live: backend.pool.liveBytes, created: backend.pool.created, bindGroups: backend.bindGroupsCreated };
      }
    }
    const finalLoss = (await last!.data())[0]!;
    expect(backend.pool.liveBytes).toBe(warm.live);
    expect(backend.pool.created).toBe(warm.created);
    // Fusion still meets the odd new combination of pooled buffers late (a handful over 2,000 steps
    // here); what must not happen is steady growth toward the ~65k bind groups Dawn fails at.
    expect(backend.bindGroupsCreated - warm.bindGroups).toBeLessThanOrEqual(10);
    expect(finalLoss).toBeLessThan(0.05);
  });

});
