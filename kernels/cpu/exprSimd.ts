/** @file Running a fused f32 elementwise program as WebAssembly SIMD over tensors in the wasm heap: one compiled module per program structure, called once per coalesced 2-d block. */
import type { DType, TypedArray } from '../../core/dtype.js';
import { broadcastStrides, contiguousStrides, isContiguous } from '../../core/shape.js';
import { type LeafKind, type SimdLowering, exprFunction } from '../wasm/expr.js';
import { wasmModule } from '../wasm/encode.js';
import { type Strided, coalesce, forEachRow } from './strided.js';
import { MIN_PARALLEL_ELEMENTS, copyViewF32, denseCopyF32, heapAddress, heapScratch, inHeap, kernelHeap, memoryImport, threadPool } from './wasm.js';
import { FIRST_PROGRAM, type Job, parallel } from './threads.js';

export interface SimdExprNode {
  op: string;
  simd: SimdLowering;
  attrs: unknown;
  args: readonly number[];
  dtype: DType;
}

const COMPARISONS = new Set(['lt', 'gt', 'eq']);
/** f16 values are f32 lanes rounded after each f16 node, so both run as f32 vectors. */
const HALF_OR_SINGLE = new Set<DType>(['f32', 'f16']);
/** A cast between f32 and f16: the value as it is (the f16 node's rounding follows it). */
const SAME_VALUE: SimdLowering = { emit: (b, [a]) => void b.get(a!) };

/**
 * Whether the program's values are all f32 lanes, but for comparisons: those are lane masks, read
 * only by a cast to f32 or as the condition of a where, never stored.
 */
/** Whether argument `a` (a leaf index, or leaf count + node index) is a comparison's lane mask. */
const maskTest = (nLeaves: number, nodes: readonly SimdExprNode[]) => (a: number) => a >= nLeaves && nodes[a - nLeaves]!.dtype === 'bool';

function lanesFit(nLeaves: number, nodes: readonly SimdExprNode[], outputs: readonly number[]): boolean {
  const isMask = maskTest(nLeaves, nodes);
  // Leaves are f32 arrays (f16 values too) by the time this is asked.
  const isHalfOrSingle = (a: number) => a < nLeaves || HALF_OR_SINGLE.has(nodes[a - nLeaves]!.dtype);
  return nodes.every((n, k) => {
    if (n.dtype === 'bool') return COMPARISONS.has(n.op) && !outputs.includes(nLeaves + k) && n.args.every((a) => !isMask(a));
    if (!HALF_OR_SINGLE.has(n.dtype)) return false;
    if (n.op === 'cast') return isMask(n.args[0]!) || isHalfOrSingle(n.args[0]!);
    if (n.op === 'where') return isMask(n.args[0]!) && !isMask(n.args[1]!) && !isMask(n.args[2]!);
    return n.args.every((a) => !isMask(a));
  });
}


/** Leaves outside the heap up to this many elements are copied into scratch; larger ones send the program to JavaScript. */
const MAX_COPIED = 1 << 16;

const programs = new Map<string, Job>();

/** The compiled program, with its bytes so worker threads can compile it too. */
function programFor(kinds: readonly LeafKind[], nodes: readonly SimdExprNode[], outputs: readonly number[]): Job {
  const key = `${kinds.join(',')}|${nodes.map((n) => `${n.op}:${n.dtype}:${n.args.join(',')}`).join(';')}|${outputs.join(',')}`;
  let p = programs.get(key);
  if (!p) {
    const isMask = maskTest(kinds.length, nodes);
    const lowered = nodes.map((n) => ({ lowering: n.op === 'cast' && !isMask(n.args[0]!) ? SAME_VALUE : n.simd, args: n.args, roundF16: n.dtype === 'f16' }));
    const { fn } = exprFunction(kinds, lowered, outputs);
    const h = kernelHeap()!;
    const bytes = wasmModule(memoryImport(), [fn]);
    const module = new WebAssembly.Module(bytes);
    p = { id: FIRST_PROGRAM + programs.size, fn: new WebAssembly.Instance(module, { env: { memory: h.memory } }).exports.program as Job['fn'], bytes };
    programs.set(key, p);
  }
  return p;
}

