/** @file Checkpoints: model, optimizer and random-stream state in one safetensors file, written atomically. */
import { GraftFormatError, type Generator, type Tensor, type nn, type optim } from '../index.js';
import { loadSafetensors, saveSafetensors } from './import/safetensors.js';
import { type Source, readBytes, writeFileAtomic } from './io.js';

const META_KEY = 'graft.checkpoint';

export interface CheckpointParts {
  model: nn.Module;
  optimizer?: optim.Optimizer<{ lr: number }>;
  /** A learning-rate scheduler: its step count and base rates, so a resume continues the schedule. */
  scheduler?: optim.LRScheduler;
  /** Random streams to restore (data order, augmentation, dropout). */
  generators?: Record<string, Generator>;
}

export interface CheckpointInfo {
  epoch: number;
  step: number;
  extra: Record<string, unknown>;
}

interface Meta extends CheckpointInfo {
  version: 1;
  optim?: { paramGroups: Record<string, unknown>[]; scalars: Record<string, Record<string, number>> };
  scheduler?: optim.SchedulerState;
  generators: Record<string, number[]>;
}

/** The checkpoint as safetensors bytes: `model.<key>` and `optim.<index>.<key>` tensors plus JSON metadata. */
export async function checkpointBytes(parts: CheckpointParts, info: Partial<CheckpointInfo> = {}): Promise<Uint8Array> {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of parts.model.stateDict()) tensors.set(`model.${k}`, t);
  const meta: Meta = { version: 1, epoch: info.epoch ?? 0, step: info.step ?? 0, extra: info.extra ?? {}, generators: {} };
  if (parts.optimizer) {
    const sd = parts.optimizer.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [i, st] of sd.state) {
      for (const [k, v] of Object.entries(st)) {
        if (typeof v === 'number') (scalars[i] ??= {})[k] = v;
        else tensors.set(`optim.${i}.${k}`, v);
      }
    }
    meta.optim = { paramGroups: sd.paramGroups, scalars };
  }
  if (parts.scheduler) meta.scheduler = parts.scheduler.stateDict();
  for (const [name, g] of Object.entries(parts.generators ?? {})) meta.generators[name] = g.getState();
  return saveSafetensors(tensors, { [META_KEY]: JSON.stringify(meta) });
}

/** Writes a checkpoint file atomically: a crash during the write leaves the previous file intact. */
export async function saveCheckpoint(path: string, parts: CheckpointParts, info: Partial<CheckpointInfo> = {}): Promise<void> {
  await writeFileAtomic(path, await checkpointBytes(parts, info));
}

/** Restores model, optimizer and generators from a checkpoint; returns epoch, step and extra. */
export async function loadCheckpoint(src: Source, parts: CheckpointParts): Promise<CheckpointInfo> {
  const { bytes, name } = await readBytes(src);
  const { tensors, metadata } = loadSafetensors(bytes, { file: name, backend: parts.model.parameters()[0]?.storage.backend });
  const raw = metadata[META_KEY];
  if (!raw) throw new GraftFormatError(`checkpoint: ${name}: no '${META_KEY}' metadata (not a graft checkpoint)`);
  let meta: Meta;
  try {
    meta = JSON.parse(raw) as Meta;
  } catch (e) {
    throw new GraftFormatError(`checkpoint: ${name}: metadata is not JSON (${(e as Error).message})`);
  }
  const model = new Map<string, Tensor>();
  const optimTensors = new Map<number, Record<string, Tensor | number>>();
  for (const [k, t] of tensors) {
    if (k.startsWith('model.')) model.set(k.slice(6), t);
    else if (k.startsWith('optim.')) {
      const m = /^optim\.(\d+)\.(.+)$/.exec(k);
      if (!m) throw new GraftFormatError(`checkpoint: ${name}: unexpected tensor '${k}'`);
      const rec = optimTensors.get(Number(m[1])) ?? {};
      rec[m[2]!] = t;
      optimTensors.set(Number(m[1]), rec);
    }
  }
  parts.model.loadStateDict(model);
  if (parts.optimizer) {
    if (!meta.optim) throw new GraftFormatError(`checkpoint: ${name}: holds no optimizer state`);
    for (const [i, sc] of Object.entries(meta.optim.scalars)) optimTensors.set(Number(i), { ...optimTensors.get(Number(i)), ...sc });
    parts.optimizer.loadStateDict({ state: optimTensors, paramGroups: meta.optim.paramGroups });
  }
  // After the optimizer: its loaded groups carry the scheduled rate, which the scheduler then sets again.
  if (parts.scheduler) {
    if (!meta.scheduler) throw new GraftFormatError(`checkpoint: ${name}: holds no scheduler state`);
    try {
      parts.scheduler.loadStateDict(meta.scheduler);
    } catch (e) {
      throw new GraftFormatError(`checkpoint: ${name}: ${(e as Error).message}`);
    }
  }
  for (const [gName, g] of Object.entries(parts.generators ?? {})) {
    const st = meta.generators[gName];
    if (!st) throw new GraftFormatError(`checkpoint: ${name}: no state for generator '${gName}'`);
    g.setState(st);
  }
  return { epoch: meta.epoch, step: meta.step, extra: meta.extra };
}
