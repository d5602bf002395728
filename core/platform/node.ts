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
 * A worker's script around `source`: the workers take none of the process's flags (execArgv: []),
 * so an eval'd script is CommonJS even under --input-type=module and no loader runs again in them.
 */
function workerScript(source: string): string {
  return `const { workerData } = require('node:worker_threads');\n${source}`;
}

/**
 * Starts `count` worker threads running `source` (a script that sees `workerData`: `data` plus
 * its index as `id`). They are unref'd: an idle pool never keeps the process alive.
 */
export async function startWorkers(count: number, source: string, data: Record<string, unknown>): Promise<{ terminate(): void }[]> {
  const { Worker } = await import('node:worker_threads');
  return Array.from({ length: count }, (_, id) => {
    const w = new Worker(workerScript(source), { eval: true, workerData: { ...data, id }, execArgv: [] });
    w.unref();
    return { terminate: () => void w.terminate() };
  });
}

/**
 * startWorkers without waiting for a promise, with the hardware thread count: where Node hands out
 * its modules synchronously (process.getBuiltinModule), the threads exist when this returns, so a
 * program that never yields still gets them; null where it cannot.
 */
export function startWorkersNow(source: string, data: Record<string, unknown>, most: number): { terminate(): void }[] | null {
  const get = typeof process !== 'undefined' ? (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule : undefined;
  const wt = get?.('node:worker_threads') as typeof import('node:worker_threads') | undefined;
  const os = get?.('node:os') as typeof import('node:os') | undefined;
  if (!wt || !os) return null;
  const count = Math.min(most, (os.availableParallelism?.() ?? os.cpus().length) - 1);
  return Array.from({ length: Math.max(0, count) }, (_, id) => {
    const w = new wt.Worker(workerScript(source), { eval: true, workerData: { ...data, id }, execArgv: [] });
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

/**
 * A copy of `src`, a view of shared memory, in a fresh array of its type over its own buffer: by
 * Buffer.copy (a memcpy), which measured twice as fast as TypedArray.prototype.set from a
 * SharedArrayBuffer (0.33 against 0.63 ms for 4 MiB).
 */
export function copyShared<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(src: T): T {
  const bytes = Buffer.allocUnsafeSlow(src.byteLength);
  Buffer.from(src.buffer, src.byteOffset, src.byteLength).copy(bytes);
  const Ctor = src.constructor as new (buffer: ArrayBufferLike, offset: number, length: number) => T;
  return new Ctor(bytes.buffer, bytes.byteOffset, src.length);
}
