/** @file The CPU backend's WebAssembly engine: one memory holding tensors and scratch (heap.ts), the SIMD GEMM and depthwise kernels, GEMM row panels split over worker threads where the platform allows. */
import { GraftError } from '../../core/errors.js';
import { canBlock } from '../../core/platform/node.js';
import { CHUNKS_PER_THREAD, JOB, type Job, type Pool, parallel, poolThreads, setThreadLimit, startPool, startPoolNow } from './threads.js';
import { WasmHeap } from './heap.js';
import { type Strided, coalesce, forEachRow } from './strided.js';
import { contiguousStrides } from '../../core/shape.js';
import type { TypedArray } from '../../core/dtype.js';
import type { Pool2dParams } from '../../core/params.js';
import { MR, NARROW_PANELS, NR } from '../wasm/gemm.js';
import { cpuKernelModule } from '../wasm/module.js';

const MAX_PAGES = 32768; // 2 GiB of address space; larger products fall back to the TypeScript gemm
const KC = 256;
/** Below this many multiply-adds the copy in and out costs more than the kernel saves. */
const MIN_WORK = 16 * 16 * 16;
/** Below this many multiply-adds one thread is faster than waking the others: a conv over a batch runs one product per image, and splitting each of those small ones cost the MobileNetV2 trunk 40 against 22 ms (local script). */
const MIN_PARALLEL_WORK = 1 << 22;

/** Elementwise programs and reductions over fewer elements run on the calling thread: waking a worker costs more. */
export const MIN_PARALLEL_ELEMENTS = 1 << 18;

/** The worker threads, where they have started (for the generated programs to run on them too). */
export function threadPool(): Pool | null {
  return getEngine()?.pool ?? null;
}

type GemmFn = (ap: number, bp: number, cp: number, k: number, i0: number, i1: number, np: number, ldc: number, kc: number, cd: number, ldcd: number, mFull: number, nFull: number) => void;
type ReduceFn = (x: number, run: number, count: number, out: number, mean: number) => void;
type DepthwiseFn = (xp: number, wp: number, op: number, wpad: number, oh: number, ow4: number, kh: number, kw: number, dh: number, dw: number) => void;

interface Engine {
  memory: WebAssembly.Memory;
  heap: WasmHeap;
  /** Whether tensors may live in the heap: growing a shared memory leaves existing views valid, growing an unshared one detaches them. */
  shared: boolean;
  gemm: GemmFn;
  gemmRows: GemmFn;
  depthwise: DepthwiseFn;
  /** Unrolled kernels by window, such as '3x3'. */
  depthwiseFixed: Map<string, DepthwiseFn>;
  reduceSum: ReduceFn;
  reduceMax: ReduceFn;
  biasClamp: (ptr: number, L: number, count: number, bias: number, lo: number, hi: number) => void;
  fillRows: (ptr: number, L: number, count: number, values: number) => void;
  copyRows: (dst: number, dstStride: number, src: number, srcStride: number, rowBytes: number, rows: number) => void;
  packB: (src: number, rowBytes: number, k: number, panels: number, dst: number) => void;
  convGemm: (...args: number[]) => void;
  im2colPacked: (...args: number[]) => void;
  softmaxRows: (x: number, out: number, rows: number, n: number, log: number) => void;
  addBlocks: (...args: number[]) => void;
  copyBlocks: (...args: number[]) => void;
  gatherRows: (dst: number, src: number, n: number, step: number, rows: number, rowStride: number, dstRowStride: number, blocks: number, blockStride: number) => void;
  packA4: (src: number, rs: number, panels: number, k: number, dst: number) => void;
  maxPool2x2: (xp: number, op: number, W: number, OH: number, OW: number, planes: number, planeIn: number, planeOut: number) => void;
  maxPool: (...args: number[]) => void;
  gatherLast: (...args: number[]) => void;
  packAStrided: (...args: number[]) => void;
  scatterAddLast: (...args: number[]) => void;
  /** The worker threads, once started. */
  pool: Pool | null;
}

let engine: Engine | null | undefined;

function shared(): boolean {
  try {
    return canBlock && typeof SharedArrayBuffer !== 'undefined' && new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/** The wasm engine, or null where WebAssembly SIMD is missing (the TypeScript gemm is used then). */
function getEngine(): Engine | null {
  if (engine !== undefined) return engine;
  try {
    const isShared = shared();
    const bytes = cpuKernelModule(isShared, MAX_PAGES);
    if (!WebAssembly.validate(bytes)) return (engine = null);
    const module = new WebAssembly.Module(bytes);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: isShared } as WebAssembly.MemoryDescriptor);
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    engine = { memory, heap: new WasmHeap(memory, MAX_PAGES * 65536, exports.zero as (at: number, bytes: number) => void), shared: isShared, gemm: exports.gemm as GemmFn, gemmRows: exports.gemmRows as GemmFn, depthwise: exports.depthwise as DepthwiseFn, depthwiseFixed: new Map(['3x3', '5x5', '3x3s2', '5x5s2'].map((k) => [k, exports[`depthwise${k}`] as DepthwiseFn])), reduceSum: exports.reduceSum as ReduceFn, reduceMax: exports.reduceMax as ReduceFn, biasClamp: exports.biasClamp as Engine['biasClamp'], fillRows: exports.fillRows as Engine['fillRows'], copyRows: exports.copyRows as Engine['copyRows'], packB: exports.packB as Engine['packB'], convGemm: exports.convGemm as Engine['convGemm'], im2colPacked: exports.im2colPacked as Engine['im2colPacked'], softmaxRows: exports.softmaxRows as Engine['softmaxRows'], addBlocks: exports.addBlocks as Engine['addBlocks'], copyBlocks: exports.copyBlocks as Engine['copyBlocks'], gatherRows: exports.gatherRows as Engine['gatherRows'], packA4: exports.packA4 as Engine['packA4'], maxPool2x2: exports.maxPool2x2 as Engine['maxPool2x2'], maxPool: exports.maxPool as Engine['maxPool'], gatherLast: exports.gatherLast as Engine['gatherLast'], scatterAddLast: exports.scatterAddLast as Engine['scatterAddLast'], packAStrided: exports.packAStrided as Engine['packAStrided'], pool: null };
    if (isShared) {
      const now = startPoolNow(module, memory);
      if (now !== undefined) engine.pool = now;
      else void startPool(module, memory).then((pool) => (engine!.pool = pool));
    }
  } catch {
    engine = null;
  }
  return engine;
}