/**
 * Runs the program when every leaf and output is f32 (comparisons inside it as masks), each output
 * is in the heap, and every leaf's innermost stride is 0 or 1 after coalescing; returns false
 * (having written nothing) otherwise.
 */
export function runSimdProgram(shape: readonly number[], leaves: readonly Strided[], nodes: readonly SimdExprNode[], outputs: readonly { node: number; data: TypedArray }[]): boolean {
  // The refusals first, before any copy: a program over JavaScript arrays (small tensors) runs as JavaScript.
  if (!kernelHeap()) return false;
  const outAddr = outputs.map((o) => (o.data instanceof Float32Array ? heapAddress(o.data) : -1));
  if (outAddr.some((a) => a < 0) || leaves.some((l) => !(l.data instanceof Float32Array))) return false;
  if (!lanesFit(leaves.length, nodes, outputs.map((o) => o.node))) return false;
  const size = outputs[0]!.data.length;
  if (size === 0) return true;
  // Short rows: a permuted leaf (a weight gradient, say) keeps the layouts from merging into long
  // rows, and the program would be called once per few elements. Such leaves are first copied
  // densely by wasm, in one pass, and the layouts coalesced again.
  const full = leaves.map((l) => broadcastStrides(l, shape));
  let c = coalesce(shape, full);
  const copies: { done: () => void }[] = [];
  let laidOut = leaves;
  if (c.shape.length > 1 && c.shape[c.shape.length - 1]! < SHORT_ROW) {
    laidOut = leaves.map((l, j) => {
      const st = full[j]!;
      if (st.some((s) => s === 0) || isContiguous(shape, st)) return l;
      const d = denseCopyF32({ data: l.data, shape, strides: st, offset: l.offset });
      if (!d) return l;
      copies.push(d);
      return { data: d.data, shape, strides: contiguousStrides(shape), offset: 0 };
    });
    if (copies.length) c = coalesce(shape, laidOut.map((l) => broadcastStrides(l, shape)));
  }
  try {
    return runLaidOut(laidOut, nodes, outputs, outAddr, size, c);
  } finally {
    for (const d of copies) d.done();
  }
}

/** Rows shorter than this, where a leaf is permuted, are worth a dense copy of that leaf first. */
const SHORT_ROW = 32;

