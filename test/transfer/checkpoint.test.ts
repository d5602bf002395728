/** @file Checkpoints: a resumed run equals an uninterrupted one, and a kill during a save never corrupts the file. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
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
  const sched = new optim.CosineWithWarmupLR(opt, 4, 20);
  return { model, opt, sched, order: new Generator(99) };
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
    s.sched.step();
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
    await saveCheckpoint(path, { model: b.model, optimizer: b.opt, scheduler: b.sched, generators: { order: b.order, default: defaultGenerator } }, { epoch: 1, step: 10 });

    const c = setup(2); // different initial weights, fresh optimizer, scheduler and streams
    const info = await loadCheckpoint(path, { model: c.model, optimizer: c.opt, scheduler: c.sched, generators: { order: c.order, default: defaultGenerator } });
    expect(info).toEqual({ epoch: 1, step: 10, extra: {} });
    expect(c.sched.lastEpoch).toBe(10);
    expect(c.sched.getLastLr()).toEqual(b.sched.getLastLr());
    train(c, 10, 10);
    expect(c.sched.getLastLr()).toEqual(a.sched.getLastLr());
    expect(weights(c.model)).toEqual(weights(a.model));
  });

  it('refuses scheduler state that cannot be continued, and a checkpoint without the scheduler asked for', async () => {
    const s = setup(1);
    expect(() => s.sched.loadStateDict({ lastEpoch: -5, baseLrs: [0.01] })).toThrow(/CosineWithWarmupLR\.loadStateDict: lastEpoch must be an integer >= 0, got -5/);
    expect(() => s.sched.loadStateDict({ lastEpoch: 3, baseLrs: [0.01, 0.02] })).toThrow(/one rate per parameter group \(1\)/);
    expect(() => s.sched.loadStateDict({ lastEpoch: 3, baseLrs: ['abc' as unknown as number] })).toThrow(/baseLrs\[0\] must be a finite number >= 0, got "abc"/);
    const path = join(dir, 'no-sched.safetensors');
    await saveCheckpoint(path, { model: s.model, optimizer: s.opt });
    await expect(loadCheckpoint(path, { model: s.model, optimizer: s.opt, scheduler: s.sched })).rejects.toThrow(/no-sched\.safetensors: holds no scheduler state/);
  });

  it('a kill during a save leaves a complete checkpoint behind', async () => {
    const path = join(dir, 'killed.safetensors');
    const writer = fileURLToPath(new URL('./checkpointWriter.ts', import.meta.url));
    const steps: number[] = [];
    let deadPid = 0;
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 300 + 250 * round));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      deadPid = child.pid!;
      const { metadata, tensors } = loadSafetensors(new Uint8Array(readFileSync(path)), { file: path });
      expect(tensors.size).toBe(6);
      steps.push(JSON.parse(metadata['graft.checkpoint']!).step as number);
    }
    expect(steps.every((s) => s >= 1)).toBe(true);
    // A killed writer's temporary file (whether or not a kill above landed mid-write) goes with the next save.
    writeFileSync(`${path}.tmp-${deadPid}-left`, 'partial');
    const live = `${path}.tmp-${process.pid}-ours`;
    writeFileSync(live, 'in progress');
    await saveCheckpoint(path, { model: new nn.Linear(2, 2) });
    expect(readdirSync(dir).filter((n) => n.startsWith('killed.safetensors.tmp-'))).toEqual(['killed.safetensors.tmp-' + `${process.pid}-ours`]);
  });

  it('refuses a file that is not a graft checkpoint', async () => {
    const path = join(dir, 'plain.safetensors');
    const { saveSafetensors } = await import('../../transfer/import/safetensors.js');
    const { writeFileAtomic } = await import('../../transfer/io.js');
    await writeFileAtomic(path, await saveSafetensors({ w: randn([2]) }));
    await expect(loadCheckpoint(path, { model: new nn.Linear(1, 1) })).rejects.toThrow(/no 'graft.checkpoint' metadata/);
  });
});
