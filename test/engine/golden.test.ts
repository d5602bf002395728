/** @file graft against golden values computed by PyTorch (scripts/make_fixtures.py). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type DType, type Tensor, functional as F, getBackend, nn, optim, zeros } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { type Encoded, decode, expectClose, expectCloseArrays } from '../helpers.js';
import { webgpuBackend } from '../backends.js';

interface Case {
  name: string;
  inputs: (Encoded | null)[];
  out: Encoded;
  probe: Encoded;
  grads: (Encoded | null)[];
  extra: Record<string, Encoded & { padding?: unknown } & Record<string, unknown>>;
}
const fixtures = JSON.parse(readFileSync(new URL('../fixtures/torch_ops.json', import.meta.url), 'utf8')) as {
  cases: Case[];
  optim: Record<string, { w: Encoded; b: Encoded; x: Encoded; y: Encoded; steps: Encoded[][] }>;
  schedules: Record<string, number[]>;
  plateau: Record<string, { metrics: number[]; lrs: number[]; opts: Record<string, number | string> }>;
  oneCycle: Record<string, { opts: Record<string, number | string | boolean>; steps: [number, number][] }>;
  stateKeys: [string, number[]][];
};

type Fn = (xs: Tensor[], extra: Case['extra'], dt: DType) => Tensor;
const ex = (e: Case['extra'], k: string, dt: DType) => decode(e[k]!, dt);
const conv: Fn = ([x, w, b], e) => F.conv2d(x!, w!, b!, e.opts as unknown as F.Conv2dOptions);

/** How graft spells each PyTorch case. */
const GRAFT: Record<string, Fn> = {
  erf: ([x]) => x!.mul(2).erf(),
  sigmoid: ([x]) => x!.sigmoid(),
  tanh: ([x]) => x!.tanh(),
  pow: ([a, b]) => a!.pow(b!),
  maximum: ([a, b]) => a!.maximum(b!),
  clamp: ([x]) => x!.clamp(-0.5, 0.3),
  sum_dims: ([x]) => x!.sum([0, 2], true),
  mean: ([x]) => x!.mean(1),
  amax: ([x]) => x!.amax(-1),
  var: ([x]) => x!.var(1),
  matmul_broadcast: ([a, b]) => a!.matmul(b!),
  matmul_vec: ([a, b]) => a!.matmul(b!),
  softmax: ([x]) => F.softmax(x!, 1),
  log_softmax: ([x]) => F.logSoftmax(x!, -1),
  cross_entropy: ([x], e, dt) => F.crossEntropy(x!, ex(e, 'target', dt)),
  cross_entropy_smooth: ([x], e, dt) => F.crossEntropy(x!, ex(e, 'target', dt), { labelSmoothing: 0.1 }),
  cross_entropy_weight_ignore_smooth: ([x], e, dt) =>
    F.crossEntropy(x!, ex(e, 'target', dt), { weight: ex(e, 'weight', dt), ignoreIndex: -100, labelSmoothing: 0.2 }),
  cross_entropy_spatial_sum: ([x], e, dt) => F.crossEntropy(x!, ex(e, 'target', dt), { reduction: 'sum' }),
  cross_entropy_probs: ([x], e, dt) => F.crossEntropy(x!, ex(e, 'target', dt), { labelSmoothing: 0.1 }),
  nll_loss: ([x], e, dt) => F.nllLoss(F.logSoftmax(x!, 1), ex(e, 'target', dt)),
  mse_loss: ([a, b]) => F.mseLoss(a!, b!),
  bce_logits: ([a, b]) => F.binaryCrossEntropyWithLogits(a!, b!),
  gelu: ([x]) => F.gelu(x!),
  gelu_tanh: ([x]) => F.gelu(x!, { approximate: 'tanh' }),
  silu: ([x]) => F.silu(x!),
  layer_norm: ([x, w, b]) => F.layerNorm(x!, [4, 5], w, b),
  linear: ([x, w, b]) => F.linear(x!, w!, b),
  batch_norm_train: ([x, w, b], e, dt) => {
    const rm = ex(e, 'running_mean_in', dt);
    const rv = ex(e, 'running_var_in', dt);
    const y = F.batchNorm(x!, rm, rv, w, b, { training: true, momentum: 0.1 });
    expectClose(rm, e.running_mean_out!.data, [3], 1e-6, 1e-5, 'running_mean');
    expectClose(rv, e.running_var_out!.data, [3], 1e-6, 1e-5, 'running_var');
    return y;
  },
  batch_norm_eval: ([x, w, b], e, dt) => F.batchNorm(x!, ex(e, 'running_mean_in', dt), ex(e, 'running_var_in', dt), w, b, { training: false }),
  conv2d_pad: conv,
  conv2d_stride_dil: conv,
  conv2d_groups: conv,
  conv2d_depthwise: conv,
  conv2d_pointwise: conv,
  max_pool2d: ([x]) => F.maxPool2d(x!, 3, { stride: 2, padding: 1 }),
  max_pool2d_dil: ([x]) => F.maxPool2d(x!, 2, { stride: 1, dilation: 2 }),
  avg_pool2d: ([x]) => F.avgPool2d(x!, 3, { stride: 2, padding: 1 }),
  avg_pool2d_nopad: ([x]) => F.avgPool2d(x!, 3, { stride: 2, padding: 1, countIncludePad: false }),
  adaptive_avg_pool2d: ([x]) => F.adaptiveAvgPool2d(x!, [3, 2]),
  embedding: ([w], e, dt) => F.embedding(ex(e, 'indices', dt), w!),
  pad: ([x]) => F.pad(x!, [1, 2, -1, 1], { value: 0.5 }),
  conv1d: ([x, w, b]) => F.conv1d(x!, w!, b, { stride: 2, padding: 1, dilation: 1, groups: 2 }),
  conv_transpose2d: ([x, w, b]) => F.convTranspose2d(x!, w!, b, { stride: 2, padding: 1, outputPadding: 1 }),
  conv_transpose2d_groups_dil: ([x, w]) => F.convTranspose2d(x!, w!, null, { stride: [1, 2], padding: [0, 1], groups: 2, dilation: 2 }),
  group_norm: ([x, w, b]) => F.groupNorm(x!, 3, w, b, { eps: 1e-5 }),
  interpolate_nearest: ([x]) => F.interpolate(x!, { size: [5, 7], mode: 'nearest' }),
  interpolate_bilinear: ([x]) => F.interpolate(x!, { size: [5, 7], mode: 'bilinear', alignCorners: false }),
  interpolate_bilinear_align: ([x]) => F.interpolate(x!, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }),
  interpolate_down: ([x]) => F.interpolate(x!, { size: [3, 2], mode: 'bilinear' }),
  cumsum: ([x]) => x!.cumsum(1),
  sort_values: ([x]) => x!.sort(1, true).values,
  topk_values: ([x]) => x!.topk(3, 0).values,
  prod_dim: ([x]) => x!.prod(1),
  prod_all: ([x]) => x!.mul(2).prod(),
  masked_fill: ([x], e, dt) => x!.maskedFill(ex(e, 'mask', dt), -1.5),
  masked_select: ([x], e, dt) => x!.maskedSelect(ex(e, 'mask', dt)),
  cumsum_dim0: ([x]) => x!.cumsum(0).mul(2),
};

