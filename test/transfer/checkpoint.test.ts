/** @file Checkpoints: a resumed run equals an uninterrupted one, and a kill during a save never corrupts the file. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Generator, defaultGenerator, functional as F, manualSeed, nn, optim, randn, tensor } from '../../index.js';
import { permutation } from '../../engine/creation.js';
import { loadCheckpoint, saveCheckpoint } from '../../transfer/checkpoint.js';
import { loadSafetensors } from '../../transfer/import/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'graft-ckpt-'));

function setup(seed: number) {
  manualSeed(seed);
  const model = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(16, 3));
  const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
  return { model, opt, order: new Generator(99) };
}

manualSeed(5);
const X = randn([40, 6]);
const Y = tensor(Array.from({ length: 40 }, (_, i) => i % 3), { dtype: 'i32' });

/** Steps over seeded shuffles of the data, 8 samples a batch. */
function train(s: ReturnType<typeof setup>, steps: number, from: number): void {
  for (let step = from; step < from + steps; step++) {
    if (step % 5 === 0) s.order.setState(new Generator(99 + step).getState());
    const perm = permutation(40, s.order).slice(0, 8);
    const idx = tensor(perm);
    s.opt.zeroGrad();
    F.crossEntropy(s.model.forward(X.indexSelect(0, idx)), Y.indexSelect(0, idx)).backward();
    s.opt.step();
  }
}
const weights = (m: nn.Module) => m.parameters().flatMap((p) => Array.from(p.dataSync()));

describe('checkpoints', () => {
  it('resume continues a run exactly: same weights as an uninterrupted run', async () => {
    const a = setup(1);
    train(a, 20, 0);

    const b = setup(1);
    train(b, 10, 0);
    const path = join(dir, 'resume.safetensors');
    await saveCheckpoint(path, { model: b.model, optimizer: b.opt, generators: { order: b.order, default: defaultGenerator } }, { epoch: 1, step: 10 });

    const c = setup(2); // different initial weights, fresh optimizer and streams
    const info = await loadCheckpoint(path, { model: c.model, optimizer: c.opt, generators: { order: c.order, default: defaultGenerator } });
    expect(info).toEqual({ epoch: 1, step: 10, extra: {} });
    train(c, 10, 10);
    expect(weights(c.model)).toEqual(weights(a.model));
  });

  it('a kill during a save leaves a complete checkpoint behind', async () => {
    const path = join(dir, 'killed.safetensors');
    const writer = fileURLToPath(new URL('./checkpointWriter.ts', import.meta.url));
    const steps: number[] = [];
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 300 + 250 * round));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const { metadata, tensors } = loadSafetensors(new Uint8Array(readFileSync(path)), { file: path });
      expect(tensors.size).toBe(6);
      steps.push(JSON.parse(metadata['graft.checkpoint']!).step as number);
    }
    expect(steps.every((s) => s >= 1)).toBe(true);
  });

  it('refuses a file that is not a graft checkpoint', async () => {
    const path = join(dir, 'plain.safetensors');
    const { saveSafetensors } = await import('../../transfer/import/safetensors.js');
    const { writeFileAtomic } = await import('../../transfer/io.js');
    await writeFileAtomic(path, await saveSafetensors({ w: randn([2]) }));
    await expect(loadCheckpoint(path, { model: new nn.Linear(1, 1) })).rejects.toThrow(/no 'graft.checkpoint' metadata/);
  });
});
