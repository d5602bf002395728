/** @file Node's WebGPU: one Dawn instance from the `webgpu` package, its enums made globals as in a browser. (Browser builds use browser.ts.) */

let dawn: GPU | null = null;

/** Dawn's GPU entry point, or why it could not be loaded. */
export async function platformGpu(): Promise<{ gpu: GPU | null; why: string }> {
  if (typeof process === 'undefined' || !process.versions?.node) return { gpu: null, why: 'navigator.gpu is missing' };
  if (!dawn) {
    try {
      const mod = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
      // Dawn's enums (GPUBufferUsage, GPUMapMode, ...) become globals, as in a browser; existing ones stay.
      for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      dawn = mod.create([]);
    } catch (e) {
      return { gpu: null, why: `the webgpu package did not load (${(e as Error).message})` };
    }
  }
  return { gpu: dawn, why: '' };
}

/** Hardware threads (cores) this process may use. */
export async function hardwareThreads(): Promise<number> {
  const os = await import('node:os');
  return os.availableParallelism?.() ?? os.cpus().length;
}

/**
 * Starts `count` worker threads running `source` (a script that sees `workerData`: `data` plus
 * its index as `id`). They are unref'd: an idle pool never keeps the process alive.
 */
export async function startWorkers(count: number, source: string, data: Record<string, unknown>): Promise<{ terminate(): void }[]> {
  const { Worker } = await import('node:worker_threads');
  return Array.from({ length: count }, (_, id) => {
    const w = new Worker(`const { workerData } = require('node:worker_threads');\n${source}`, { eval: true, workerData: { ...data, id } });
    w.unref();
    return { terminate: () => void w.terminate() };
  });
}

/** Whether this thread may block in Atomics.wait (Node's main thread may; a browser's may not). */
export const canBlock = true;

let gcFn: (() => void) | null | undefined;

/**
 * A full garbage collection, so the FinalizationRegistry can return the GPU buffers of tensors
 * nobody disposed: their JavaScript objects are small, so the heap alone would not ask for one
 * before the device runs out. A no-op where V8's gc cannot be reached.
 */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      const get = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
      const v8 = get?.('node:v8') as typeof import('node:v8') | undefined;
      const vm = get?.('node:vm') as typeof import('node:vm') | undefined;
      if (!v8 || !vm) gcFn = null;
      else {
        v8.setFlagsFromString('--expose-gc');
        gcFn = vm.runInNewContext('gc') as () => void;
      }
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}