export { MAX_CPU_WORKERS } from './threads.js';

/** Caps the threads the CPU GEMM uses (1 = the calling thread only), as torch.set_num_threads does. */
export function setCpuThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new GraftError(`setCpuThreads: expected a positive integer, got ${n}`);
  setThreadLimit(n);
}

/** Threads the next large kernel would use: the caller plus the workers that are ready. */
export function cpuThreads(): number {
  return poolThreads(getEngine()?.pool ?? null);
}

/** Whether gemmF32 will take the wasm path for this product. */
export function wasmGemmApplies(m: number, n: number, k: number): boolean {
  return m * n * k >= MIN_WORK && getEngine() !== null;
}

/**
 * c[cOff + i*ldc + j] += sum_p a[aOff + i*ars + p*acs] * b[bOff + p*brs + j*bcs], with any strides
 * (transposed operands are packed as they are read). Returns false when the wasm path cannot run.
 */
export function gemmF32(
  m: number, n: number, k: number,
  a: Float32Array, aOff: number, ars: number, acs: number,
  b: Float32Array, bOff: number, brs: number, bcs: number,
  c: Float32Array, cOff: number, ldc: number,
): boolean {
  return gemmF32Shared(m, n, k, a, aOff, ars, acs, 1, () => [b, bOff], brs, bcs, c, () => cOff, ldc);
}

/**
 * `count` products with one A: C_t += A * B_t for t < count, A packed once (the images of a
 * convolution share its weights). `bAt(t)` gives B_t's array and offset (it may fill the array
 * first); `cAt(t)` gives C_t's offset.
 */
export function gemmF32Shared(
  m: number, n: number, k: number,
  a: Float32Array, aOff: number, ars: number, acs: number,
  count: number, bAt: (t: number) => [Float32Array, number], brs: number, bcs: number,
  c: Float32Array, cAt: (t: number) => number, ldc: number,
): boolean {
  const e = getEngine();
  if (!e || k === 0) return false;
  const mp = Math.ceil(m / MR) * MR;
  const np = Math.ceil(n / NR) * NR;
  const ws = workspace(e, 4 * (mp * k + np * k + mp * np));
  if (!ws) return false;
  try {
    const ap = ws.at;
    const bp = ap + mp * k;
    const cp = bp + np * k;
    packAPanels(e, a, aOff, ars, acs, m, k, ws.mem, ap);
    const cAt0 = heapAddress(c);
    for (let t = 0; t < count; t++) {
      const [b, bOff] = bAt(t);
      packB(e, b, bOff, brs, bcs, k, n, ws.mem, bp);
      const cOff = cAt(t);
      // Where C is in the heap its whole tiles are accumulated in place; only the edge rows and
      // columns come back from the padded product, each strip in one wasm pass.
      const [mf, nf] = cAt0 >= 0 ? [Math.floor(m / MR), Math.floor(n / NR)] : [0, 0];
      run(e, m * n * k, mp / MR, [4 * ap, 4 * bp, 4 * cp, k], np / NR, 4 * np, [cAt0 + 4 * cOff, 4 * ldc, mf, nf]);
      if (cAt0 >= 0) {
        const [rows, cols] = [mf * MR, nf * NR];
        if (rows < m) e.addBlocks(cAt0 + 4 * (cOff + rows * ldc), 4 * ldc, 0, 4 * (cp + rows * np), 4 * np, 0, m - rows, 1, n);
        if (cols < n && rows > 0) e.addBlocks(cAt0 + 4 * (cOff + cols), 4 * ldc, 0, 4 * (cp + cols), 4 * np, 0, rows, 1, n - cols);
      } else {
        for (let i = 0; i < m; i++) {
          const src = cp + i * np;
          const dst = cOff + i * ldc;
          for (let j = 0; j < n; j++) c[dst + j] += ws.mem[src + j]!;
        }
      }
    }
  } finally {
    ws.release();
  }
  return true;
}