describe('golden values from PyTorch', () => {
  it('covers every fixture case', () => {
    expect(fixtures.cases.map((c) => c.name).filter((n) => !GRAFT[n])).toEqual([]);
  });

  for (const [dt, atol, rtol] of [['f64', 1e-10, 1e-8], ['f32', 2e-5, 2e-4]] as [DType, number, number][]) {
    describe(dt, () => {
      for (const c of fixtures.cases) {
        it(c.name, () => {
          const xs = c.inputs.map((e) => decode(e!, dt, true));
          const y = GRAFT[c.name]!(xs, c.extra, dt);
          expectClose(y, c.out.data, c.out.shape, atol, rtol, `${c.name} forward`);
          y.mul(decode(c.probe, dt)).sum().backward();
          c.grads.forEach((g, i) => {
            if (!g) return;
            expect(xs[i]!.grad, `${c.name} grad ${i}`).not.toBeNull();
            expectClose(xs[i]!.grad!, g.data, g.shape, atol, rtol, `${c.name} grad ${i}`);
          });
        });
      }
    });
  }
});

// The same cases in f32 on WebGPU: every composite (convTranspose2d, groupNorm, interpolate, the
// losses, ...) against PyTorch on the GPU too; batch_norm_train checks its running statistics with
// synchronous reads inside and masked_select is the synchronous form (maskedSelectAsync is tested on
// WebGPU in nan.test.ts), so they stay on the CPU.
const gpu = await webgpuBackend();
const CPU_ONLY = new Set(['batch_norm_train', 'masked_select']);
describe.runIf(gpu)('golden values from PyTorch on webgpu (f32)', () => {
  for (const c of fixtures.cases.filter((k) => !CPU_ONLY.has(k.name))) {
    it(c.name, async () => {
      const before = getBackend();
      setBackend(gpu!);
      try {
        const xs = c.inputs.map((e) => decode(e!, 'f32', true));
        const y = GRAFT[c.name]!(xs, c.extra, 'f32');
        expect(y.backend).toBe('webgpu');
        expect(y.shape).toEqual(c.out.shape);
        expectCloseArrays(await y.data(), c.out.data, 2e-5, 2e-4, `${c.name} forward`);
        y.mul(decode(c.probe, 'f32')).sum().backward();
        for (const [i, g] of c.grads.entries()) {
          if (!g) continue;
          expectCloseArrays(await xs[i]!.grad!.data(), g.data, 2e-5, 2e-4, `${c.name} grad ${i}`);
        }
      } finally {
        setBackend(before);
      }
    });
  }
});

