/** @file The wasm SIMD kernels against f64 references: GEMM edge shapes, K slices, strided operands and the threaded split; depthwise conv with padding and dilation. */
import { availableParallelism } from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Generator, functional as F, tensor } from '../../index.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { gemmTs } from '../../kernels/cpu/gemm.js';
import { cpuThreads, depthwiseF32, gemmF32, setCpuThreads, wasmGemmApplies } from '../../kernels/cpu/wasm.js';
import { expectCloseArrays } from '../helpers.js';
import { Body, I32, V128, wasmModule } from '../../kernels/wasm/encode.js';
import { expNonPositiveF32x4 } from '../../kernels/wasm/math.js';

const g = new Generator(7);
const rand = (n: number) => Float32Array.from({ length: n }, () => 2 * g.uniform() - 1);

/** f64 reference of C = A·B for row-major A [m,k] and B [k,n]. */
function reference(m: number, n: number, k: number, a: Float32Array, b: Float32Array): Float64Array {
  const c = new Float64Array(m * n);
  gemmTs(m, n, k, Float64Array.from(a), 0, k, Float64Array.from(b), 0, n, c, 0, n);
  return c;
}

describe('wasm SIMD gemm', () => {
  it('runs here (WebAssembly SIMD is available in Node 20)', () => {
    expect(wasmGemmApplies(64, 64, 64)).toBe(true);
  });

  for (const [m, n, k] of [[1, 1, 1], [4, 8, 1], [5, 9, 3], [3, 17, 2], [37, 29, 300], [8, 1, 600], [1, 100, 513], [130, 70, 257]]) {
    it(`matches the f64 reference for ${m}x${k} · ${k}x${n} (padding and K slices)`, () => {
      const a = rand(m * k);
      const b = rand(k * n);
      const c = new Float32Array(m * n).fill(0.5); // the result is added to what C holds
      expect(gemmF32(m, n, k, a, 0, k, 1, b, 0, n, 1, c, 0, n)).toBe(true);
      expectCloseArrays(c, reference(m, n, k, a, b).map((v) => v + 0.5), 1e-5 * Math.sqrt(k), 1e-5);
    });
  }

  it('packs A and B and accumulates into C in place when they live in the wasm heap, full and partial panels alike', () => {
    const backend = new CpuBackend();
    const heap = (n: number) => (backend.alloc(n, 'f32') as unknown as { data: Float32Array }).data;
    for (const [m, n, k] of [[7, 29, 40], [16, 64, 33], [5, 8, 300]]) {
      const values = rand(m * k);
      const a = heap(m * k + 3); // A in the heap too, from element 3: packed by wasm, the last panel partial when m % 4
      a.set(values, 3);
      const b = heap(k * n + 5); // B from element 5, rows of n
      b.set(rand(k * n), 5);
      const c = heap(m * n);
      c.fill(0.25);
      expect(gemmF32(m, n, k, a, 3, k, 1, b, 5, n, 1, c, 0, n)).toBe(true);
      expectCloseArrays(c, reference(m, n, k, values, b.slice(5)).map((v) => v + 0.25), 1e-5 * Math.sqrt(k), 1e-5);
      // A read transposed ([k, m] storage seen as [m, k]).
      const at = heap(m * k);
      for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) at[p * m + i] = values[i * k + p]!;
      c.fill(0.25);
      expect(gemmF32(m, n, k, at, 0, 1, m, b, 5, n, 1, c, 0, n)).toBe(true);
      expectCloseArrays(c, reference(m, n, k, values, b.slice(5)).map((v) => v + 0.25), 1e-5 * Math.sqrt(k), 1e-5);
    }
  });

  it('reads transposed and strided operands and writes into a strided block of C', () => {
    const [m, n, k] = [19, 23, 41];
    const a = rand(m * k);
    const b = rand(k * n);
    const aT = new Float32Array(k * m); // A stored as its transpose: element (i, p) at p*m + i
    for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) aT[p * m + i] = a[i * k + p]!;
    const bWide = new Float32Array(3 + k * 2 * n); // B's rows every 2n elements, from offset 3
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bWide[3 + p * 2 * n + j] = b[p * n + j]!;
    const c = new Float32Array(5 + m * 30);
    expect(gemmF32(m, n, k, aT, 0, 1, m, bWide, 3, 2 * n, 1, c, 5, 30)).toBe(true);
    const ref = reference(m, n, k, a, b);
    const got = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) got[i * n + j] = c[5 + i * 30 + j]!;
    expectCloseArrays(got, ref, 1e-4, 1e-5);
    expect(c[0]).toBe(0);
    expect(c[5 + 23]).toBe(0); // columns past n in C's rows are left alone
  });

  it('splits large products over worker threads and gives the single-thread result bit for bit', async () => {
    const want = Math.min(2, availableParallelism());
    for (let t = 0; t < 100 && cpuThreads() < want; t++) await new Promise((r) => setTimeout(r, 50));
    expect(cpuThreads()).toBeGreaterThanOrEqual(want);
    // Wide (column panels outside) and narrow (row panels outside), C in the heap (whole tiles written in place) and not.
    for (const [m, n, k, heap] of [[300, 200, 700, false], [301, 45, 700, true], [300, 200, 700, true]] as const) {
      const a = rand(m * k);
      const b = rand(k * n);
      const cOf = () => (heap ? (new CpuBackend().allocFull(m * n, 'f32', 0) as unknown as { data: Float32Array }).data : new Float32Array(m * n));
      const [many, one] = [cOf(), cOf()];
      gemmF32(m, n, k, a, 0, k, 1, b, 0, n, 1, many, 0, n);
      setCpuThreads(1);
      try {
        gemmF32(m, n, k, a, 0, k, 1, b, 0, n, 1, one, 0, n);
      } finally {
        setCpuThreads(64);
      }
      expect(Array.from(many), `${m}x${n}x${k}`).toEqual(Array.from(one));
      expectCloseArrays(many, reference(m, n, k, a, b), 1e-4, 1e-4);
    }
  });

  it('gives a program that never yields its threads: the workers start before its first large kernel', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    // One synchronous script: no await, so a pool started by a promise would never be ready in it.
    const script = `const g = await import('./index.ts'); const x = g.randn([512, 512]); x.matmul(x).dataSync(); console.log(g.cpuThreads());`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(Number(out.trim())).toBe(Math.min(1 + 8, availableParallelism()));
  });

  it('rejects a thread count that is not a positive integer', () => {
    expect(() => setCpuThreads(0)).toThrow(/setCpuThreads: expected a positive integer, got 0/);
  });
});

