/** @file The CPU backend's WebAssembly module: every wasm kernel, over one imported memory. */
import { depthwiseFixedFunction, depthwiseFunction, depthwiseStridedFunction } from './depthwise.js';
import { Body, I32, type WasmFunction, wasmModule } from './encode.js';
import { NARROW_PANELS, gemmFunction } from './gemm.js';
import { convGemmFunction, im2colPackedFunction } from './im2col.js';
import { packA4Function, packAStridedFunction, packBFunction } from './pack.js';
import { maxPool2x2Function, maxPoolFunction } from './pool.js';
import { gatherLastFunction, scatterAddLastFunction } from './gather.js';
import { reduceMaxFunction, reduceSumFunction } from './reduce.js';
import { softmaxRowsFunction } from './softmax.js';
import { addBlocksFunction, biasClampFunction, copyBlocksFunction, copyRowsFunction, fillRowsFunction, gatherRowsFunction } from './rows.js';

/** zero(address, bytes): memory.fill with 0, far faster than a typed array's fill over shared memory. */
function zeroFunction(): WasmFunction {
  return { name: 'zero', params: [I32, I32], locals: [], body: new Body().get(0).i32(0).get(1).memoryFill() };
}

/** The module's bytes, importing a memory of `maxPages` 64 KiB pages (shared for worker threads). */
export function cpuKernelModule(shared: boolean, maxPages: number): Uint8Array<ArrayBuffer> {
  const funcs = [gemmFunction(), gemmFunction('rows'), depthwiseFunction(), depthwiseFixedFunction(3, 3), depthwiseFixedFunction(5, 5), depthwiseStridedFunction(3, 3, 2), depthwiseStridedFunction(5, 5, 2), zeroFunction(), reduceSumFunction(), reduceMaxFunction(), biasClampFunction(), fillRowsFunction(), copyRowsFunction(), packBFunction(), im2colPackedFunction(), addBlocksFunction(), gatherRowsFunction(), packA4Function(), maxPool2x2Function(), maxPoolFunction(), softmaxRowsFunction(), copyBlocksFunction(), gatherLastFunction(), scatterAddLastFunction(), packAStridedFunction()];
  const at = (name: string) => funcs.findIndex((f) => f.name === name);
  funcs.push(convGemmFunction({ im2col: at('im2colPacked'), gemm: at('gemm'), gemmRows: at('gemmRows') }, NARROW_PANELS));
  return wasmModule({ min: 1, max: maxPages, shared }, funcs);
}
