/** @file The benchmark runner: `npm run bench [-- --quick] [--only matmul,mlp] [--backend cpu,webgpu] [--peers tfjs-webgpu,...] [--matmul MxNxK,...] [--gpu-peak F32,F16]`, or `npm run bench -- --compare A.json B.json [...]`. */
import { readFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { Generator, WebGPUBackend } from '../index.js';
import { roundF16 } from '../core/half.js';
import { gpujsImpl } from './peers/gpujs.js';
import { graftImpl } from './peers/graft.js';
import { jaxImpl } from './peers/jaxjs.js';
import { onnxruntime } from './peers/onnxruntime.js';
import { plainJs } from './peers/plainJs.js';
import { pytorchAvailable, pytorchResnet, pytorchRun, pytorchVersion, setPytorchThreads } from './peers/pytorch.js';
import { tfjsImpl } from './peers/tfjs.js';
import { MAX_CPU_WORKERS, cpuThreads } from '../kernels/cpu/wasm.js';
import { progressLine } from './progress.js';
import { loadReport } from './report/data.js';
import { ratioTable } from './report/markdown.js';
import { runsFromFiles } from './report/compare.js';
import { writeComparison, writeReports } from './report/write.js';
import type { AttentionParams, CnnInit, ConvParams, Impl, MatmulParams, MlpInit, MlpParams, Prepared, ResnetInit, Result } from './types.js';

const { values: args, positionals } = parseArgs({
  options: {
    quick: { type: 'boolean' }, only: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' }, compare: { type: 'boolean' },
    // Peer implementations to run (names as in the report, e.g. tfjs-webgpu,jax-js-webgpu); graft's own follow --backend.
    peers: { type: 'string' },
    // MxNxK,... in place of the default matmul shapes (4096x4096x4096 on a data-center GPU, say).
    matmul: { type: 'string' },
    // The WebGPU adapter's peaks in GFLOP/s, f32 and f16 (a discrete GPU's datasheet figures), for its rows' % of peak.
    'gpu-peak': { type: 'string' },
  },
  strict: true,
  allowPositionals: true,
});
const quick = Boolean(args.quick);
const only = args.only ? new Set(args.only.split(',')) : null;
const graftBackends = (args.backend ?? 'cpu,webgpu').split(',') as ('cpu' | 'webgpu')[];
const matmulShapes = args.matmul?.split(',').map((s) => {
  const dims = s.split('x').map(Number);
  if (dims.length !== 3 || dims.some((d) => !(Number.isInteger(d) && d > 0))) throw new Error(`--matmul: '${s}' is not MxNxK`);
  return dims as [number, number, number];
});
const gpuPeak = args['gpu-peak'] ? args['gpu-peak'].split(',').map(Number) : null;
if (gpuPeak && (gpuPeak.length !== 2 || gpuPeak.some((v) => !(v > 0)))) throw new Error(`--gpu-peak: expected two GFLOP/s figures, f32 and f16, got '${args['gpu-peak']}'`);

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'missing';
  }
}

function random(n: number, g: Generator, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (g.uniform() * 2 - 1) * scale);
}

/** Relative closeness for the correctness gate: |a - r| <= tol * max|r| + tol per element. */
function close(got: ArrayLike<number>, ref: ArrayLike<number>, tol: number): string | null {
  if (got.length < ref.length) return `output has ${got.length} values, the reference ${ref.length}`;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(got[i]! - ref[i]!) <= tol * scale + tol)) return `element ${i} is ${got[i]}, the reference ${ref[i]}`;
  }
  return null;
}

interface Stats {
  median: number;
  min: number;
  max: number;
  p25: number;
  p75: number;
  samples: number;
}

/** Order statistics of raw sample times (the PyTorch peer and graft's own loops report raw times). */
function stats(times: number[]): Stats {
  const s = [...times].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
  return { median: q(0.5), min: s[0]!, max: s.at(-1)!, p25: q(0.25), p75: q(0.75), samples: s.length };
}