describe('wasm SIMD depthwise conv', () => {
  /** Direct f64 reference of a depthwise conv. */
  function reference(x: Float32Array, [N, C, H, W]: number[], w: Float32Array, [KH, KW]: number[], [ph, pw]: number[], [dh, dw]: number[], [sh, sw] = [1, 1]): { out: Float64Array; OH: number; OW: number } {
    const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
    const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
    const out = new Float64Array(N * C * OH * OW);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let s = 0;
      for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
        const ih = oh * sh - ph + i * dh;
        const iw = ow * sw - pw + j * dw;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) s += x[((n * C + c) * H + ih) * W + iw]! * w[(c * KH + i) * KW + j]!;
      }
      out[((n * C + c) * OH + oh) * OW + ow] = s;
    }
    return { out, OH, OW };
  }

  for (const [shape, k, pad, dil] of [[[2, 3, 7, 9], [3, 3], [1, 1], [1, 1]], [[1, 2, 5, 5], [3, 2], [0, 2], [2, 1]], [[1, 1, 1, 1], [1, 1], [0, 0], [1, 1]], [[1, 4, 6, 13], [5, 5], [2, 2], [1, 1]]] as const) {
    it(`matches the f64 reference for x ${shape.join('x')}, kernel ${k.join('x')}, padding ${pad.join(',')}, dilation ${dil.join(',')}`, () => {
      const [N, C, H, W] = shape;
      const x = rand(N * C * H * W);
      const w = rand(C * k[0] * k[1]);
      const { out: want, OH, OW } = reference(x, [...shape], w, [...k], [...pad], [...dil]);
      const out = new Float32Array(want.length).fill(NaN);
      expect(depthwiseF32(x, [C * H * W, H * W, W, 1], 0, shape, w, [k[0] * k[1], k[0] * k[1], k[1], 1], 0, k, out, [OH, OW], pad, dil)).toBe(true);
      expectCloseArrays(out, want, 1e-5, 1e-5);
    });
  }

  it('gives each input plane several filters (a channel multiplier): a one-channel first layer, and two channels times three', () => {
    for (const [N, C, H, W, m, stride] of [[3, 1, 12, 10, 8, 1], [2, 2, 9, 11, 3, 2]] as const) {
      const x = rand(N * C * H * W);
      const w = rand(C * m * 9);
      const OH = Math.floor((H + 2 - 3) / stride) + 1;
      const OW = Math.floor((W + 2 - 3) / stride) + 1;
      const out = new Float32Array(N * C * m * OH * OW).fill(NaN);
      expect(depthwiseF32(x, [C * H * W, H * W, W, 1], 0, [N, C, H, W], w, [9, 9, 3, 1], 0, [3, 3], out, [OH, OW], [1, 1], [1, 1], [stride, stride], m)).toBe(true);
      // Output channel c*m + k is input plane c with filter c*m + k: the depthwise reference over the planes repeated m times.
      const xr = new Float32Array(N * C * m * H * W);
      for (let n = 0; n < N; n++) for (let o = 0; o < C * m; o++) xr.set(x.subarray((n * C + Math.floor(o / m)) * H * W, (n * C + Math.floor(o / m) + 1) * H * W), (n * C * m + o) * H * W);
      const { out: want } = reference(xr, [N, C * m, H, W], w, [3, 3], [1, 1], [1, 1], [stride, stride]);
      expectCloseArrays(out, want, 1e-5, 1e-5);
    }
  });

  // Stride 2 across over the two column phases: odd and even widths and paddings, row strides 1 and 2, inputs in the heap and not.
  for (const [shape, k, pad, stride, heap] of [
    [[2, 3, 9, 11], [3, 3], [1, 1], [2, 2], true], [[1, 5, 8, 8], [3, 3], [0, 0], [2, 2], true], [[1, 4, 7, 10], [5, 5], [2, 2], [2, 2], true],
    [[1, 3, 6, 9], [3, 3], [1, 0], [1, 2], true], [[2, 2, 5, 6], [3, 3], [1, 1], [2, 2], false], [[1, 2, 3, 3], [3, 3], [1, 1], [2, 2], true],
  ] as const) {
    it(`matches the f64 reference for x ${shape.join('x')}, kernel ${k.join('x')}, padding ${pad.join(',')}, stride ${stride.join(',')}${heap ? '' : ', input outside the heap'}`, () => {
      const [N, C, H, W] = shape;
      const size = N * C * H * W;
      const x = heap ? (new CpuBackend().alloc(size, 'f32') as unknown as { data: Float32Array }).data : new Float32Array(size);
      x.set(rand(size));
      const w = rand(C * k[0] * k[1]);
      const { out: want, OH, OW } = reference(x, [...shape], w, [...k], [...pad], [1, 1], [...stride]);
      const out = new Float32Array(want.length).fill(NaN);
      expect(depthwiseF32(x, [C * H * W, H * W, W, 1], 0, shape, w, [k[0] * k[1], k[0] * k[1], k[1], 1], 0, k, out, [OH, OW], pad, [1, 1], stride)).toBe(true);
      expectCloseArrays(out, want, 1e-5, 1e-5);
    });
  }
});