/** The gemm over A's panels [ap..] and B's [bp..] in the heap, its row panels split over the threads where the work is large. */
function run(e: Engine, work: number, panels: number, [ap, bp, cp, k]: number[], np: number, ldc: number, [cd, ldcd, mf, nf]: number[]): void {
  // A product a few column panels wide walks its row panels outside them (each A slice read once).
  const job = np <= NARROW_PANELS ? { id: JOB.gemmRows, fn: e.gemmRows as (...a: number[]) => void } : { id: JOB.gemm, fn: e.gemm as (...a: number[]) => void };
  parallel(e.pool, job, panels, work, MIN_PARALLEL_WORK, (lo, hi) => [ap!, bp!, cp!, k!, lo, hi, np, ldc, KC, cd!, ldcd!, mf!, nf!], { what: 'gemm' });
}

/** A's panels at `ap` in the heap: full panels of contiguous rows by vectors and shuffles, other layouts and the partial last panel by the strided packer. */
function packAPanels(e: Engine, a: Float32Array, aOff: number, ars: number, acs: number, m: number, k: number, mem: Float32Array, ap: number): void {
  const aAt = heapAddress(a);
  const columns = { K1: 1, s1: 0, K2: k, s2: acs };
  if (aAt >= 0 && acs === 1) {
    const panels = Math.floor(m / MR);
    e.packA4(aAt + 4 * aOff, 4 * ars, panels, k, 4 * ap);
    if (m % MR) packAStrided(e, a, aOff + panels * MR * ars, ars, columns, m - panels * MR, ap + panels * MR * k);
  } else if (aAt >= 0) packAStrided(e, a, aOff, ars, columns, m, ap);
  else packA(a, aOff, ars, acs, m, k, mem, ap);
}

/** A's columns as two axes, k = k1 * K2 + k2 at k1 * s1 + k2 * s2 floats (strides of any sign): a weight view read in place, or (K1 = 1) any strided matrix. */
export interface ASplit {
  K1: number; s1: number; K2: number; s2: number;
}

/** A (rows ars floats apart, columns split as `split`, in the heap) packed into panels at float ap, the panels split over the threads. */
function packAStrided(e: Engine, a: Float32Array, aOff: number, ars: number, split: ASplit, m: number, ap: number): void {
  const panels = Math.ceil(m / MR);
  const args = [heapAddress(a) + 4 * aOff, 4 * ars, 4 * split.s1, 4 * split.s2, m, split.K1, split.K2, 4 * ap];
  parallel(e.pool, { id: JOB.packAStrided, fn: e.packAStrided }, panels, m * split.K1 * split.K2, MIN_PARALLEL_ELEMENTS, (lo, hi) => [...args, lo, hi], { what: 'packing' });
}

/** A convolution's window matrix: `images` images side by side, image t at float x0 + t * imageStride of x, each [C, H, W], in the heap. */
export interface ConvWindows {
  x: Float32Array;
  x0: number;
  imageStride: number;
  images: number;
  C: number; H: number; W: number; KH: number; KW: number;
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
  OH: number; OW: number;
}

/** One block of window-matrix panels, in bytes: with the weights' k-slice and its C tiles, within a core's L2. */
const CONV_BLOCK_BYTES = 1 << 18;
/** The largest window matrix made whole for a deep layer (16 MiB). */
const WHOLE_WINDOW_FLOATS = 1 << 22;

/**
 * out[outAt(t) + n*outImage + i*L + l] += (A * windows_t)[i, n*L + l] for t < count: A (m rows of
 * k = C*KH*KW, contiguous) packed once, then per window set the convGemm job over blocks of column
 * panels, each chunk of blocks making its block's window matrix in its own scratch and multiplying
 * it there while it is in cache (a window matrix is KH*KW times its input: written whole, it went to memory
 * and back). Padded images are copied into zero borders first, so no window is bounds-checked. At
 * unit stride the columns run over whole padded rows (the columns past each output row are
 * computed and dropped), so a panel's windows start at consecutive floats and are read as vectors.
 * The product comes back from its padded tiles into out, cropped, in one wasm pass per row of A.
 * False (nothing written) where wasm cannot run it.
 */
