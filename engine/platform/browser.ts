/** @file The browser's stand-in for node.ts: WebGPU comes only from navigator.gpu, so there is nothing to load. */

export async function platformGpu(): Promise<{ gpu: GPU | null; why: string }> {
  return { gpu: null, why: 'navigator.gpu is missing (this browser has no WebGPU, or it is turned off; the CPU backend still works)' };
}