describe('cpu conv2d on the wasm gemm', () => {
  // Each route of the f32 kernel against the f64 one (TypeScript im2col and gemm): images side by
  // side (few outputs each), one image at a time (many), pointwise, grouped, strided and dilated;
  // products split into many column blocks and over the threads, a weight gradient's shape (a
  // large kernel, 3x3 outputs, one panel a block), unequal padding, kernels four and five wide
  // at strides past 1 (windows read four kernel columns a vector), more weights than windows (the
  // window matrix made whole, the product split by rows), once over the threads.
  const cases: [number[], number[], { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number; groups?: number }][] = [
    [[16, 32, 12, 12], [20, 32, 3, 3], { padding: [1, 2] }],
    [[4, 64, 10, 10], [6, 64, 10, 10], { padding: 1 }],
    [[2, 16, 40, 40], [12, 16, 3, 3], { padding: 1 }],
    [[3, 5, 11, 11], [7, 5, 3, 3], { stride: [2, 1], padding: 1 }],
    [[3, 6, 9, 9], [5, 6, 4, 5], { stride: 2, padding: 1 }],
    [[2, 3, 12, 12], [4, 3, 4, 4], { stride: 3 }],
    [[2, 16, 3, 3], [40, 16, 3, 3], { padding: 1 }],
    [[4, 64, 4, 4], [256, 64, 3, 3], { padding: 1 }],
    [[6, 8, 5, 5], [16, 8, 3, 3], { padding: 1 }],
    [[2, 4, 20, 18], [12, 4, 3, 3], { padding: 1 }],
    [[3, 8, 6, 6], [10, 8, 1, 1], {}],
    [[4, 6, 9, 9], [8, 3, 3, 3], { groups: 2, stride: 2 }],
    [[5, 4, 8, 8], [9, 4, 3, 3], { dilation: 2, padding: 2 }],
  ];
  for (const [xs, ws, opts] of cases) {
    it(`matches the f64 kernel for x ${xs.join('x')}, w ${ws.join('x')}, ${JSON.stringify(opts)}, with bias and clamp`, () => {
      const x = rand(xs.reduce((a, b) => a * b, 1));
      const w = rand(ws.reduce((a, b) => a * b, 1));
      const b = rand(ws[0]!);
      const run = (dtype: 'f32' | 'f64') => F.conv2d(tensor(x, { shape: xs, dtype }), tensor(w, { shape: ws, dtype }), tensor(b, { dtype }), { ...opts, clamp: [-1.5, 1.2] }).dataSync();
      // An f32 sum of K products drifts from the f64 one like sqrt(K) roundings.
      const K = ws.slice(1).reduce((a, b) => a * b, 1);
      const tol = 1e-5 * Math.max(1, Math.sqrt(K) / 10);
      expectCloseArrays(run('f32'), run('f64'), tol, tol);
    });
  }
  // Weight views packed where they lie (an input gradient's transposed, flipped weights): the same
  // panels as the dense copy's, so the same bits. Panels full and short (rows not a multiple of
  // four), window runs of 9, 4, 3 and 1 stepping forward and back, over the threads once.
  const views: [number[], number[], boolean][] = [
    [[2, 10, 6, 6], [10, 7, 3, 3], true],
    [[2, 8, 6, 6], [8, 12, 3, 3], false],
    [[3, 6, 7, 7], [6, 5, 2, 2], true],
    [[3, 6, 7, 7], [6, 9, 1, 3], true],
    [[2, 6, 5, 5], [6, 4, 1, 1], false],
    [[8, 256, 4, 4], [256, 256, 3, 3], true],
  ];
  for (const [xs, ws, flip] of views) {
    it(`packs the weight view of ${ws.join('x')} in place${flip ? ', flipped' : ''}, bit for bit with its dense copy`, () => {
      const x = tensor(rand(xs.reduce((a, b) => a * b, 1)), { shape: xs });
      const w = tensor(rand(ws.reduce((a, b) => a * b, 1)), { shape: ws });
      const t = w.transpose(0, 1);
      const view = flip ? t.flip([2, 3]) : t;
      const want = F.conv2d(x, view.contiguous(), null, { padding: 1 }).dataSync();
      expect(Array.from(F.conv2d(x, view, null, { padding: 1 }).dataSync())).toEqual(Array.from(want));
    });
  }
});