export function convGemmF32(m: number, k: number, a: Float32Array, aOff: number, ars: number, count: number, windows: (t: number) => ConvWindows, out: Float32Array, outAt: (t: number) => number, outImage: number, aSplit?: ASplit): boolean {
  const e = getEngine();
  const w0 = windows(0);
  const outAddr = heapAddress(out);
  if (!e || k === 0 || heapAddress(w0.x) < 0) return false;
  const { images, C, H, W, KH, KW, OH, OW } = w0;
  const [ph, pw] = w0.padding;
  const [Hp, Wp] = [H + 2 * ph, W + 2 * pw];
  // Columns per output row: whole padded rows at unit stride where the dropped columns cost at most a quarter more.
  const wide = w0.stride[0] === 1 && w0.stride[1] === 1 && 4 * (Wp - OW) <= OW;
  const rowCols = wide ? Wp : OW;
  const L = (OH - 1) * rowCols + OW;
  const n = images * L;
  const mp = Math.ceil(m / MR) * MR;
  const np = Math.ceil(n / NR) * NR;
  const panels = np / NR;
  const threads = cpuThreads();
  // More weights than windows (deep layers: many channels, few positions): re-reading A for each
  // column block would cost more than the window matrix, so it is made whole (split over the
  // threads) and the product's row panels are split instead, each reading A once.
  const whole = m > n && np * k <= WHOLE_WINDOW_FLOATS;
  const blockPanels = Math.max(1, Math.min(Math.floor(CONV_BLOCK_BYTES / (4 * k * NR)), Math.ceil(panels / (threads * CHUNKS_PER_THREAD))));
  const blockFloats = blockPanels * NR * k;
  // Each chunk of blocks makes its window matrix in its own scratch.
  const chunks = threads * CHUNKS_PER_THREAD;
  const padFloats = ph || pw ? images * C * Hp * Wp : 0;
  // A small output outside the heap is gathered in scratch and added from there.
  const span = (images - 1) * outImage + m * OH * OW;
  const outFloats = outAddr < 0 ? span : 0;
  const scratchFloats = whole ? np * k : chunks * blockFloats;
  const ws = workspace(e, 4 * (mp * k + mp * np + scratchFloats + padFloats + outFloats));
  if (!ws) return false;
  try {
    const ap = ws.at;
    const cp = ap + mp * k;
    const scratch = cp + mp * np;
    const padded = scratch + scratchFloats;
    const gathered = padded + padFloats;
    if (aSplit) packAStrided(e, a, aOff, ars, aSplit, m, ap);
    else packAPanels(e, a, aOff, ars, 1, m, k, ws.mem, ap);
    if (padFloats) e.heap.zero(4 * padded, 4 * padFloats);
    for (let t = 0; t < count; t++) {
      const w = windows(t);
      const xAt = heapAddress(w.x) + 4 * w.x0;
      if (padFloats) {
        // Only the interiors change between window sets: the borders stay zero.
        for (let img = 0; img < images; img++) {
          e.copyBlocks(4 * (padded + img * C * Hp * Wp + ph * Wp + pw), 4 * Hp * Wp, 4 * Wp, xAt + 4 * img * w.imageStride, 4 * H * W, 4 * W, C, H, 4 * W);
        }
      }
      const [src, imageStride] = padFloats ? [4 * padded, C * Hp * Wp] : [xAt, w.imageStride];
      const windowArgs = [src, imageStride, L, n, C, Hp * Wp, Wp, KH, KW, ...w.stride, ...w.dilation, rowCols];
      // Every tile goes to the padded product (mFull = nFull = 0), which the gemm overwrites.
      if (whole) {
        parallel(e.pool, { id: JOB.im2colPacked, fn: e.im2colPacked }, panels, panels * k * NR, MIN_PARALLEL_ELEMENTS, (lo, hi) => [...windowArgs, 4 * scratch, lo, hi], { what: 'im2col' });
        run(e, m * n * k, mp / MR, [4 * ap, 4 * scratch, 4 * cp, k], panels, 4 * np, [0, 0, 0, 0]);
      } else {
        let part = 0;
        parallel(e.pool, { id: JOB.convGemm, fn: e.convGemm }, Math.ceil(panels / blockPanels), Math.max(m * n * k, 16 * n * k), MIN_PARALLEL_WORK, (lo, hi) => [
          ...windowArgs, 4 * ap, 4 * cp, mp / MR, 4 * np, KC, 0, 0, 0, 0, blockPanels, 4 * (scratch + part++ * blockFloats), lo, hi,
        ], { maxChunks: chunks, what: 'conv2d' });
      }
      if (outFloats) e.heap.zero(4 * gathered, 4 * outFloats);
      const o = outFloats ? 4 * gathered : outAddr + 4 * outAt(t);
      // An image's outputs are one run of L in both layouts unless the columns are wide: then one
      // call for all of them (a weight gradient's 3x3 outputs of 512 channels are 262,144 runs).
      if (rowCols === OW) e.addBlocks(o, 4 * OH * OW, 4 * outImage, 4 * cp, 4 * np, 4 * L, m, images, L);
      else for (let i = 0; i < m; i++) e.addBlocks(o + 4 * i * OH * OW, 4 * outImage, 4 * OW, 4 * (cp + i * np), 4 * L, 4 * rowCols, images, OH, OW);
      if (outFloats) {
        for (let img = 0; img < images; img++) {
          for (let j = img * outImage, end = j + m * OH * OW, at = outAt(t); j < end; j++) out[at + j]! += ws.mem[gathered + j]!;
        }
      }
    }
  } finally {
    ws.release();
  }
  return true;
}

/** A [m, k] (any strides) into panels of MR rows, [panel][k][MR], zero-padded past m. */
function packA(a: Float32Array, off: number, rs: number, cs: number, m: number, k: number, out: Float32Array, at: number): void {
  for (let i0 = 0; i0 < m; i0 += MR) {
    const rows = Math.min(MR, m - i0);
    const base = at + i0 * k;
    for (let r = 0; r < MR; r++) {
      if (r >= rows) {
        for (let p = 0; p < k; p++) out[base + p * MR + r] = 0;
        continue;
      }
      let src = off + (i0 + r) * rs;
      for (let p = 0, dst = base + r; p < k; p++, dst += MR, src += cs) out[dst] = a[src]!;
    }
  }
}

