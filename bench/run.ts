/** @file The benchmark runner: `npm run bench [-- --quick] [--only matmul,mlp] [--backend cpu,webgpu]`. */
import { readFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { Generator, WebGPUBackend } from '../index.js';
import { gpujsImpl } from './peers/gpujs.js';
import { graftImpl } from './peers/graft.js';
import { jaxImpl } from './peers/jaxjs.js';
import { onnxruntime } from './peers/onnxruntime.js';
import { plainJs } from './peers/plainJs.js';
import { pytorchAvailable, pytorchResnet, pytorchRun } from './peers/pytorch.js';
import { tfjsImpl } from './peers/tfjs.js';
import { writeReports } from './report.js';
import type { CnnInit, ConvParams, Impl, MatmulParams, MlpInit, MlpParams, Prepared, ResnetInit, Result } from './types.js';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean' }, only: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' } },
  strict: true,
});
const quick = Boolean(args.quick);
const only = args.only ? new Set(args.only.split(',')) : null;
const graftBackends = (args.backend ?? 'cpu,webgpu').split(',') as ('cpu' | 'webgpu')[];

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

async function time(prep: Prepared, name: string): Promise<{ median: number; min: number; max: number; samples: number }> {
  const bench = new Bench({ time: quick ? 200 : 1000, iterations: quick ? 5 : 10, warmupTime: quick ? 50 : 200, warmupIterations: 2 });
  bench.add(name, prep.run);
  await bench.run();
  const r = bench.tasks[0]!.result as unknown as { latency?: { p50: number; min: number; max: number; samples?: unknown[] }; error?: Error };
  if (!r?.latency) throw r?.error ?? new Error(`${name}: no timing result`);
  return { median: r.latency.p50, min: r.latency.min, max: r.latency.max, samples: Array.isArray(r.latency.samples) ? r.latency.samples.length : 0 };
}