describe('wasm SIMD softmax rows', () => {
  // The f32 kernel (rows in wasm) against the f64 reference loop, over row lengths below, at and
  // past a vector, past the sixteen-float step, and enough rows to split over the threads.
  for (const [rows, n] of [[1, 1], [3, 3], [5, 17], [2, 64], [300, 1000]] as const) {
    it(`softmax and logSoftmax of ${rows} rows of ${n}`, () => {
      const x = Float32Array.from(rand(rows * n), (v) => 30 * v);
      for (const log of [false, true]) {
        const run = (dtype: 'f32' | 'f64') => {
          const t = tensor(x, { shape: [rows, n], dtype });
          return (log ? t.logSoftmax(1) : t.softmax(1)).dataSync();
        };
        expectCloseArrays(run('f32'), run('f64'), 1e-6, 1e-5, log ? 'logSoftmax' : 'softmax');
      }
    });
  }
  it('gives a NaN line for a NaN, zero for -Infinity, and NaN for a line of -Infinity or with +Infinity, as the composite', () => {
    const I = Infinity;
    const x = [[1, NaN, 2, 3, 4, 5], [0, -I, 1, 2, 3, 4], [-I, -I, -I, -I, -I, -I], [1, 2, I, 3, 4, 5]].flat();
    const y = tensor(x, { shape: [4, 6] }).softmax(1).dataSync();
    const ref = tensor(x, { shape: [4, 6], dtype: 'f64' }).softmax(1).dataSync();
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 6; c++) {
        const [a, b] = [y[r * 6 + c]!, ref[r * 6 + c]!];
        if (r === 1 && c === 1) expect(a).toBe(0);
        if (r !== 1) expect(Number.isNaN(a), `row ${r}`).toBe(true);
        if (Number.isNaN(b)) expect(Number.isNaN(a), `row ${r} as the reference`).toBe(true);
        else expect(a).toBeCloseTo(b, 6);
      }
    }
  });
});