/** B [k, n] (any strides) into panels of NR columns, [panel][k][NR], zero-padded past n. */
function packB(e: Engine, b: Float32Array, off: number, rs: number, cs: number, k: number, n: number, out: Float32Array, at: number): void {
  let j0 = 0;
  // Rows of contiguous floats in the heap: the full panels in wasm, four lanes at a time.
  const bAt = cs === 1 ? heapAddress(b) : -1;
  if (bAt >= 0 && n >= NR) {
    const panels = Math.floor(n / NR);
    e.packB(bAt + 4 * off, 4 * rs, k, panels, 4 * at);
    j0 = panels * NR;
  }
  for (; j0 < n; j0 += NR) {
    const cols = Math.min(NR, n - j0);
    const base = at + j0 * k;
    for (let p = 0; p < k; p++) {
      const dst = base + p * NR;
      const src = off + p * rs + j0 * cs;
      for (let c = 0; c < cols; c++) out[dst + c] = b[src + c * cs]!;
      for (let c = cols; c < NR; c++) out[dst + c] = 0;
    }
  }
}

/** Scratch of at least `bytes` from the heap, seen as floats over the whole memory from float index `at`; null when the heap is full. */
function workspace(e: Engine, bytes: number): { mem: Float32Array; at: number; release: () => void } | null {
  const addr = e.heap.alloc(bytes, false);
  if (!addr) return null;
  return { mem: new Float32Array(e.memory.buffer), at: addr / 4, release: () => e.heap.release(addr, bytes) };
}

const SAB = (globalThis as { SharedArrayBuffer?: typeof SharedArrayBuffer }).SharedArrayBuffer;

/** The byte address of `a[0]` when `a` views the wasm heap (the only shared memory CPU buffers use), else -1. */
export function heapAddress(a: ArrayBufferView): number {
  return SAB && a.buffer instanceof SAB ? a.byteOffset : -1;
}

/**
 * A row job over `x` (`inFloats` floats, put in the heap if it is not) writing `outFloats` floats
 * of `out` (written in scratch and copied out if it is outside the heap): `go(xAt, oAt)` runs it
 * on the byte addresses. False (nothing written) without room in the heap.
 */
function rowJob(e: Engine, x: Float32Array, inFloats: number, out: Float32Array, outFloats: number, go: (xAt: number, oAt: number) => void): boolean {
  const xs = inHeap(x.subarray(0, inFloats));
  if (!xs) return false;
  const oHeap = heapAddress(out);
  const oAt = oHeap >= 0 ? oHeap : e.heap.alloc(4 * outFloats, false);
  try {
    if (!oAt) return false;
    go(xs.at, oAt);
    if (oHeap < 0) out.set(new Float32Array(e.memory.buffer, oAt, outFloats));
    return true;
  } finally {
    xs.done();
    if (oHeap < 0 && oAt) e.heap.release(oAt, 4 * outFloats);
  }
}

/**
 * out[o] = the sum, mean or max of x[o*run .. (o+1)*run) for each o < out.length, as wasm SIMD;
 * operands outside the heap pass through scratch. False (nothing written) without the engine or
 * room in the heap.
 */
export function reduceRowsF32(kind: 'sum' | 'mean' | 'max', x: Float32Array, run: number, out: Float32Array): boolean {
  const e = getEngine();
  if (!e || run < 4) return false;
  const count = out.length;
  const job = kind === 'max' ? { id: JOB.reduceMax, fn: e.reduceMax as (...a: number[]) => void } : { id: JOB.reduceSum, fn: e.reduceSum as (...a: number[]) => void };
  const mean = kind === 'mean' ? 1 : 0;
  return rowJob(e, x, count * run, out, count, (xAt, oAt) =>
    parallel(e.pool, job, count, count * run, MIN_PARALLEL_ELEMENTS, (lo, hi) => [xAt + 4 * run * lo, run, hi - lo, oAt + 4 * lo, mean], { what: 'reduction' }));
}

/**
 * out = softmax (or, with `log`, logSoftmax) of each of `rows` contiguous rows of n floats of x
 * from float xOff, as wasm SIMD, rows split over the threads; out is dense. False (nothing
 * written) without the engine or room in the heap.
 */
export function softmaxRowsF32(x: Float32Array, xOff: number, rows: number, n: number, log: boolean, out: Float32Array): boolean {
  const e = getEngine();
  if (!e || n === 0) return false;
  const job = { id: JOB.softmaxRows, fn: e.softmaxRows as (...a: number[]) => void };
  return rowJob(e, x.subarray(xOff), rows * n, out, rows * n, (xAt, oAt) =>
    parallel(e.pool, job, rows, rows * n, MIN_PARALLEL_ELEMENTS, (lo, hi) => [xAt + 4 * n * lo, oAt + 4 * n * lo, hi - lo, n, log ? 1 : 0], { what: 'softmax' }));
}

/**
 * The byte address of `values` in the heap, copying it into scratch when it lives outside (a small
 * JavaScript array, a scalar); `done` releases the copy. Null when the heap has no room.
 */
export function inHeap(values: Float32Array): { at: number; done: () => void } | null {
  const e = getEngine();
  if (!e) return null;
  const at = heapAddress(values);
  if (at >= 0) return { at, done: () => {} };
  const bytes = 4 * values.length;
  const tmp = e.heap.alloc(bytes, false);
  if (!tmp) return null;
  new Float32Array(e.memory.buffer, tmp, values.length).set(values);
  return { at: tmp, done: () => e.heap.release(tmp, bytes) };
}

/** Runs `fn` with `values` in the heap (see inHeap); false when there is no room. */
function withAddress<T>(values: Float32Array, fn: (at: number) => T): T | false {
  const v = inHeap(values);
  if (!v) return false;
  try {
    return fn(v.at);
  } finally {
    v.done();
  }
}

