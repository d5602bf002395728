/** @file gpu.js: JavaScript kernels compiled to WebAssembly ('webasm') or WGSL ('webgpu'); matmul only. */
import type { Impl, MatmulParams, Prepared } from '../types.js';
import { installNavigatorGpu } from './gpu.js';

type GpuJs = { GPU: new (o: { mode: string }) => { mode: string; createKernel: (f: unknown) => Kernel; destroy?: () => void } };
type Kernel = { setOutput: (o: number[]) => Kernel; setConstants: (c: Record<string, number>) => Kernel; (...args: unknown[]): unknown };

export function gpujsImpl(mode: 'webasm' | 'webgpu'): Impl {
  let lib: GpuJs;
  return {
    name: `gpujs-${mode}`,
    async available() {
      try {
        if (mode === 'webgpu') {
          const why = await installNavigatorGpu();
          if (why) return why;
        }
        const m = (await import('gpu.js')) as unknown as GpuJs & { default?: GpuJs };
        lib = m.default ?? m;
        const gpu = new lib.GPU({ mode });
        if (gpu.mode !== mode) return `gpu.js chose mode ${gpu.mode}, not ${mode}`;
        return null;
      } catch (e) {
        return `gpu.js ${mode}: ${(e as Error).message.split('\n')[0]}`;
      }
    },
    async matmul(p: MatmulParams, a: Float32Array, b: Float32Array): Promise<Prepared> {
      const gpu = new lib.GPU({ mode });
      const rowsOf = (x: Float32Array, rows: number, cols: number) => Array.from({ length: rows }, (_, i) => x.subarray(i * cols, (i + 1) * cols));
      const [ra, rb] = [rowsOf(a, p.m, p.k), rowsOf(b, p.k, p.n)];
      const kernel = gpu
        .createKernel(function (this: { thread: { x: number; y: number }; constants: { k: number } }, x: number[][], y: number[][]) {
          let s = 0;
          for (let i = 0; i < this.constants.k; i++) s += x[this.thread.y]![i]! * y[i]![this.thread.x]!;
          return s;
        })
        .setOutput([p.n, p.m])
        .setConstants({ k: p.k });
      let out: Float32Array[] = [];
      return {
        // webgpu kernels resolve asynchronously; either way the rows are JavaScript arrays afterwards.
        run: async () => {
          out = (await kernel(ra, rb)) as Float32Array[];
        },
        output: async () => {
          const flat = new Float32Array(p.m * p.n);
          out.forEach((row, i) => flat.set(row, i * p.n));
          return flat;
        },
        dispose: () => gpu.destroy?.(),
      };
    },
  };
}