async function main(): Promise<void> {
  const g = new Generator(42);
  const impls: Impl[] = [
    ...graftBackends.map((b) => graftImpl(b)),
    plainJs, tfjsImpl('cpu'), tfjsImpl('wasm'), tfjsImpl('webgpu'), jaxImpl('wasm'), jaxImpl('webgpu'), onnxruntime, gpujsImpl('webasm'), gpujsImpl('webgpu'),
  ];
  const skipped: Record<string, string> = {};
  const live: Impl[] = [];
  for (const impl of impls) {
    const why = await impl.available();
    if (why) skipped[impl.name] = why;
    else live.push(impl);
  }
  const torchWhy = pytorchAvailable();
  if (torchWhy) skipped['pytorch-cpu'] = torchWhy;
  const gpu = live.map((i) => (i as { backend?: unknown }).backend).find((b): b is WebGPUBackend => b instanceof WebGPUBackend);
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, host: hostname(), node: process.version, platform: `${process.platform}-${process.arch}`,
    adapter: gpu?.info ?? null,
    versions: { graft: version('graft'), 'gpu.js': version('gpu.js'), '@tensorflow/tfjs': version('@tensorflow/tfjs'), '@jax-js/jax': version('@jax-js/jax'), 'onnxruntime-node': version('onnxruntime-node'), webgpu: version('webgpu'), tinybench: version('tinybench') },
    peak: { cpuGflops: 'f32 peak from the instruction set, not measured: 2 cores x 32 FLOP/cycle (AVX2, 2 FMA ports) x ~3 GHz = ~190 GFLOP/s, or x 64 FLOP/cycle with AVX-512 = ~380 GFLOP/s' },
    timing: 'median of samples; each sample includes a completed read back of the result to JavaScript (await data())',
    skipped,
  };
  const results: Result[] = [];
  /** Gate each implementation's output against the first one's, then time it. */
  /** Runs and times `workload` on every implementation that has it; returns the first one's output (what the others were checked against). */
  async function runAll(workload: string, params: Result['params'], prepare: (impl: Impl) => Promise<Prepared> | undefined, tol: number, flops: number | null, gigabytes?: number): Promise<Float32Array | null> {
    let ref: Float32Array | null = null;
    for (const impl of live) {
      let prep: Prepared | undefined;
      try {
        prep = await prepare(impl);
        if (!prep) continue;
        await prep.run();
        const out = Float32Array.from(await prep.output());
        ref ??= out;
        const bad = close(out, ref, tol);
        if (bad) record({ workload, params, impl: impl.name, median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: `wrong result: ${bad}` });
        else {
          const t = await time(prep, impl.name);
          record({ workload, params, impl: impl.name, median_ms: t.median, min_ms: t.min, max_ms: t.max, samples: t.samples, ok: true,
            ...(flops ? { gflops: flops / t.median / 1e6 } : {}), ...(gigabytes ? { gbps: gigabytes / (t.median / 1000) } : {}) });
        }
      } catch (e) {
        record({ workload, params, impl: impl.name, median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: (e as Error).message.split('\n')[0] });
      } finally {
        await prep?.dispose?.();
      }
    }
    return ref;
  }
  // Every implementation here runs on this CPU (lavapipe executes WebGPU on it too), so all compare
  // with the CPU's instruction-set peak stated in machine.peak (the AVX-512 figure).
  const CPU_PEAK_GFLOPS = 380;
  const record = (r: Result) => {
    if (r.gflops) r.pct_of_peak = (100 * r.gflops) / CPU_PEAK_GFLOPS;
    results.push(r);
    const t = r.median_ms === null ? '   -    ' : `${r.median_ms.toFixed(2).padStart(8)} ms`;
    console.log(`${r.workload.padEnd(16)} ${JSON.stringify(r.params).padEnd(40)} ${r.impl.padEnd(18)} ${t}${r.gflops ? `  ${r.gflops.toFixed(2)} GFLOP/s` : ''}${r.ok ? '' : `  FAILED: ${r.note}`}`);
  };

  if (!only || only.has('matmul')) {
    const shapes: [number, number, number][] = quick ? [[256, 256, 256], [1024, 1024, 1024], [1024, 64, 1024]] : [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [1024, 64, 1024], [64, 1024, 1024]];
    for (const [m, n, k] of shapes) {
      const p: MatmulParams = { m, n, k, dtype: 'f32' };
      const a = random(m * k, g);
      const b = random(k * n, g);
      let ref: Float32Array | null = null;
      const flops = 2 * m * n * k;
      for (const impl of live) {
        if (!impl.matmul) continue;
        // Plain JS at 2048^3 takes minutes a sample; its 1024^3 figure already places it.
        if (impl.name === 'plain-js' && m * n * k > 1024 ** 3) continue;
        try {
          const prep = await impl.matmul(p, a, b);
          await prep.run();
          const out = Float32Array.from(await prep.output());
          ref ??= out;
          const bad = close(out, ref, 1e-4);
          if (bad) {
            record({ workload: 'matmul', params: { ...p }, impl: impl.name, median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: `wrong result: ${bad}` });
          } else {
            const t = await time(prep, impl.name);
            record({ workload: 'matmul', params: { ...p }, impl: impl.name, median_ms: t.median, min_ms: t.min, max_ms: t.max, samples: t.samples, gflops: flops / t.median / 1e6, ok: true });
          }
          await prep.dispose?.();
        } catch (e) {
          record({ workload: 'matmul', params: { ...p }, impl: impl.name, median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: (e as Error).message.split('\n')[0] });
        }
      }
      if (!torchWhy && ref) {
        const t = pytorchRun({ workload: 'matmul', ...p, a: Array.from(a), b: Array.from(b) }, 2, quick ? 5 : 10);
        const sorted = [...t.times_ms].sort((x, y) => x - y);
        const bad = close(t.output, ref.subarray(0, t.output.length), 1e-4);
        const median = sorted[Math.floor(sorted.length / 2)]!;
        record({ workload: 'matmul', params: { ...p }, impl: 'pytorch-cpu', median_ms: bad ? null : median, min_ms: sorted[0]!, max_ms: sorted.at(-1)!, samples: sorted.length, gflops: bad ? null : flops / median / 1e6, ok: !bad, note: bad ?? undefined });
      }
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
    let ref: Float32Array | null = null;
    const params = { batch: p.batch, sizes: p.sizes.join('-') };
    for (const impl of live) {
      if (!impl.mlpStep) continue;
      try {
        const prep = await impl.mlpStep(p, init);
        await prep.run();
        const out = Float32Array.from(await prep.output());
        ref ??= out;
        const bad = close(out, ref, 1e-3);
        if (bad) record({ workload: 'mlp-train-step', params, impl: impl.name, median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: `wrong result: ${bad}` });
        else {
          const t = await time(prep, impl.name);
          record({ workload: 'mlp-train-step', params, impl: impl.name, median_ms: t.median, min_ms: t.min, max_ms: t.max, samples: t.samples, ok: true });
        }
        await prep.dispose?.();
      } catch (e) {
        record({ workload: 'mlp-train-step', params, impl: impl.name, median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: (e as Error).message.split('\n')[0] });
      }
    }
    if (!torchWhy && ref) {
      const t = pytorchRun({ workload: 'mlp', ...p, x: Array.from(init.x), labels: Array.from(init.labels), weights: init.weights.map((w) => Array.from(w)), biases: init.biases.map((b) => Array.from(b)) }, 5, quick ? 10 : 30);
      const sorted = [...t.times_ms].sort((x, y) => x - y);
      const bad = close(t.output, ref.subarray(0, t.output.length), 1e-3);
      record({ workload: 'mlp-train-step', params, impl: 'pytorch-cpu', median_ms: bad ? null : sorted[Math.floor(sorted.length / 2)]!, min_ms: sorted[0]!, max_ms: sorted.at(-1)!, samples: sorted.length, ok: !bad, note: bad ?? undefined });
    }
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
    await runAll('cnn-train-step', { batch, input: '1x28x28' }, (impl) => impl.cnnStep?.(batch, init), 1e-3, null);
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
    if (!torchWhy && ref) {
      const t = pytorchResnet(init, 2, quick ? 5 : 10);
      const sorted = [...t.times_ms].sort((x, y) => x - y);
      const bad = close(t.output, ref.subarray(0, t.output.length), 1e-3);
      record({ workload: 'resnet18-train-step', params, impl: 'pytorch-cpu', median_ms: bad ? null : sorted[Math.floor(sorted.length / 2)]!, min_ms: sorted[0]!, max_ms: sorted.at(-1)!, samples: sorted.length, ok: !bad, note: bad ?? undefined });
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
      record({ workload: 'finetune-epoch', params: { images: tr.n + va.n, size: 64 }, impl: impl.name, median_ms: ms, min_ms: ms, max_ms: ms, samples: 1, ok: r.cachedFeatures && r.epochs.length === 1, note: 'one sample: feature caching plus one head epoch' });
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
        const sorted = times.slice(1).sort((a, b) => a - b);
        record({ workload: 'backward', params: { model: 'mobilenetv2@block_13', batch: 8, size: 64, backbone: frozen ? 'frozen' : 'trainable' }, impl: 'graft-cpu',
          median_ms: sorted[Math.floor(sorted.length / 2)]!, min_ms: sorted[0]!, max_ms: sorted.at(-1)!, samples: sorted.length, ok: true, note: 'time of loss.backward() alone' });
      }
    }
  }

  const files = await writeReports({ machine, results }, args.out ?? 'bench/results', `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, only ? [...only].join('+') : '', args.out ? null : 'README.md');
  console.log(`wrote ${files.join(', ')}`);
  for (const [k, v] of Object.entries(skipped)) console.log(`skipped ${k}: ${v}`);
  process.exit(0);
}

await main();