/**
 * For `count` rows of L floats of `o` from index `at`: v = clamp(v + bias[row]) in place (bias null:
 * + 0; no clamp: the infinities), as wasm SIMD. False, having written nothing, when `o` is outside the heap.
 */
export function biasClampF32(o: Float32Array, at: number, count: number, L: number, bias: Float32Array | null, lo: number, hi: number): boolean {
  const e = getEngine();
  const oAt = heapAddress(o);
  if (!e || oAt < 0 || L === 0) return false;
  if (!bias) {
    e.biasClamp(oAt + 4 * at, L, count, 0, lo, hi);
    return true;
  }
  return withAddress(bias.subarray(0, count), (b) => (e.biasClamp(oAt + 4 * at, L, count, b, lo, hi), true));
}

/** Row r (r < count) of L floats of `o` from index `at` set to values[r], as wasm SIMD (a typed array's fill over shared memory is slow). */
export function fillRowsF32(o: Float32Array, at: number, count: number, L: number, values: Float32Array): boolean {
  const e = getEngine();
  const oAt = heapAddress(o);
  if (!e || oAt < 0 || L === 0) return false;
  return withAddress(values.subarray(0, count), (v) => (e.fillRows(oAt + 4 * at, L, count, v), true));
}

/**
 * A dense copy of a strided f32 view in heap scratch, by wasm (a JavaScript copy of a permuted or
 * flipped view costs several ns an element): rows of stride 1 by memory.copy, others element by
 * element. Null unless the view is in the heap. Release it with `done`.
 */
export function denseCopyF32(src: Strided): { data: Float32Array; done: () => void } | null {
  const e = getEngine();
  const at = heapAddress(src.data);
  if (!e || at < 0 || !(src.data instanceof Float32Array)) return null;
  const c = coalesce(src.shape, [src.strides]);
  const r = c.shape.length;
  if (r === 0) return null;
  const step = c.strides[0]![r - 1]!;
  const size = c.shape.reduce((a, b) => a * b, 1);
  const scratch = heapScratch(size);
  if (!scratch) return null;
  // Rows of stride 1 as copyViewF32 copies them; others three dimensions a call, the rest walked here.
  if (step === 1) {
    if (copyViewF32(src, { data: scratch.data, shape: src.shape, strides: contiguousStrides(src.shape), offset: 0 })) return scratch;
    scratch.done();
    return null;
  }
  const dim = (k: number): [number, number] => (r > k ? [c.shape[r - 1 - k]!, c.strides[0]![r - 1 - k]!] : [1, 0]);
  const row = c.shape[r - 1]!;
  const [rows, rowStride] = dim(1);
  const [blocks, blockStride] = dim(2);
  const outer = { shape: c.shape.slice(0, Math.max(0, r - 3)), strides: [c.strides[0]!.slice(0, Math.max(0, r - 3))] };
  let dst = scratch.data.byteOffset;
  forEachRow(outer.shape.length ? [...outer.shape, 1] : [1], [[...outer.strides[0]!, 0]], [src.offset], (bases) => {
    e.gatherRows(dst, at + 4 * bases[0]!, row, 4 * step, rows, 4 * rowStride, 4 * row, blocks, 4 * blockStride);
    dst += 4 * row * rows * blocks;
  });
  return scratch;
}

/**
 * dst = src over their (common) shape: f32 views both in the heap whose rows have stride 1, copied
 * by memory.copy a block of rows at a time (a JavaScript strided copy costs several ns an element).
 * False, with nothing written, for other views.
 */
export function copyViewF32(src: Strided, dst: Strided): boolean {
  const e = getEngine();
  const [sa, da] = [heapAddress(src.data), heapAddress(dst.data)];
  if (!e || sa < 0 || da < 0 || !(src.data instanceof Float32Array) || !(dst.data instanceof Float32Array)) return false;
  const c = coalesce(src.shape, [src.strides, dst.strides]);
  const r = c.shape.length;
  if (r === 0 || c.strides[0]![r - 1] !== 1 || c.strides[1]![r - 1] !== 1) return false;
  // The three innermost dimensions per call (blocks of rows of `row` floats), the rest walked here.
  const dim = (k: number): [number, number, number] => (r > k ? [c.shape[r - 1 - k]!, c.strides[0]![r - 1 - k]!, c.strides[1]![r - 1 - k]!] : [1, 0, 0]);
  const row = c.shape[r - 1]!;
  const [rows, srs, drs] = dim(1);
  const [blocks, sbs, dbs] = dim(2);
  const outer = Math.max(0, r - 3);
  forEachRow([...c.shape.slice(0, outer), 1], c.strides.map((st) => [...st.slice(0, outer), 0]), [src.offset, dst.offset], ([s, d]) =>
    e.copyBlocks(da + 4 * d!, 4 * dbs, 4 * drs, sa + 4 * s!, 4 * sbs, 4 * srs, blocks, rows, 4 * row));
  return true;
}

/**
 * The 2x2, stride-2 max-pooling argmax of `planes` dense planes of H x W f32 values from x[xOff],
 * written to `out` (i32, in the heap) as each window's flat index within its plane. False (nothing
 * written) without the engine, or with `out` outside the heap.
 */