describe('optimizer trajectories match PyTorch', () => {
  const make: Record<string, (ps: Tensor[]) => optim.Optimizer<{ lr: number }>> = {
    sgd: (ps) => new optim.SGD(ps, { lr: 0.1 }),
    sgd_momentum_wd: (ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }),
    sgd_nesterov: (ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true }),
    adam: (ps) => new optim.Adam(ps, { lr: 0.01, weightDecay: 0.1 }),
    adam_amsgrad: (ps) => new optim.Adam(ps, { lr: 0.02, amsgrad: true }),
    adamw: (ps) => new optim.AdamW(ps, { lr: 0.01, weightDecay: 0.1 }),
    groups: (ps) => new optim.SGD([{ params: [ps[0]!], lr: 0.2 }, { params: [ps[1]!] }], { lr: 0.01, momentum: 0.5 }),
    rmsprop: (ps) => new optim.RMSprop(ps, { lr: 0.01 }),
    rmsprop_centered_momentum_wd: (ps) => new optim.RMSprop(ps, { lr: 0.005, alpha: 0.9, momentum: 0.5, centered: true, weightDecay: 0.1 }),
    adagrad: (ps) => new optim.Adagrad(ps, { lr: 0.1 }),
    adagrad_decay_wd_init: (ps) => new optim.Adagrad(ps, { lr: 0.1, lrDecay: 0.05, weightDecay: 0.1, initialAccumulatorValue: 0.2 }),
  };
  for (const [name, t] of Object.entries(fixtures.optim)) {
    it(name, () => {
      const ps = [decode(t.w, 'f64', true), decode(t.b, 'f64', true)];
      const [x, y] = [decode(t.x), decode(t.y)];
      const opt = make[name]!(ps);
      t.steps.forEach((expected, step) => {
        opt.zeroGrad();
        x.matmul(ps[0]!.T).add(ps[1]!).sub(y).pow(2).mean().backward();
        opt.step();
        expected.forEach((e, i) => expectClose(ps[i]!, e.data, e.shape, 1e-10, 1e-8, `${name} step ${step} param ${i}`));
      });
    });
    // The same trajectory in f32 on WebGPU (optimizer updates are tensor programs there too: copy_ writes them in place).
    it.runIf(gpu)(`${name} on webgpu (f32)`, async () => {
      const before = getBackend();
      setBackend(gpu!);
      try {
        const ps = [decode(t.w, 'f32', true), decode(t.b, 'f32', true)];
        const [x, y] = [decode(t.x, 'f32'), decode(t.y, 'f32')];
        const opt = make[name]!(ps);
        for (const [step, expected] of t.steps.entries()) {
          opt.zeroGrad();
          x.matmul(ps[0]!.T).add(ps[1]!).sub(y).pow(2).mean().backward();
          opt.step();
          for (const [i, e] of expected.entries()) expectCloseArrays(await ps[i]!.data(), e.data, 2e-5, 2e-4, `${name} step ${step} param ${i}`);
        }
      } finally {
        setBackend(before);
      }
    });
  }
});

