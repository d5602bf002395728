/** @file The browser's stand-in for node.ts: WebGPU comes only from navigator.gpu, so there is nothing to load. */

export async function platformGpu(): Promise<{ gpu: GPU | null; why: string }> {
  return { gpu: null, why: 'navigator.gpu is missing (this browser has no WebGPU, or it is turned off; the CPU backend still works)' };
}

export async function hardwareThreads(): Promise<number> {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** A page's main thread cannot block on Atomics.wait, so the CPU kernels run single-threaded there. */
export async function startWorkers(_count: number, _source: string, _data: Record<string, unknown>): Promise<{ terminate(): void }[]> {
  return [];
}

/** A page starts no workers (see startWorkers). */
export function startWorkersNow(_source: string, _data: Record<string, unknown>, _most: number): { terminate(): void }[] | null {
  return [];
}

export const canBlock = false;

/** Pages cannot trigger a collection; the FinalizationRegistry runs when the browser collects. */
export function collectGarbage(): void {}

/** A copy of `src` (a view of shared memory) in a fresh array of its type. */
export function copyShared<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(src: T): T {
  const Ctor = src.constructor as new (length: number) => T;
  const out = new Ctor(src.length);
  out.set(src as never);
  return out;
}