export function maxPool2x2F32(x: Float32Array, xOff: number, planes: number, H: number, W: number, OH: number, OW: number, out: Int32Array): boolean {
  const e = getEngine();
  return !!e && poolPlanes(e, { id: JOB.maxPool2x2, fn: e.maxPool2x2 as (...a: number[]) => void }, [W, OH, OW], 4 * H * W, x, xOff, planes, H, W, OH, OW, out);
}

/** maxPool2x2F32 for any window, stride, padding and dilation (one output at a time). */
export function maxPoolF32(x: Float32Array, xOff: number, planes: number, H: number, W: number, OH: number, OW: number, p: Pool2dParams, out: Int32Array): boolean {
  const e = getEngine();
  const [KH, KW] = p.kernel;
  return !!e && poolPlanes(e, { id: JOB.maxPool, fn: e.maxPool }, [H, W, OH, OW, KH, KW, ...p.stride, ...p.padding, ...p.dilation], OH * OW * KH * KW, x, xOff, planes, H, W, OH, OW, out);
}

/** A pooling kernel (xp, op, ...window, planes, planeIn, planeOut) over the planes, split over the threads where `perPlane` work adds up. */
function poolPlanes(e: Engine, job: Job, window: number[], perPlane: number, x: Float32Array, xOff: number, planes: number, H: number, W: number, OH: number, OW: number, out: Int32Array): boolean {
  const oAt = heapAddress(out);
  if (oAt < 0 || OH * OW === 0) return false;
  const xs = inHeap(x.subarray(xOff, xOff + planes * H * W));
  if (!xs) return false;
  const [pin, pout] = [4 * H * W, 4 * OH * OW];
  try {
    parallel(e.pool, job, planes, planes * perPlane, MIN_PARALLEL_ELEMENTS, (lo, hi) => [xs.at + lo * pin, oAt + lo * pout, ...window, hi - lo, pin, pout], { what: 'max pooling' });
  } finally {
    xs.done();
  }
  return true;
}

/**
 * Along the last axis of dense rows, in wasm: gather (out[r][j] = x[r][index[r][j]], f32 or i32
 * bits) or scatter-add (x[r][index[r][j]] += src[r][j], f32; x is then the output). Returns the
 * flat position of the first index outside [0, size), -1 when all were in range, or null (nothing
 * done) where an array is outside the heap.
 */
export function lastAxisIndex(kind: 'gather' | 'scatterAdd', x: ArrayBufferView, xOff: number, index: ArrayBufferView, iOff: number, data: ArrayBufferView, dOff: number, rows: number, size: number, cols: number): number | null {
  const e = getEngine();
  const [xa, ia, da] = [heapAddress(x), heapAddress(index), heapAddress(data)];
  if (!e || xa < 0 || ia < 0 || da < 0) return null;
  const err = e.heap.alloc(4);
  if (!err) return null;
  try {
    e.heap.zero(err, 4);
    (kind === 'gather' ? e.gatherLast : e.scatterAddLast)(xa + 4 * xOff, ia + 4 * iOff, da + 4 * dOff, rows, size, cols, err);
    return new Int32Array(e.memory.buffer, err, 1)[0]! - 1;
  } finally {
    e.heap.release(err, 4);
  }
}

/** Zeroes an f32 array in the heap by memory.fill (a typed array's fill over shared memory is slow); false where it is not in the heap. */
export function zeroF32(a: Float32Array): boolean {
  const e = getEngine();
  const at = heapAddress(a);
  if (!e || at < 0) return false;
  e.heap.zero(at, a.byteLength);
  return true;
}

/** Zeroes a kernel's output: by memory.fill where it is in the heap, else by the typed array's fill. */
export function fillZero(a: TypedArray): void {
  if (!(a instanceof Float32Array && zeroF32(a))) a.fill(0);
}

/**
 * For a < A, b < B: dst[dstAt + a*dsA + b*dsB + i] += src[srcAt + a*ssA + b*ssB + i], i < n
 * (strides in floats), in one wasm call; false unless both arrays are in the heap.
 */
export function addBlocksF32(dst: Float32Array, dstAt: number, dsA: number, dsB: number, src: Float32Array, srcAt: number, ssA: number, ssB: number, A: number, B: number, n: number): boolean {
  const e = getEngine();
  const [d, s] = [heapAddress(dst), heapAddress(src)];
  if (!e || d < 0 || s < 0) return false;
  if (n > 0) e.addBlocks(d + 4 * dstAt, 4 * dsA, 4 * dsB, s + 4 * srcAt, 4 * ssA, 4 * ssB, A, B, n);
  return true;
}

/** A zeroed scratch Float32Array of `n` floats in the heap (`clear` zeroes it again, `done` releases it), or null. */
export function heapScratch(n: number): { data: Float32Array; clear: () => void; done: () => void } | null {
  const e = getEngine();
  const at = e?.heap.alloc(4 * n) ?? 0;
  if (!at) return null;
  return { data: new Float32Array(e!.memory.buffer, at, n), clear: () => e!.heap.zero(at, 4 * n), done: () => e!.heap.release(at, 4 * n) };
}

/** What a module must import to share the engine's memory. */
export function memoryImport(): { min: number; max: number; shared: boolean } {
  return { min: 1, max: MAX_PAGES, shared: getEngine()?.shared ?? false };
}

