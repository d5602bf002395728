/** @file Choosing the backend new tensors are created on: the CPU reference, WebGPU, or the best available. */
import { type Backend, getBackend, setBackend, setDefaultBackendFactory } from './backend.js';
import { CpuBackend } from './cpu/backend.js';
import { GraftError } from '../core/errors.js';
import { acquireDevice } from './webgpu/device.js';
import { WebGPUBackend } from './webgpu/backend.js';
import { tuneMatmul } from './webgpu/autotune.js';

setDefaultBackendFactory(() => new CpuBackend());

export type BackendName = 'cpu' | 'webgpu' | 'auto';

export interface InitOptions {
  /** 'auto' (the default) takes WebGPU when an adapter exists, else the CPU with a one-line notice. */
  backend?: BackendName;
  powerPreference?: GPUPowerPreference;
}

/**
 * A WebGPU backend on a new device, or the reason there is none. `withoutFeatures` leaves adapter
 * features unrequested ('shader-f16', 'subgroups'), so the device behaves as one without them.
 */
export async function createWebGPUBackend(powerPreference?: GPUPowerPreference, opts: { withoutFeatures?: readonly GPUFeatureName[] } = {}): Promise<WebGPUBackend | string> {
  const got = await acquireDevice(powerPreference, opts.withoutFeatures);
  if ('why' in got) return got.why;
  const backend = new WebGPUBackend(got);
  await tuneMatmul(backend);
  return backend;
}

/** Selects the backend for tensors created from now on and returns it. */
export async function init(opts: InitOptions = {}): Promise<Backend> {
  const want = opts.backend ?? 'auto';
  if (want !== 'cpu' && want !== 'webgpu' && want !== 'auto') {
    throw new GraftError(`init: unknown backend '${String(want)}' (expected 'cpu', 'webgpu' or 'auto')`);
  }
  let backend: Backend;
  if (want === 'cpu') backend = new CpuBackend();
  else {
    const gpu = await createWebGPUBackend(opts.powerPreference);
    if (typeof gpu === 'string') {
      if (want === 'webgpu') throw new GraftError(`init: WebGPU was requested but ${gpu}`);
      console.info(`graft: WebGPU unavailable (${gpu}); using the CPU backend`);
      backend = new CpuBackend();
    } else backend = gpu;
  }
  const previous = getBackend();
  if (previous instanceof WebGPUBackend && previous !== backend) previous.flush();
  setBackend(backend);
  return backend;
}
