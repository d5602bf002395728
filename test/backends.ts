/** @file The backends tests run on: the CPU always, WebGPU when an adapter exists (required when GRAFT_REQUIRE_WEBGPU=1). */
import { type Backend, createWebGPUBackend, getBackend } from '../index.js';
import { CpuBackend } from '../engine/cpu/backend.js';

let webgpu: Promise<Backend | null> | null = null;

/** One WebGPU backend per test file (each file runs in its own process). */
export function webgpuBackend(): Promise<Backend | null> {
  webgpu ??= createWebGPUBackend().then((b) => {
    if (typeof b !== 'string') return b;
    if (process.env.GRAFT_REQUIRE_WEBGPU === '1') throw new Error(`GRAFT_REQUIRE_WEBGPU=1 but ${b}`);
    console.warn(`WebGPU tests not run: ${b}`);
    return null;
  });
  return webgpu;
}

/** The CPU reference backend and, where available, WebGPU. */
export async function testBackends(): Promise<Backend[]> {
  const gpu = await webgpuBackend();
  return gpu ? [new CpuBackend(), gpu] : [new CpuBackend()];
}

/**
 * Waits for the work every backend in use has queued and raises any error it left: run after each
 * test, so a failure is charged to the test that caused it, never to the next one.
 */
export async function settleBackends(): Promise<void> {
  const gpu = webgpu ? await webgpu.catch(() => null) : null;
  const inUse = new Set([gpu, getBackend()].filter((b): b is Backend => b !== null));
  for (const b of inUse) await b.sync();
}
