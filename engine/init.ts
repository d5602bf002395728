/** @file Choosing the backend new tensors are created on. */
import { setBackend, setDefaultBackendFactory } from './backend.js';
import { CpuBackend } from './cpu/backend.js';
import { GraftError } from './errors.js';

setDefaultBackendFactory(() => new CpuBackend());

export interface InitOptions {
  /** The CPU reference backend; it runs everywhere. */
  backend?: 'cpu';
}

/** Selects the backend for tensors created from now on and returns its name. */
export async function init(opts: InitOptions = {}): Promise<string> {
  const want = opts.backend ?? 'cpu';
  if (want !== 'cpu') throw new GraftError(`init: unknown backend '${String(want)}' (available: cpu)`);
  setBackend(new CpuBackend());
  return want;
}
