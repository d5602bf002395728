/** @file The CPU backend's WebAssembly module: every wasm kernel, over one imported memory. */
import { depthwiseFixedFunction, depthwiseFunction } from './depthwise.js';
import { wasmModule } from './encode.js';
import { gemmFunction } from './gemm.js';

/** The module's bytes, importing a memory of `maxPages` 64 KiB pages (shared for worker threads). */
export function cpuKernelModule(shared: boolean, maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule({ min: 1, max: maxPages, shared }, [gemmFunction(), depthwiseFunction(), depthwiseFixedFunction(3, 3), depthwiseFixedFunction(5, 5)]);
}
