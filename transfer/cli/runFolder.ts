/** @file What both subcommands share: their backend and seed options, the run folder (checked first, written last), the machine line and the held-out split. */
import { mkdir, stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type Dataset, splitPerClass } from '../data/dataset.js';
import { writeFileAtomic } from '../io.js';
import { UsageError } from './options.js';

/** The options every subcommand takes, declared once. */
export const COMMON_OPTIONS = {
  backend: { type: 'choice', choices: ['cpu', 'webgpu', 'auto'], default: 'cpu', help: 'backend' },
  seed: { type: 'int', min: 0, metavar: 'N', default: 0, help: 'seed of weights, data order and splits' },
} as const;

/** runs/<prefix><ISO time>, safe as a folder name. */
export function runFolderName(prefix: string): string {
  return join('runs', `${prefix}${new Date().toISOString().replace(/[:.]/g, '-')}`);
}

/** Refuses an --out that names a file, before any work. */
export async function checkOutFolder(out: string, command: string): Promise<void> {
  const s = await stat(out).catch(() => null);
  if (s && !s.isDirectory()) throw new UsageError(`--out ${out}: is a file, not a folder`, command);
}

/** Creates the folder and writes every file (each atomically) once the run has produced all of them, so no failed run leaves an empty or partial folder. */
export async function writeRunFolder(out: string, files: Record<string, string | Uint8Array>): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const [name, body] of Object.entries(files)) await writeFileAtomic(join(out, name), typeof body === 'string' ? new TextEncoder().encode(body) : body);
}

export function machine(backend: string): Record<string, unknown> {
  return { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, backend };
}

/** Splits a held-out pool into validation (epoch selection) and test (the reported number), disjoint. */
export function splitHeldOut(d: Dataset, valPerClass: number, seed: number): { val: Dataset; test: Dataset } {
  const { picked, rest } = splitPerClass(d, valPerClass, seed + 1);
  return { val: picked, test: rest };
}
