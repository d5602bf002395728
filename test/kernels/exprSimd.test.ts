/** @file WebAssembly SIMD elementwise programs give bit for bit what the JavaScript loops give, on every layout they accept, and write nothing outside their outputs. */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { SIMD } from '../../engine/cpu/simd.js';
import { SCHEMA, type ElementwiseOp } from '../../ops/schema.js';
import { SCALAR } from '../../engine/cpu/kernels.js';
import { type CpuExprNode, type ScalarFn, runJsProgram } from '../../kernels/cpu/expr.js';
import { runSimdProgram } from '../../kernels/cpu/exprSimd.js';
import type { Strided } from '../../kernels/cpu/strided.js';
import { Generator, cpuThreads, setCpuThreads } from '../../index.js';
import { availableParallelism } from 'node:os';
import { f16ToF32 } from '../../core/half.js';

const backend = new CpuBackend();
const g = new Generator(11);
/** Values that tell IEEE implementations apart: signed zeros, infinities, NaN, tiny and huge. */
const SPECIAL = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 3.4e38, -3.4e38, 1, -1, 0.5];

function heapArray(n: number, special: boolean): Float32Array {
  const buf = backend.alloc(n, 'f32');
  const data = (buf as unknown as { data: Float32Array }).data;
  for (let i = 0; i < n; i++) data[i] = special && i % 3 === 0 ? SPECIAL[(i / 3) % SPECIAL.length]! : (g.uniform() * 2 - 1) * 10;
  return data;
}

const node = (op: ElementwiseOp, args: number[], attrs: unknown = {}): CpuExprNode => ({ op, fn: SCALAR[op] as ScalarFn, attrs, args, dtype: 'f32', simd: SIMD[op] });

/** Runs `nodes` both ways over `leaves` and compares every output element with Object.is. */
function same(shape: number[], leaves: Strided[], nodes: CpuExprNode[], keep: number[]): void {
  const size = shape.reduce((a, b) => a * b, 1);
  const simd = keep.map((n) => ({ node: n, data: heapArray(size, false) }));
  const js = keep.map((n) => ({ node: n, data: new Float32Array(size) }));
  expect(runSimdProgram(shape, leaves, nodes as never, simd), 'took the SIMD path').toBe(true);
  runJsProgram(shape, leaves, nodes, js);
  simd.forEach((o, k) => {
    for (let i = 0; i < size; i++) if (!Object.is(o.data[i], js[k]!.data[i])) expect.fail(`${nodes.map((n) => n.op).join(',')}: output ${k} element ${i} is ${o.data[i]}, JavaScript gives ${js[k]!.data[i]}`);
  });
}

