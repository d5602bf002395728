/** @file navigator.gpu for peers that look for it (tfjs-webgpu, jax-js, gpu.js), backed by Dawn through the webgpu package. */
import { gpuApi } from '../../engine/webgpu/device.js';

let installed: Promise<string | null> | null = null;

/** Installs a navigator.gpu in Node once; resolves null when an adapter exists, else the reason. */
export function installNavigatorGpu(): Promise<string | null> {
  installed ??= (async () => {
    const g = globalThis as { navigator?: { gpu?: GPU } };
    if (!g.navigator?.gpu) {
      // The same Dawn instance graft uses, so every implementation sees one adapter.
      const { gpu, why } = await gpuApi();
      if (!gpu) return why;
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
    }
    const adapter = await g.navigator!.gpu!.requestAdapter();
    return adapter ? null : 'no WebGPU adapter';
  })();
  return installed;
}