describe('exp for non-positive arguments (softmax rows)', () => {
  it('is within 2e-7 relative of e^x down to 2^-126, 0 below and for -Infinity, NaN for NaN', () => {
    // A module applying the vector form to n floats at address 0, in place.
    const b = new Body();
    const [N, P, V, T0, T1, T2] = [0, 1, 2, 3, 4, 5];
    b.block().loop();
    b.get(P).get(N).i32(16).mul().ltU().eqz().brIf(1);
    b.get(P).load(0).set(V);
    b.get(P);
    expNonPositiveF32x4(b, V, [T0, T1, T2]);
    b.store(0);
    b.get(P).i32(16).add().set(P).br(0).end().end();
    const bytes = wasmModule({ min: 8, max: 8, shared: false }, [{ name: 'run', params: [I32], locals: [I32, V128, V128, V128, V128], body: b }]);
    const memory = new WebAssembly.Memory({ initial: 8, maximum: 8 });
    const run = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports.run as (n: number) => void;
    const xs: number[] = [0, -0, -1e-30, -Infinity, NaN, -87.34, -88, -1000];
    for (let x = -87.33; x < 0; x += 0.00071) xs.push(x);
    const mem = new Float32Array(memory.buffer, 0, Math.ceil(xs.length / 4) * 4);
    mem.set(xs);
    const input = Float32Array.from(mem);
    run(mem.length / 4);
    for (let i = 0; i < xs.length; i++) {
      const x = input[i]!;
      const want = Math.exp(x);
      if (Number.isNaN(x)) expect(mem[i]).toBeNaN();
      else if (x < -126 * Math.LN2) expect(mem[i], `e^${x}`).toBe(0);
      else if (Math.abs(mem[i]! - want) > 2e-7 * want) expect.fail(`e^${x} = ${mem[i]}, want ${want}`);
    }
  });
});