describe('wasm SIMD elementwise programs', () => {
  /** Ops whose vector form is within a few ulp rather than exact, and their bound. */
  const APPROXIMATE: Partial<Record<ElementwiseOp, number>> = { exp: 1, log: 1, sigmoid: 2 };
  /** Ops whose lanes are masks or read masks: they run in wasm only inside programs (below). */
  const MASKS = new Set<ElementwiseOp>(['lt', 'gt', 'eq', 'cast', 'where']);
  const simdOps = (Object.keys(SIMD) as ElementwiseOp[]).filter((op) => SIMD[op] && !APPROXIMATE[op] && !MASKS.has(op));

  it('runs comparisons as masks read by a cast to f32 or a where, bit for bit, and leaves a stored comparison to JavaScript', () => {
    const n = 1003;
    const [a, b, x] = [0, 1, 2].map(() => ({ data: heapArray(n, true), shape: [n], strides: [1], offset: 0 }));
    const cmp = (op: ElementwiseOp, args: number[]) => ({ ...node(op, args), dtype: 'bool' as const });
    const cast = (arg: number) => node('cast', [arg], { dtype: 'f32' });
    // relu's gradient (gt, cast, mul), then where(lt(a, b), x, a) and eq through a cast.
    same([n], [a!, b!, x!], [cmp('gt', [0, 1]), cast(3), node('mul', [4, 2]), cmp('lt', [0, 1]), node('where', [6, 2, 0]), cmp('eq', [0, 2]), cast(8)], [5, 7, 9]);
    expect(runSimdProgram([n], [a!, b!], [cmp('gt', [0, 1])] as never, [{ node: 2, data: heapArray(n, false) }]), 'a bool output').toBe(false);
  });

  it('rounds f16 nodes as the JavaScript loop does, over every f16 value and the points between, and through chains', () => {
    const probes: number[] = [...SPECIAL, 65504, 65519.99, 65520, -65520, 2 ** -25, 3 * 2 ** -25, 2 ** -14, 2 ** -14 * (1 - 2 ** -12)];
    for (let h = 0; h < 0x7c00; h++) {
      const v = f16ToF32(h);
      const next = f16ToF32(h + 1);
      probes.push(v, -v, v + (next - v) / 4, -(v + (next - v) / 2), v + ((next - v) * 3) / 4);
    }
    const n = probes.length;
    const x = heapArray(n, false);
    x.set(probes);
    const y = heapArray(n, true);
    const half = (op: ElementwiseOp, args: number[], attrs: unknown = {}) => ({ ...node(op, args, attrs), dtype: 'f16' as const });
    const leaves = [x, y].map((data) => ({ data, shape: [n], strides: [1], offset: 0 }));
    // A cast to f16, f16 arithmetic on it (a product that overflows, a sum, a clamp), and back to f32.
    same([n], leaves, [half('cast', [0], { dtype: 'f16' }), half('mul', [2, 1]), half('add', [3, 2]), half('clamp', [4], { min: -100, max: 70000 }), node('cast', [5], { dtype: 'f32' })], [2, 4, 5, 6]);
  });

  it.each(Object.entries(APPROXIMATE))('%s is within %i ulp of the correctly rounded f32 over its range, with IEEE special values exact', (op, ulps) => {
    const xs = [...SPECIAL, -103.97, -87.34, 88.72, 88.73, -0.3466, 0.3466, 1e-45, 3e-39, 1.1754942e-38, 1.1754944e-38, 0.70710677, 0.70710683, 1.4142135, 3.4028235e38];
    if (op === 'log') for (let e = -149; e < 128; e += 0.0041) xs.push(2 ** e); // every binade, subnormals included
    else for (let x = -110; x < 95; x += 0.00097) xs.push(x);
    const n = xs.length;
    const x = { data: heapArray(n, false), shape: [n], strides: [1], offset: 0 };
    x.data.set(xs);
    const out = heapArray(n, false);
    expect(runSimdProgram([n], [x], [node(op as ElementwiseOp, [0])] as never, [{ node: 1, data: out }])).toBe(true);
    const ref = new Float32Array(n);
    runJsProgram([n], [x], [node(op as ElementwiseOp, [0])], [{ node: 1, data: ref }]);
    const bits = (v: number) => new Int32Array(Float32Array.of(v).buffer)[0]!;
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const [got, want] = [out[i]!, ref[i]!];
      if (Number.isNaN(want) || !Number.isFinite(want) || want === 0) {
        expect(Object.is(got, want), `${op}(${x.data[i]}) = ${got}, want ${want}`).toBe(true);
        continue;
      }
      const d = Math.abs(bits(got) - bits(want));
      if (d > worst) worst = d;
      if (d > ulps) expect.fail(`${op}(${x.data[i]}) = ${got}, the correctly rounded value is ${want}: ${d} ulp apart`);
    }
    expect(worst).toBeGreaterThan(0); // an approximation, as stated
  });

  it.each(simdOps)('%s matches the JavaScript loop on special values, bit for bit', (op) => {
    const n = 1003;
    const arity = SCHEMA[op].kind === 'binary' ? 2 : 1;
    const leaves = Array.from({ length: arity }, () => ({ data: heapArray(n, true), shape: [n], strides: [1], offset: 0 }));
    const attrs = op === 'clamp' ? { min: -0.3, max: 2.5 } : {};
    same([n], leaves, [node(op, leaves.map((_, j) => j), attrs)], [arity]);
  });

  it('fuses a chain with kept intermediates, broadcast rows, splat leaves and small leaves copied in', () => {
    const [rows, cols] = [37, 19]; // rows that end between lanes
    const x = { data: heapArray(rows * cols, true), shape: [rows, cols], strides: [cols, 1], offset: 0 };
    const bias = { data: Float32Array.from({ length: cols }, (_, i) => i - 9), shape: [cols], strides: [1], offset: 0 }; // a JavaScript array
    const perRow = { data: heapArray(rows, false), shape: [rows, 1], strides: [1, 0], offset: 0 };
    const scalar = { data: Float32Array.of(1.5), shape: [], strides: [], offset: 0 };
    const nodes = [node('add', [0, 1]), node('mul', [4, 2]), node('relu', [5]), node('sub', [6, 3]), node('clamp', [7], { min: -1, max: 6 })];
    same([rows, cols], [x, bias, perRow, scalar], nodes, [5, 8]);
  });

  it('runs rank-3 programs with rows shorter than a vector, per-row splats and a transposed leaf', () => {
    const [a, b, n] = [9, 11, 3]; // 1 KiB and more, so in the heap; rows of 3: each four-lane store spills into the next row, which is written after it
    const size = a * b * n;
    const x = { data: heapArray(size, true), shape: [a, b, n], strides: [b * n, n, 1], offset: 0 };
    const perRow = { data: heapArray(b, false), shape: [b, 1], strides: [1, 0], offset: 0 }; // one value per (., b) row
    const t = { data: heapArray(size + 64, false), shape: [a, b, n], strides: [n, a * n, 1], offset: 5 }; // [b, a, n] seen as [a, b, n]
    same([a, b, n], [x, perRow, t], [node('mul', [0, 1]), node('add', [3, 2]), node('relu', [4])], [3, 5]);
  });

  it('writes nothing past its outputs when the last row ends between lanes', () => {
    const [rows, cols] = [32, 10]; // 1280 bytes: a whole size class, so the last row's spare lanes would land in the next block without the slack
    const x = { data: heapArray(rows * cols, false), shape: [rows, cols], strides: [cols, 1], offset: 0 };
    const bias = { data: heapArray(cols, false), shape: [cols], strides: [1], offset: 0 };
    const out = heapArray(rows * cols, false);
    const next = heapArray(300, false); // the block after it, most likely adjacent
    const before = next.slice();
    expect(runSimdProgram([rows, cols], [x, bias], [node('add', [0, 1])] as never, [{ node: 2, data: out }])).toBe(true);
    expect(Array.from(next)).toEqual(Array.from(before));
  });

  it('splits large programs over worker threads, by whole vectors or by rows of whole vectors, with the single-thread bits', async () => {
    const want = Math.min(2, availableParallelism());
    for (let t = 0; t < 100 && cpuThreads() < want; t++) await new Promise((r) => setTimeout(r, 50));
    expect(cpuThreads()).toBeGreaterThanOrEqual(want);
    // 1-d, a length that ends between lanes; rows of whole vectors with a per-row splat; rows that end between lanes (one thread).
    for (const [rows, cols] of [[1, (1 << 17) + 3], [300, 512], [301, 517]] as const) {
      const size = rows * cols;
      const x = { data: heapArray(size, true), shape: [rows, cols], strides: [cols, 1], offset: 0 };
      const perRow = { data: heapArray(Math.max(rows, 256), false), shape: [rows, 1], strides: [1, 0], offset: 0 };
      const nodes = [node('mul', [0, 1]), node('exp', [2]), node('add', [3, 0])];
      const outs = (n: number) => [{ node: 3, data: heapArray(n, false) }, { node: 4, data: heapArray(n, false) }];
      const many = outs(size);
      const one = outs(size);
      expect(runSimdProgram([rows, cols], [x, perRow], nodes as never, many)).toBe(true);
      setCpuThreads(1);
      try {
        expect(runSimdProgram([rows, cols], [x, perRow], nodes as never, one)).toBe(true);
      } finally {
        setCpuThreads(64);
      }
      many.forEach((o, k) => expect(Array.from(o.data), `${rows}x${cols} output ${k}`).toEqual(Array.from(one[k]!.data)));
    }
  });

  it('leaves programs it cannot run exactly to JavaScript, writing nothing', () => {
    const x = { data: heapArray(1024, false), shape: [32, 32], strides: [1, 32], offset: 0 }; // transposed: inner stride 32
    const out = heapArray(1024, false);
    const before = out.slice();
    expect(runSimdProgram([32, 32], [x], [node('neg', [0])] as never, [{ node: 1, data: out }])).toBe(false);
    expect(runSimdProgram([1024], [{ ...x, shape: [1024], strides: [1] }], [node('neg', [0])] as never, [{ node: 1, data: new Float32Array(1024) }])).toBe(false); // output outside the heap
    expect(Array.from(out)).toEqual(Array.from(before));
  });
});