describe('learning-rate schedules match PyTorch', () => {
  const make: Record<string, (o: optim.Optimizer<{ lr: number }>) => optim.LRScheduler> = {
    // Past tMax the cosine continues (it rises again), as PyTorch's does.
    cosine_annealing: (o) => new optim.CosineAnnealingLR(o, 10, 0.01),
    step: (o) => new optim.StepLR(o, 4, 0.5),
    exponential: (o) => new optim.ExponentialLR(o, 0.9),
    multistep: (o) => new optim.MultiStepLR(o, [3, 7, 12], 0.5),
    linear: (o) => new optim.LinearLR(o, 0.25, 0.9, 6),
    // Both schedulers start from the group's initial rate, not from the rate the first one set.
    sequential_warmup_cosine: (o) => new optim.SequentialLR(o, [new optim.LinearLR(o, 0.1, 1, 4), new optim.CosineAnnealingLR(o, 12, 0.001)], [4]),
  };
  it('covers every fixture schedule', () => expect(Object.keys(fixtures.schedules).filter((k) => !make[k])).toEqual([]));
  for (const [name, lrs] of Object.entries(fixtures.schedules)) {
    it(name, () => {
      const o = new optim.SGD([zeros([1]).requiresGrad_()], { lr: 0.1 });
      const sched = make[name]!(o);
      const got = [o.paramGroups[0]!.lr];
      for (let i = 1; i < lrs.length; i++) {
        sched.step();
        got.push(o.paramGroups[0]!.lr);
      }
      got.forEach((lr, i) => expect(lr, `${name} after ${i} steps`).toBeCloseTo(lrs[i]!, 12));
    });
  }
});

describe('ReduceLROnPlateau matches PyTorch', () => {
  const keys: Record<string, keyof optim.PlateauOptions> = { patience: 'patience', threshold: 'threshold', threshold_mode: 'thresholdMode', cooldown: 'cooldown', factor: 'factor', mode: 'mode', min_lr: 'minLr' };
  for (const [name, c] of Object.entries(fixtures.plateau)) {
    it(name, () => {
      const o = new optim.SGD([zeros([1]).requiresGrad_()], { lr: 0.1 });
      const opts = Object.fromEntries(Object.entries(c.opts).map(([k, v]) => [keys[k]!, v])) as Partial<optim.PlateauOptions>;
      const sched = new optim.ReduceLROnPlateau(o, opts);
      c.metrics.forEach((m, i) => {
        sched.step(m);
        expect(o.paramGroups[0]!.lr, `${name} after metric ${i}`).toBeCloseTo(c.lrs[i]!, 14);
      });
    });
  }
});

describe('OneCycleLR matches PyTorch, its rate and its momentum', () => {
  const camel = (k: string) => k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  for (const [name, c] of Object.entries(fixtures.oneCycle)) {
    it(name, () => {
      const o = new optim.SGD([zeros([1]).requiresGrad_()], { lr: 0.1, momentum: 0.9 });
      const { max_lr: maxLr, total_steps: totalSteps, ...rest } = c.opts;
      const sched = new optim.OneCycleLR(o, maxLr as number, totalSteps as number, Object.fromEntries(Object.entries(rest).map(([k, v]) => [camel(k), v])));
      c.steps.forEach(([lr, momentum], i) => {
        if (i > 0) sched.step();
        expect(o.paramGroups[0]!.lr, `${name} lr at step ${i}`).toBeCloseTo(lr, 12);
        expect(o.paramGroups[0]!.momentum, `${name} momentum at step ${i}`).toBeCloseTo(momentum, 12);
      });
    });
  }
});

describe('state dict names', () => {
  it('match PyTorch for the same architecture', () => {
    const net = new nn.Sequential(
      new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(),
      new nn.Sequential(new nn.Conv2d(8, 8, 3, { groups: 8 }), new nn.LayerNorm([8, 4, 4])),
      new nn.Flatten(), new nn.Linear(128, 10), new nn.Embedding(5, 2),
    );
    expect([...net.stateDict()].map(([k, v]) => [k, [...v.shape]])).toEqual(fixtures.stateKeys);
  });
});
