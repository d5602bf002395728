/** @file navigator.gpu for peers that look for it (tfjs-webgpu, jax-js), backed by Dawn through the webgpu package. */

let installed: Promise<string | null> | null = null;

/** Installs a navigator.gpu in Node once; resolves null when an adapter exists, else the reason. */
export function installNavigatorGpu(): Promise<string | null> {
  installed ??= (async () => {
    const g = globalThis as { navigator?: { gpu?: GPU } };
    if (!g.navigator?.gpu) {
      const mod = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
      for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      const gpu = mod.create([]);
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
    }
    const adapter = await g.navigator!.gpu!.requestAdapter();
    return adapter ? null : 'no WebGPU adapter';
  })();
  return installed;
}
