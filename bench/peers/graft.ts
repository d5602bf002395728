/** @file graft itself, on the CPU reference backend or on WebGPU. */
import { type Backend, type Tensor, amp, createWebGPUBackend, functional as F, noGrad, optim, tensor, tidy } from '../../index.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { F32_LOWEST } from '../../core/dtype.js';
import { causalKeep } from '../../core/shape.js';
import { setBackend } from '../../engine/backend.js';
import { mobilenetV2 } from '../../transfer/zoo/mobilenetv2.js';
import { resnet18 } from '../../transfer/zoo/resnet.js';
import type { AttentionParams, CnnInit, ConvParams, Impl, MlpInit, MlpParams, MatmulParams, Prepared, ResnetInit } from '../types.js';

/** A run that computes `make()` in a tidy scope and reads it back; the last result is kept for the gate. */
function reading(make: () => Tensor, inputs: Tensor[]): Prepared {
  let last: Tensor | null = null;
  return {
    run: async () => {
      last?.dispose();
      last = tidy(() => noGrad(make));
      await last.data();
    },
    output: async () => (await last!.data()) as Float32Array,
    dispose: () => [...inputs, last].forEach((t) => t?.dispose()),
  };
}

export function graftImpl(kind: 'cpu' | 'webgpu'): Impl & { backend?: Backend } {
  let backend: Backend | undefined;
  const impl: Impl & { backend?: Backend } = {
    name: `graft-${kind}`,
    async available() {
      if (kind === 'cpu') backend = new CpuBackend();
      else {
        const b = await createWebGPUBackend();
        if (typeof b === 'string') return b;
        backend = b;
      }
      impl.backend = backend;
      return null;
    },
    matmul: (p: MatmulParams, a: Float32Array, b: Float32Array) => matmul(p, a, b, 'f32'),
    async conv2d(p: ConvParams, x: Float32Array, w: Float32Array): Promise<Prepared> {
      const tx = tensor(x, { shape: [p.n, p.c, p.h, p.w], backend });
      const tw = tensor(w, { shape: [p.o, p.c / p.groups, p.k, p.k], backend });
      return reading(() => F.conv2d(tx, tw, null, { stride: p.stride, padding: p.pad, groups: p.groups }), [tx, tw]);
    },
    async rowwise(kind: 'softmax' | 'layernorm', rows: number, cols: number, x: Float32Array): Promise<Prepared> {
      const tx = tensor(x, { shape: [rows, cols], backend });
      return reading(() => (kind === 'softmax' ? F.softmax(tx, -1) : F.layerNorm(tx, [cols])), [tx]);
    },
    async attention(p: AttentionParams, q: Float32Array, k: Float32Array, v: Float32Array): Promise<Prepared> {
      const shape = [p.batch, p.heads, p.length, p.features];
      const [tq, tk, tv] = [q, k, v].map((d) => tensor(d, { shape, backend })) as [Tensor, Tensor, Tensor];
      return reading(() => F.scaledDotProductAttention(tq, tk, tv, { isCausal: p.causal }), [tq, tk, tv]);
    },
    async attentionUnfused(p: AttentionParams, q: Float32Array, k: Float32Array, v: Float32Array): Promise<Prepared> {
      const shape = [p.batch, p.heads, p.length, p.features];
      const [tq, tk, tv] = [q, k, v].map((d) => tensor(d, { shape, backend })) as [Tensor, Tensor, Tensor];
      const keep = p.causal ? tensor(causalKeep(p.length, p.length), { shape: [p.length, p.length], dtype: 'bool', backend }) : null;
      return reading(() => {
        let scores = tq.matmul(tk.transpose(2, 3)).mul(1 / Math.sqrt(p.features));
        if (keep) scores = scores.where(keep, F32_LOWEST);
        return scores.softmax(-1).matmul(tv);
      }, keep ? [tq, tk, tv, keep] : [tq, tk, tv]);
    },
    async elementwise(ops: number, x: Float32Array): Promise<Prepared> {
      const tx = tensor(x, { backend });
      return reading(() => {
        let y = tx;
        for (let i = 0; i < ops / 2; i++) y = y.mul(1.01).add(0.5).abs().sqrt();
        return y;
      }, [tx]);
    },
    async mobilenet(size: number, batch: number, x: Float32Array, until?: string): Promise<Prepared> {
      setBackend(backend!);
      const model = (await mobilenetV2()).eval();
      const tx = tensor(x, { shape: [batch, 3, size, size], backend });
      // Below 224x224 the classifier's fixed 7x7 pooling does not fit: time the backbone to out_relu.
      const cut = until ?? (size === 224 ? undefined : 'out_relu');
      return reading(() => (cut ? model.forward(tx, cut) : model.forward(tx)), [tx]);
    },
    async cnnStep(batch: number, init: CnnInit): Promise<Prepared> {
      const x = tensor(init.x, { shape: [batch, 1, 28, 28], backend });
      const y = tensor(init.labels, { backend });
      const c1 = tensor(init.conv1, { shape: [8, 1, 3, 3], backend, requiresGrad: true });
      const c2 = tensor(init.conv2, { shape: [16, 8, 3, 3], backend, requiresGrad: true });
      const fc = tensor(init.fc, { shape: [784, 10], backend, requiresGrad: true });
      let loss: Tensor | null = null;
      return {
        run: async () => {
          loss?.dispose();
          loss = tidy(() => {
            const h1 = F.maxPool2d(F.conv2d(x, c1, null, { padding: 1 }).relu(), 2);
            const h2 = F.maxPool2d(F.conv2d(h1, c2, null, { padding: 1 }).relu(), 2);
            const l = F.crossEntropy(h2.flatten(1).matmul(fc), y);
            l.backward();
            noGrad(() => {
              for (const t of [c1, c2, fc]) {
                t.copy_(t.sub(t.grad!.mul(0.1)));
                t.grad!.dispose();
                t.grad = null;
              }
            });
            return l.detach();
          });
          await loss.data();
        },
        output: async () => [(await loss!.data())[0]!, ...(await c1.data())],
        dispose: () => [x, y, c1, c2, fc].forEach((t) => t.dispose()),
      };
    },
    resnetStep: (init: ResnetInit) => resnetStep(init, false),
    resnetStepMixed: (init: ResnetInit) => resnetStep(init, true),
    matmulF16: (p: MatmulParams, a: Float32Array, b: Float32Array) => matmul(p, a, b, 'f16'),
    mlpStep: (p: MlpParams, init: MlpInit) => mlpStep(p, init, false),
    mlpStepMixed: (p: MlpParams, init: MlpInit) => mlpStep(p, init, true),
  };

  /** a @ b in `dtype` (f16: the inputs are f16 values already), read back as numbers. */
  async function matmul(p: MatmulParams, a: Float32Array, b: Float32Array, dtype: 'f32' | 'f16'): Promise<Prepared> {
    const ta = tensor(a, { shape: [p.m, p.k], dtype, backend });
    const tb = tensor(b, { shape: [p.k, p.n], dtype, backend });
    let last: Tensor | null = null;
    return {
      run: async () => {
        last?.dispose();
        last = ta.matmul(tb);
        await last.data();
      },
      output: async () => (await last!.data()) as Float32Array,
      dispose: () => [ta, tb, last].forEach((t) => t?.dispose()),
    };
  }

  /** One SGD step of torchvision's ResNet-18; mixed: the forward under autocast, the loss through a GradScaler. */
  async function resnetStep(init: ResnetInit, mixed: boolean): Promise<Prepared> {
    setBackend(backend!);
    const model = resnet18(10).train();
    model.loadStateDict(new Map(init.state.map(([k, shape, v]) => [k, tensor(v, { shape, backend })])));
    const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const scaler = new amp.GradScaler({ enabled: mixed });
    const x = tensor(init.x, { shape: [init.batch, 3, init.size, init.size], backend });
    const y = tensor(init.labels, { backend });
    let loss: Tensor | null = null;
    return {
      run: async () => {
        loss?.dispose();
        loss = tidy(() => {
          opt.zeroGrad();
          const l = amp.autocast(() => F.crossEntropy(model.forward(x), y), { enabled: mixed });
          scaler.scale(l).backward();
          if (!mixed) opt.step();
          return l.detach();
        });
        if (mixed) {
          // Unscales, reads whether any gradient is inf or NaN, and steps unless one is.
          await scaler.step(opt);
          scaler.update();
        }
        await loss.data();
      },
      output: async () => [(await loss!.data())[0]!, ...Array.from(await model.fc.weight.data()).slice(0, 4095)],
      dispose: () => [x, y, loss].forEach((t) => t?.dispose()),
    };
  }

  /** One SGD step of the MLP; mixed: the forward under autocast and the loss through a GradScaler. */
  async function mlpStep(p: MlpParams, init: MlpInit, mixed: boolean): Promise<Prepared> {
    const scaler = new amp.GradScaler({ enabled: mixed });
    const x = tensor(init.x, { shape: [p.batch, p.sizes[0]!], backend });
    const y = tensor(init.labels, { backend });
    const ws = init.weights.map((w, i) => tensor(w, { shape: [p.sizes[i]!, p.sizes[i + 1]!], backend, requiresGrad: true }));
    const bs = init.biases.map((b) => tensor(b, { backend, requiresGrad: true }));
    const sgd = mixed ? new optim.SGD([...ws, ...bs], { lr: 0.1 }) : null;
    let loss: Tensor | null = null;
    return {
      run: async () => {
        loss?.dispose();
        loss = tidy(() => {
          const l = amp.autocast(() => {
            let h = x;
            ws.forEach((w, i) => {
              h = h.matmul(w).add(bs[i]!);
              if (i < ws.length - 1) h = h.relu();
            });
            return F.crossEntropy(h, y);
          }, { enabled: mixed });
          scaler.scale(l).backward();
          // The update's temporaries die with the scope (left to the collector, they would be written out).
          if (!mixed) {
            noGrad(() => {
              for (const t of [...ws, ...bs]) {
                t.copy_(t.sub(t.grad!.mul(0.1)));
                t.grad!.dispose();
                t.grad = null;
              }
            });
          }
          return l.detach();
        });
        if (mixed) {
          // The scaler's check for an inf gradient is a second read per step.
          await scaler.step(sgd!);
          scaler.update();
          sgd!.zeroGrad();
        }
        await loss.data(); // the loss is the one readback per step
      },
      output: async () => [(await loss!.data())[0]!, ...(await ws[0]!.data())],
      dispose: () => [x, y, ...ws, ...bs].forEach((t) => t.dispose()),
    };
  }
  return impl;
}