/** The engine's memory and heap where tensors may live in it (shared memory), else null. */
export function tensorHeap(): { memory: WebAssembly.Memory; heap: WasmHeap } | null {
  const e = getEngine();
  return e?.shared ? e : null;
}

/** The engine's memory and heap for kernels that bring their own scratch (any memory), or null without wasm SIMD. */
export function kernelHeap(): { memory: WebAssembly.Memory; heap: WasmHeap } | null {
  return getEngine();
}

/**
 * Depthwise conv2d (one filter per channel): out[n, c] = x[n, c] (zero-padded) correlated with
 * w[c]. Each plane is copied into wasm memory with its padding, convolved four outputs at a time,
 * and copied out. Stride 1 takes any window and dilation; stride 2 across (3x3 and 5x5 windows,
 * dilation 1, any row stride) splits the padded plane into its two column phases as it copies it
 * in. With a channel `multiplier` m, input plane c feeds output channels c*m .. c*m + m - 1 (a conv
 * of one input channel per group: the first layer of a grayscale network, say). Returns false when
 * the wasm path cannot run.
 */
export function depthwiseF32(
  x: Float32Array, xs: readonly number[], xOff: number, [N, C, H, W]: readonly number[],
  w: Float32Array, ws: readonly number[], wOff: number, [KH, KW]: readonly number[],
  out: Float32Array, [OH, OW]: readonly number[], [ph, pw]: readonly number[], [dh, dw]: readonly number[],
  [sh, sw]: readonly number[] = [1, 1], multiplier = 1,
): boolean {
  const e = getEngine();
  if (!e || OH <= 0 || OW <= 0) return false;
  const strided = sh !== 1 || sw !== 1;
  const kernel = strided ? (sw === 2 && dh === 1 && dw === 1 ? e.depthwiseFixed.get(`${KH}x${KW}s2`) : undefined) : e.depthwiseFixed.get(`${KH}x${KW}`) ?? e.depthwise;
  if (!kernel) return false;
  const ow4 = Math.ceil(OW / 4);
  const rows = (OH - 1) * sh + (KH - 1) * dh + 1;
  // Floats a (phase) row: the padded columns it holds, and enough past them for the last vector's taps.
  const wpad = strided ? Math.max(Math.ceil((W + 2 * pw) / sw), 4 * ow4 + Math.floor((KW - 1) / sw)) : Math.max(W + 2 * pw, 4 * ow4 + (KW - 1) * dw);
  const phases = strided ? sw : 1;
  const phase = rows * wpad;
  const scratch = workspace(e, 4 * (phases * phase + KH * KW + OH * 4 * ow4));
  if (!scratch) return false;
  const { mem } = scratch;
  const planeAt = scratch.at;
  const tapsAt = planeAt + phases * phase;
  const outAt = tapsAt + KH * KW;
  // The padding is the same for every plane: zero it once, then overwrite only the interior.
  mem.fill(0, planeAt, tapsAt);
  const denseRows = xs[3] === 1;
  // Planes in and outputs out by memory.copy where both sides are in the heap (a typed array's set over shared memory is slow).
  const xAt = heapAddress(x);
  const oAt = heapAddress(out);
  const inRows = Math.max(0, Math.min(H, rows - ph));
  try {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const src = xOff + n * xs[0]! + c * xs[1]!;
        if (!strided && xAt >= 0 && denseRows) e.copyRows(4 * (planeAt + ph * wpad + pw), 4 * wpad, xAt + 4 * src, 4 * xs[2]!, 4 * W, inRows);
        else if (strided && xAt >= 0) {
          for (let p = 0; p < sw; p++) {
            // Input columns c0, c0 + sw, ... land in phase p from column k0 on.
            const c0 = (((p - pw) % sw) + sw) % sw;
            if (c0 >= W) continue;
            e.gatherRows(4 * (planeAt + p * phase + ph * wpad + (c0 + pw - p) / sw), xAt + 4 * (src + c0 * xs[3]!), Math.ceil((W - c0) / sw), 4 * sw * xs[3]!, inRows, 4 * xs[2]!, 4 * wpad, 1, 0);
          }
        } else {
          for (let h = 0; h < inRows; h++) {
            const row = src + h * xs[2]!;
            for (let v = 0; v < W; v++) {
              const col = v + pw;
              mem[planeAt + (col % phases) * phase + (h + ph) * wpad + Math.floor(col / phases)] = x[row + v * xs[3]!]!;
            }
          }
        }
        for (let m = 0; m < multiplier; m++) {
          const oc = c * multiplier + m;
          for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) mem[tapsAt + i * KW + j] = w[wOff + oc * ws[0]! + i * ws[2]! + j * ws[3]!]!;
          if (strided) kernel(4 * planeAt, 4 * tapsAt, 4 * outAt, wpad, OH, ow4, sh, 4 * phase, 1, 1);
          else kernel(4 * planeAt, 4 * tapsAt, 4 * outAt, wpad, OH, ow4, KH, KW, dh, dw);
          const o = (n * C * multiplier + oc) * OH * OW;
          if (oAt >= 0) e.copyRows(oAt + 4 * o, 4 * OW, 4 * outAt, 16 * ow4, 4 * OW, OH);
          else for (let h = 0; h < OH; h++) out.set(mem.subarray(outAt + h * 4 * ow4, outAt + h * 4 * ow4 + OW), o + h * OW);
        }
      }
    }
  } finally {
    scratch.release();
  }
  return true;
}