/** The program over `c`, the coalesced layout of `leaves`: SIMD where each leaf's rows step by 0 or 1, false otherwise. */
function runLaidOut(
  leaves: readonly Strided[], nodes: readonly SimdExprNode[], outputs: readonly { node: number; data: TypedArray }[],
  outAddr: number[], size: number, c: { shape: number[]; strides: number[][] },
): boolean {
  const r = c.shape.length;
  const inner = c.strides.map((st) => (r ? st[r - 1]! : 0));
  if (inner.some((st) => st !== 0 && st !== 1)) return false;
  const kinds: LeafKind[] = inner.map((st) => (st === 1 ? 'vector' : 'splat'));
  // The innermost dimension is a row of vectors, the next one the rows of one call; any outer
  // dimensions are walked here, one call each.
  const n = r ? c.shape[r - 1]! : 1;
  const rows = r > 1 ? c.shape[r - 2]! : 1;
  const rowStride = c.strides.map((st) => (r > 1 ? st[r - 2]! : 0));
  // A row's last vector stores up to 3 lanes past its end, into the next row, before that row is
  // read: harmless for a fresh output, wrong for one that is also a leaf (written in place). Such
  // an output is computed into scratch and copied into place after.
  const aliased = n % 4 !== 0 && size > n ? outputs.flatMap((o, k) => (leaves.some((l) => o.data.buffer === l.data.buffer && overlaps(o.data, l.data)) ? [k] : [])) : [];
  const redirected: { k: number; scratch: { data: Float32Array; done: () => void } }[] = [];
  for (const k of aliased) {
    const scratch = heapScratch(size);
    if (!scratch) {
      for (const r of redirected) r.scratch.done();
      return false;
    }
    redirected.push({ k, scratch });
    outAddr[k] = scratch.data.byteOffset;
  }
  // Leaves outside the heap (small JavaScript arrays, scalars) are copied into scratch.
  const placed: { at: number; done: () => void }[] = [];
  let ran = false;
  try {
    for (const l of leaves) {
      const v = l.data.length <= MAX_COPIED || heapAddress(l.data) >= 0 ? inHeap(l.data as Float32Array) : null;
      if (!v) return false;
      placed.push(v);
    }
    const base = placed.map((v) => v.at);
    const program = programFor(kinds, nodes, outputs.map((o) => o.node));
    const [K, J] = [outputs.length, leaves.length];
    const attrs = nodes.flatMap((nd) => (nd.simd.attrs ?? []).map((a) => (nd.attrs as Record<string, number>)[a]!));
    const args = new Array<number>(2 + 2 * K + 2 * J + attrs.length);
    args[0] = Math.ceil(n / 4);
    args[1] = rows;
    for (let k = 0; k < K; k++) args[2 + K + k] = 4 * n; // outputs are dense
    for (let j = 0; j < J; j++) args[2 + 2 * K + J + j] = 4 * rowStride[j]!;
    for (let a = 0; a < attrs.length; a++) args[2 + 2 * K + 2 * J + a] = attrs[a]!;
    let p = 0;
    const call = (bases: readonly number[]) => {
      for (let k = 0; k < K; k++) args[2 + k] = outAddr[k]! + 4 * p;
      for (let j = 0; j < J; j++) args[2 + 2 * K + j] = base[j]! + 4 * bases[j]!;
      program.fn(...args);
      p += n * rows;
    };
    if (r <= 2 && size >= MIN_PARALLEL_ELEMENTS && (rows === 1 || n % 4 === 0)) {
      // Split over the threads: one row by whole vectors, or whole rows of whole vectors (a row's
      // last vector would otherwise store into the next row, which another thread may have written).
      for (let j = 0; j < J; j++) args[2 + 2 * K + j] = base[j]! + 4 * leaves[j]!.offset;
      for (let k = 0; k < K; k++) args[2 + k] = outAddr[k]!;
      const at = (lo: number, byOut: number, byLeaf: (j: number) => number) => {
        const a = [...args];
        for (let k = 0; k < K; k++) a[2 + k] = args[2 + k]! + lo * byOut;
        for (let j = 0; j < J; j++) a[2 + 2 * K + j] = args[2 + 2 * K + j]! + lo * byLeaf(j);
        return a;
      };
      if (rows === 1) {
        parallel(threadPool(), program, n, n, MIN_PARALLEL_ELEMENTS, (lo, hi) => {
          const a = at(lo, 4, (j) => (kinds[j] === 'vector' ? 4 : 0));
          a[0] = Math.ceil((hi - lo) / 4);
          return a;
        }, { align: 4, what: 'elementwise' });
      } else {
        parallel(threadPool(), program, rows, size, MIN_PARALLEL_ELEMENTS, (lo, hi) => {
          const a = at(lo, 4 * n, (j) => 4 * rowStride[j]!);
          a[1] = hi - lo;
          return a;
        }, { what: 'elementwise' });
      }
    } else if (r <= 2) call(leaves.map((l) => l.offset));
    else forEachRow([...c.shape.slice(0, r - 2), 1], c.strides.map((st) => [...st.slice(0, r - 2), 0]), leaves.map((l) => l.offset), call);
    ran = true;
    return true;
  } finally {
    for (const v of placed) v.done();
    for (const { k, scratch } of redirected) {
      const dense = { shape: [size], strides: [1], offset: 0 };
      if (ran) copyViewF32({ data: scratch.data, ...dense }, { data: outputs[k]!.data, ...dense });
      scratch.done();
    }
  }
}

function overlaps(a: TypedArray, b: TypedArray): boolean {
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