async function time(prep: Prepared, name: string): Promise<Stats> {
  const bench = new Bench({ time: quick ? 200 : 1000, iterations: quick ? 5 : 10, warmupTime: quick ? 50 : 200, warmupIterations: 2, retainSamples: true });
  bench.add(name, prep.run);
  await bench.run();
  const r = bench.tasks[0]!.result as unknown as { latency?: { samples?: number[] }; error?: Error };
  if (!r?.latency?.samples?.length) throw r?.error ?? new Error(`${name}: no timing result`);
  return stats(r.latency.samples);
}

const timed = (t: Stats) => ({ median_ms: t.median, min_ms: t.min, max_ms: t.max, p25_ms: t.p25, p75_ms: t.p75, samples: t.samples });
const failed = (note: string) => ({ median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note });

async function main(): Promise<void> {
  if (args.compare) return compare(positionals);
  if (positionals.length) throw new Error(`unexpected argument ${positionals[0]} (files are read only with --compare)`);
  const g = new Generator(42);
  const impls: Impl[] = [
    ...graftBackends.map((b) => graftImpl(b)),
    plainJs, tfjsImpl('cpu'), tfjsImpl('wasm'), tfjsImpl('webgpu'), jaxImpl('wasm'), jaxImpl('webgpu'), onnxruntime, gpujsImpl('webasm'), gpujsImpl('webgpu'),
  ];
  const skipped: Record<string, string> = {};
  const live: Impl[] = [];
  const peers = args.peers === undefined ? null : new Set(args.peers.split(',').filter(Boolean));
  for (const name of peers ?? []) if (name !== 'pytorch-cpu' && !impls.some((i) => i.name === name)) throw new Error(`--peers: no implementation named '${name}' (${[...impls.map((i) => i.name), 'pytorch-cpu'].join(', ')})`);
  for (const impl of impls) {
    if (peers && !impl.name.startsWith('graft-') && !peers.has(impl.name)) continue;
    const why = await impl.available();
    if (why) skipped[impl.name] = why;
    else live.push(impl);
  }
  const torchWhy = peers && !peers.has('pytorch-cpu') ? 'not among --peers' : pytorchAvailable();
  if (torchWhy) skipped['pytorch-cpu'] = torchWhy;
  // graft's CPU backend uses the calling thread and up to MAX_CPU_WORKERS workers; PyTorch gets as many.
  const threads = Math.min(1 + MAX_CPU_WORKERS, cpus().length);
  setPytorchThreads(threads);
  const gpu = live.map((i) => (i as { backend?: unknown }).backend).find((b): b is WebGPUBackend => b instanceof WebGPUBackend);
  // Every implementation here runs on this CPU (lavapipe executes WebGPU on it too), so all compare
  // with the CPU's instruction-set peak (the AVX-512 figure).
  const CPU_PEAK_GFLOPS = 380;
  const limits = gpu ? Object.fromEntries(['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'].map((k) => [k, (gpu.limits as unknown as Record<string, number>)[k]])) : null;
  const peakWords = 'f32 peak from the instruction set, not measured: 2 cores x 32 FLOP/cycle (AVX2, 2 FMA ports) x ~3 GHz = ~190 GFLOP/s, or x 64 FLOP/cycle with AVX-512 = ~380 GFLOP/s';
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, host: hostname(), node: process.version, platform: `${process.platform}-${process.arch}`,
    adapter: gpu?.info ?? null,
    adapterLimits: limits,
    adapterFeatures: gpu ? [...gpu.device.features].sort() : null,
    versions: { graft: version('graft'), 'gpu.js': version('gpu.js'), '@tensorflow/tfjs': version('@tensorflow/tfjs'), '@jax-js/jax': version('@jax-js/jax'), 'onnxruntime-node': version('onnxruntime-node'), webgpu: version('webgpu'), tinybench: version('tinybench'), ...(torchWhy ? {} : { torch: pytorchVersion() }) },
    peak: gpuPeak
      ? { cpuGflops: peakWords, gflops: CPU_PEAK_GFLOPS, gpuGflops: { f32: gpuPeak[0], f16: gpuPeak[1] }, derivation: `WebGPU rows against the stated adapter peaks (--gpu-peak ${args['gpu-peak']}: f32, f16 GFLOP/s), the others against the CPU's ${CPU_PEAK_GFLOPS} GFLOP/s (${peakWords})` }
      : { cpuGflops: peakWords, gflops: CPU_PEAK_GFLOPS, derivation: `${peakWords}; every implementation here, WebGPU on lavapipe included, runs on this CPU, so all use the ${CPU_PEAK_GFLOPS} GFLOP/s figure` },
    timing: 'median of samples; each sample includes a completed read back of the result to JavaScript (await data())',
    threads: { graftCpu: threads, pytorch: threads, note: 'graft-cpu: the calling thread and its workers; PyTorch: torch.set_num_threads, OMP_WAIT_POLICY=PASSIVE' },
    skipped,
  };
  const results: Result[] = [];
  const started = performance.now();
  const record = (r: Result, t0?: number) => {
    // A stated GPU's peak for WebGPU rows (its f16 figure for f16 rows); otherwise the CPU's, which lavapipe runs on.
    const peak = gpuPeak && r.impl.includes('webgpu') ? gpuPeak[r.params.dtype === 'f16' ? 1 : 0]! : CPU_PEAK_GFLOPS;
    if (r.gflops) r.pct_of_peak = (100 * r.gflops) / peak;
    results.push(r);
    const t = r.median_ms === null ? '   -    ' : `${r.median_ms.toFixed(2).padStart(8)} ms`;
    const took = t0 === undefined ? '' : `  (${r.samples} samples, ${((performance.now() - t0) / 1000).toFixed(1)} s)`;
    progress.done(`${r.workload.padEnd(16)} ${JSON.stringify(r.params).padEnd(40)} ${r.impl.padEnd(18)} ${t}${r.gflops ? `  ${r.gflops.toFixed(2)} GFLOP/s` : ''}${r.ok ? '' : `  FAILED: ${r.note}`}${took}`);
  };
  const progress = progressLine(started);

  /** Runs and times `workload` on every implementation that has it, each gated against the first one's output, which it returns. */
  async function runAll(workload: string, params: Result['params'], prepare: (impl: Impl) => Promise<Prepared> | undefined, tol: number, flops: number | null, gigabytes?: number): Promise<Float32Array | null> {
    let ref: Float32Array | null = null;
    for (const impl of live) {
      let prep: Prepared | undefined;
      const t0 = performance.now();
      try {
        progress.start(`${workload} ${JSON.stringify(params)} on ${impl.name}: preparing`);
        prep = await prepare(impl);
        if (!prep) {
          progress.clear();
          continue;
        }
        await prep.run();
        const out = Float32Array.from(await prep.output());
        ref ??= out;
        const bad = close(out, ref, tol);
        if (bad) record({ workload, params, impl: impl.name, ...failed(`wrong result: ${bad}`) }, t0);
        else {
          progress.start(`${workload} ${JSON.stringify(params)} on ${impl.name}: timing`);
          const t = await time(prep, impl.name);
          record({ workload, params, impl: impl.name, ...timed(t), ok: true,
            ...(flops ? { gflops: flops / t.median / 1e6 } : {}), ...(gigabytes ? { gbps: gigabytes / (t.median / 1000) } : {}) }, t0);
        }
      } catch (e) {
        record({ workload, params, impl: impl.name, ...failed((e as Error).message.split('\n')[0]!) }, t0);
      } finally {
        await prep?.dispose?.();
      }
    }
    return ref;
  }

  /** The PyTorch peer on the same inputs, gated against `ref`. */
  function recordTorch(workload: string, params: Result['params'], times: number[], output: number[], ref: Float32Array, tol: number, flops: number | null, t0: number) {
    const bad = close(output, ref.subarray(0, output.length), tol);
    const t = stats(times);
    if (bad) record({ workload, params, impl: 'pytorch-cpu', ...failed(`wrong result: ${bad}`) }, t0);
    else record({ workload, params, impl: 'pytorch-cpu', ...timed(t), ok: true, ...(flops ? { gflops: flops / t.median / 1e6 } : {}) }, t0);
  }

  if (!only || only.has('matmul')) {
    const shapes: [number, number, number][] = matmulShapes ?? (quick ? [[256, 256, 256], [1024, 1024, 1024], [1024, 64, 1024]] : [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [1024, 64, 1024], [64, 1024, 1024]]);
    for (const [m, n, k] of shapes) {
      const p: MatmulParams = { m, n, k, dtype: 'f32' };
      const a = random(m * k, g);
      const b = random(k * n, g);
      const flops = 2 * m * n * k;
      // Plain JS at 2048^3 takes minutes a sample; its 1024^3 figure already places it.
      const ref = await runAll('matmul', { ...p }, (impl) => (impl.name === 'plain-js' && m * n * k > 1024 ** 3 ? undefined : impl.matmul?.(p, a, b)), 1e-4, flops);
      if (!torchWhy && ref) {
        const t0 = performance.now();
        progress.start(`matmul on pytorch-cpu`);
        const t = pytorchRun({ workload: 'matmul', ...p, a: Array.from(a), b: Array.from(b) }, 2, quick ? 5 : 10);
        recordTorch('matmul', { ...p }, t.times_ms, t.output, ref, 1e-4, flops, t0);
      }
    }
    // f16 inputs and output, f32 sums, where an implementation offers it; gated against the first
    // (graft-cpu: its f32 GEMM of the same f16 values, rounded).
    for (const [m, n, k] of shapes.filter(([m, n, k]) => m * n * k >= 1024 ** 3)) {
      const p: MatmulParams = { m, n, k, dtype: 'f16' };
      const [a, b] = [random(m * k, g), random(k * n, g)].map((v) => Float32Array.from(v, roundF16));
      await runAll('matmul', { ...p }, (impl) => impl.matmulF16?.(p, a!, b!), 2e-3, 2 * m * n * k);
    }
  }

  if (!only || only.has('mlp')) {
    const p: MlpParams = { batch: 128, sizes: [784, 256, 10] };
    const init: MlpInit = {
      x: Float32Array.from({ length: p.batch * 784 }, () => g.uniform()),
      labels: Int32Array.from({ length: p.batch }, () => g.int(10)),
      weights: [random(784 * 256, g, Math.sqrt(1 / 784)), random(256 * 10, g, Math.sqrt(1 / 256))],
      biases: [new Float32Array(256), new Float32Array(10)],
    };
    const params = { batch: p.batch, sizes: p.sizes.join('-') };
    const ref = await runAll('mlp-train-step', params, (impl) => impl.mlpStep?.(p, init), 1e-3, null);
    if (!torchWhy && ref) {
      const t0 = performance.now();
      progress.start(`mlp-train-step on pytorch-cpu`);
      const t = pytorchRun({ workload: 'mlp', ...p, x: Array.from(init.x), labels: Array.from(init.labels), weights: init.weights.map((w) => Array.from(w)), biases: init.biases.map((b) => Array.from(b)) }, 5, quick ? 10 : 30);
      recordTorch('mlp-train-step', params, t.times_ms, t.output, ref, 1e-3, null, t0);
    }
    // The same step under autocast with a GradScaler (f16 matmuls from f32 weights).
    await runAll('mlp-train-step', { ...params, precision: 'mixed' }, (impl) => impl.mlpStepMixed?.(p, init), 1e-2, null);
  }

  if (!only || only.has('cnn')) {
    const batch = 64;
    const init: CnnInit = {
      x: Float32Array.from({ length: batch * 784 }, () => g.uniform()),
      labels: Int32Array.from({ length: batch }, () => g.int(10)),
      conv1: random(8 * 9, g, 1 / 3),
      conv2: random(16 * 8 * 9, g, Math.sqrt(1 / 72)),
      fc: random(784 * 10, g, Math.sqrt(1 / 784)),
    };
    const params = { batch, input: '1x28x28' };
    const ref = await runAll('cnn-train-step', params, (impl) => impl.cnnStep?.(batch, init), 1e-3, null);
    if (!torchWhy && ref) {
      const t0 = performance.now();
      progress.start('cnn-train-step on pytorch-cpu');
      const t = pytorchRun({ workload: 'cnn', batch, x: Array.from(init.x), labels: Array.from(init.labels), conv1: Array.from(init.conv1), conv2: Array.from(init.conv2), fc: Array.from(init.fc) }, 3, quick ? 10 : 30);
      recordTorch('cnn-train-step', params, t.times_ms, t.output, ref, 1e-3, null, t0);
    }
  }

  if (!only || only.has('resnet18')) {
    // torchvision's ResNet-18 (10 classes), batch 8 at 64x64: one SGD step with momentum in train mode.
    const { manualSeed } = await import('../index.js');
    const { resnet18 } = await import('../transfer/zoo/resnet.js');
    manualSeed(3);
    const batch = 8;
    const size = 64;
    const state = [...resnet18(10).stateDict()].map(([k, t]): ResnetInit['state'][number] => [k, [...t.shape], t.dataSync() as Float32Array | Int32Array]);
    const init: ResnetInit = { batch, size, state, x: Float32Array.from({ length: batch * 3 * size * size }, () => g.uniform() * 2 - 1), labels: Int32Array.from({ length: batch }, () => g.int(10)) };
    const params = { batch, input: `3x${size}x${size}` };
    const ref = await runAll('resnet18-train-step', params, (impl) => impl.resnetStep?.(init), 1e-3, null);
    await runAll('resnet18-train-step', { ...params, precision: 'mixed' }, (impl) => impl.resnetStepMixed?.(init), 2e-2, null);
    if (!torchWhy && ref) {
      const t0 = performance.now();
      progress.start(`resnet18-train-step on pytorch-cpu`);
      const t = pytorchResnet(init, 2, quick ? 5 : 10);
      recordTorch('resnet18-train-step', params, t.times_ms, t.output, ref, 1e-3, null, t0);
    }
  }

  if (!only || only.has('conv2d')) {
    const convs: [string, ConvParams][] = [
      ['mobilenetv2 depthwise 3x3', { n: 8, c: 96, h: 56, w: 56, o: 96, k: 3, stride: 1, pad: 1, groups: 96 }],
      ['mobilenetv2 pointwise 1x1', { n: 8, c: 96, h: 56, w: 56, o: 24, k: 1, stride: 1, pad: 0, groups: 1 }],
      ['resnet 3x3', { n: 8, c: 64, h: 56, w: 56, o: 64, k: 3, stride: 1, pad: 1, groups: 1 }],
    ];
    for (const [label, p] of quick ? convs.map(([l, c]): [string, ConvParams] => [l, { ...c, n: 2 }]) : convs) {
      const x = random(p.n * p.c * p.h * p.w, g);
      const w = random(p.o * (p.c / p.groups) * p.k * p.k, g, 0.2);
      const oh = Math.floor((p.h + 2 * p.pad - p.k) / p.stride) + 1;
      const flops = 2 * p.n * p.o * oh * oh * (p.c / p.groups) * p.k * p.k;
      await runAll('conv2d', { shape: label, ...p }, (impl) => impl.conv2d?.(p, x, w), 1e-4, flops);
    }
  }

  for (const kind of ['softmax', 'layernorm'] as const) {
    if (only && !only.has(kind)) continue;
    const [rows, cols] = [1024, 1024];
    const x = random(rows * cols, g, 3);
    await runAll(kind, { rows, cols }, (impl) => impl.rowwise?.(kind, rows, cols, x), 1e-4, null, (rows * cols * 8) / 1e9);
  }

  if (!only || only.has('attention')) {
    // GPT-style causal self-attention; the fused kernel against graft's own composite path and tfjs's ops.
    const p: AttentionParams = quick ? { batch: 2, heads: 4, length: 256, features: 64, causal: true } : { batch: 4, heads: 8, length: 512, features: 64, causal: true };
    const n = p.batch * p.heads * p.length * p.features;
    const [q, k, v] = [random(n, g), random(n, g), random(n, g)];
    const flops = 4 * p.batch * p.heads * p.length * p.length * p.features;
    const params = { ...p, causal: String(p.causal) };
    await runAll('attention', params, (impl) => impl.attention?.(p, q, k, v), 1e-4, flops);
    await runAll('attention-unfused', params, (impl) => impl.attentionUnfused?.(p, q, k, v), 1e-4, flops);
  }

  if (!only || only.has('elementwise')) {
    const n = 1 << 20;
    const x = random(n, g);
    await runAll('elementwise', { elements: n, ops: 10 }, (impl) => impl.elementwise?.(10, x), 1e-5, null, (n * 8 * 10) / 1e9);
  }

  if (!only || only.has('dispatch')) {
    // A chain of 1,000 tiny elementwise ops: the cost of an op beyond its arithmetic (ops/s = 1e6 / median ms).
    const x = random(64, g);
    await runAll('dispatch', { elements: 64, ops: 1000 }, (impl) => impl.elementwise?.(1000, x), 1e-4, null);
  }

  if (!only || only.has('mobilenetv2')) {
    for (const size of quick ? [96] : [96, 224]) {
      const x = Float32Array.from({ length: 3 * size * size }, () => g.uniform());
      await runAll('mobilenetv2-forward', { size, batch: 1, until: size === 224 ? 'output' : 'out_relu' }, (impl) => impl.mobilenet?.(size, 1, x), 1e-3, null);
    }
    // The trunk `npm start` caches features from: 64x64 images to block_13_expand_relu.
    const [size, batch, until] = [64, quick ? 16 : 64, 'block_13_expand_relu'];
    const x = Float32Array.from({ length: batch * 3 * size * size }, () => g.uniform());
    const params = { size, batch, until };
    const ref = await runAll('mobilenetv2-trunk', params, (impl) => impl.mobilenet?.(size, batch, x, until), 1e-3, null);
    if (!torchWhy && ref) {
      const t0 = performance.now();
      progress.start('mobilenetv2-trunk on pytorch-cpu');
      const t = pytorchRun({ workload: 'mobilenet-trunk', batch, size }, 2, quick ? 5 : 10);
      const st = stats(t.times_ms);
      record({ workload: 'mobilenetv2-trunk', params, impl: 'pytorch-cpu', ...timed(st), ok: true, note: `timing only: torchvision's MobileNetV2 with its own random weights (output ${JSON.stringify(t.output)}), not checked against graft's` }, t0);
    }
  }

  if (!only || only.has('finetune')) {
    // One epoch of the embedded default at a small budget: feature caching of 100 training and 100
    // validation images, then a head epoch (graft only; no peer has this pipeline).
    for (const impl of live.filter((i) => i.name.startsWith('graft-'))) {
      const { loadMnist } = await import('../transfer/data/mnist.js');
      const { perClass, resizeImages } = await import('../transfer/data/dataset.js');
      const { mobilenetV2 } = await import('../transfer/zoo/mobilenetv2.js');
      const { TransferModel } = await import('../transfer/zoo/transferModel.js');
      const { freeze } = await import('../transfer/freeze.js');
      const { finetune } = await import('../transfer/finetune.js');
      const { setBackend } = await import('../engine/backend.js');
      const backend = (impl as { backend?: import('../index.js').Backend }).backend!;
      setBackend(backend);
      const { train, test } = await loadMnist(10, 10, 0);
      const [tr, va] = [resizeImages(perClass(train, 10), [64, 64], 3), resizeImages(test, [64, 64], 3)];
      const model = TransferModel.forBackbone(await mobilenetV2(), [3, 64, 64], 10, { featureLayer: 'block_13_expand_relu', poolGrid: 2 });
      freeze(model, 'backbone');
      const t0 = performance.now();
      const r = await finetune(model, tr, va, { epochs: 1, backend });
      const ms = performance.now() - t0;
      record({ workload: 'finetune-epoch', params: { images: tr.n + va.n, size: 64 }, impl: impl.name, ...timed(stats([ms])), ok: r.cachedFeatures && r.epochs.length === 1, note: 'one sample: feature caching plus one head epoch' });
    }
  }

  if (!only || only.has('frozen')) {
    // Backward through MobileNetV2 with every layer trainable vs with the backbone frozen (graft-cpu):
    // a frozen backbone records no graph, so backward touches the head alone.
    const cpuImpl = live.find((i) => i.name === 'graft-cpu') as { backend?: import('../index.js').Backend } | undefined;
    if (cpuImpl?.backend) {
      const { setBackend } = await import('../engine/backend.js');
      const { mobilenetV2 } = await import('../transfer/zoo/mobilenetv2.js');
      const { TransferModel } = await import('../transfer/zoo/transferModel.js');
      const { freeze } = await import('../transfer/freeze.js');
      const { tensor, functional: F, tidy } = await import('../index.js');
      setBackend(cpuImpl.backend);
      const model = TransferModel.forBackbone(await mobilenetV2(), [3, 64, 64], 10, { featureLayer: 'block_13_expand_relu', poolGrid: 2 });
      const x = tensor(Float32Array.from({ length: 8 * 3 * 64 * 64 }, () => g.uniform()), { shape: [8, 3, 64, 64] });
      const y = tensor(Int32Array.from({ length: 8 }, (_, i) => i % 10));
      for (const frozen of [false, true]) {
        if (frozen) freeze(model, 'backbone');
        const times: number[] = [];
        for (let i = 0; i < (quick ? 4 : 8); i++) {
          tidy(() => {
            model.zeroGrad();
            const loss = F.crossEntropy(model.forward(x), y);
            const t0 = performance.now();
            loss.backward();
            times.push(performance.now() - t0);
          });
        }
        record({ workload: 'backward', params: { model: 'mobilenetv2@block_13', batch: 8, size: 64, backbone: frozen ? 'frozen' : 'trainable' }, impl: 'graft-cpu',
          ...timed(stats(times.slice(1))), ok: true, note: 'time of loss.backward() alone' });
      }
    }
  }

  if (live.some((i) => i.name === 'graft-cpu') && cpuThreads() !== threads) console.warn(`warning: graft-cpu ran with ${cpuThreads()} threads, not ${threads}`);
  const files = await writeReports({ machine, results }, args.out ?? 'bench/results', `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, only ? [...only].join('+') : '', args.out ? null : 'README.md');
  console.log(`\ngraft against the fastest peer, ratios of medians from this run (${((performance.now() - started) / 1000).toFixed(0)} s):\n${ratioTable({ machine, results })}\n`);
  console.log(`wrote ${files.join(', ')}`);
  for (const [k, v] of Object.entries(skipped)) console.log(`skipped ${k}: ${v}`);
  process.exit(0);
}

/** `--compare A.json B.json [...]`: one page and a markdown table of the same workloads across runs. */
async function compare(files: string[]): Promise<void> {
  if (files.length < 2) throw new Error(`--compare needs at least two results files, got ${files.length}`);
  const runs = runsFromFiles(files, await Promise.all(files.map(loadReport)));
  const { files: written, markdown } = await writeComparison(runs, args.out ?? 'bench/results');
  console.log(`${markdown}\n\nwrote ${written.join(', ')}`);
}

await main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
