/** @file TensorFlow.js on its cpu, wasm and webgpu backends. */
import type { AttentionParams, CnnInit, ConvParams, Impl, MlpInit, MlpParams, MatmulParams, Prepared } from '../types.js';
import { installNavigatorGpu } from './gpu.js';

type TF = typeof import('@tensorflow/tfjs');
let tfP: Promise<TF> | null = null;

type T = import('@tensorflow/tfjs').Tensor;

/** A run computing `make()` (in tf.tidy) and reading it back; `toNchw` reorders a 4-d result for the gate. */
function reading(tf: TF, make: () => T, inputs: T[], toNchw = false, extra: () => void = () => {}): Prepared {
  let last: T | null = null;
  return {
    run: async () => {
      last?.dispose();
      last = tf.tidy(make);
      await last.data();
    },
    output: async () => (await (toNchw && last!.rank === 4 ? last!.transpose([0, 3, 1, 2]) : last!).data()) as Float32Array,
    dispose: () => {
      tf.dispose([...inputs, ...(last ? [last] : [])]);
      extra();
    },
  };
}

export function tfjsImpl(backend: 'cpu' | 'wasm' | 'webgpu'): Impl {
  let tf: TF;
  const use = async () => {
    await tf.setBackend(backend);
    await tf.ready();
  };
  return {
    name: `tfjs-${backend}`,
    async available() {
      try {
        tfP ??= import('@tensorflow/tfjs');
        tf = await tfP;
        if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
        if (backend === 'webgpu') {
          const why = await installNavigatorGpu();
          if (why) return why;
          await import('@tensorflow/tfjs-backend-webgpu');
        }
        if (!(await tf.setBackend(backend))) return `tfjs could not start its ${backend} backend`;
        await tf.ready();
        return null;
      } catch (e) {
        return `tfjs ${backend}: ${(e as Error).message}`;
      }
    },
    async matmul(p: MatmulParams, a: Float32Array, b: Float32Array): Promise<Prepared> {
      await use();
      const ta = tf.tensor2d(a, [p.m, p.k]);
      const tb = tf.tensor2d(b, [p.k, p.n]);
      return reading(tf, () => tf.matMul(ta, tb), [ta, tb]);
    },
    async conv2d(p: ConvParams, x: Float32Array, w: Float32Array): Promise<Prepared> {
      await use();
      // tfjs computes channels-last; inputs and the result are transposed outside the timed run.
      const tx = tf.tensor4d(x, [p.n, p.c, p.h, p.w]).transpose([0, 2, 3, 1]) as import('@tensorflow/tfjs').Tensor4D;
      const depthwise = p.groups === p.c && p.o === p.c;
      if (p.groups !== 1 && !depthwise) throw new Error('tfjs has no grouped convolution');
      const tw = depthwise
        ? (tf.tensor4d(w, [p.o, 1, p.k, p.k]).transpose([2, 3, 0, 1]) as import('@tensorflow/tfjs').Tensor4D)
        : (tf.tensor4d(w, [p.o, p.c, p.k, p.k]).transpose([2, 3, 1, 0]) as import('@tensorflow/tfjs').Tensor4D);
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [p.pad, p.pad], [p.pad, p.pad], [0, 0]];
      return reading(tf, () => (depthwise ? tf.depthwiseConv2d(tx, tw, p.stride, pad as never) : tf.conv2d(tx, tw, p.stride, pad as never)), [tx, tw], true);
    },
    async rowwise(kind: 'softmax' | 'layernorm', rows: number, cols: number, x: Float32Array): Promise<Prepared> {
      await use();
      const tx = tf.tensor2d(x, [rows, cols]);
      return reading(tf, () => {
        if (kind === 'softmax') return tf.softmax(tx);
        const { mean, variance } = tf.moments(tx, -1, true);
        return tf.div(tf.sub(tx, mean), tf.sqrt(tf.add(variance, 1e-5)));
      }, [tx]);
    },
    async attention(p: AttentionParams, q: Float32Array, k: Float32Array, v: Float32Array): Promise<Prepared> {
      await use();
      // tfjs has no attention op: batched matMul, softmax, matMul over [batch * heads, length, features].
      const shape: [number, number, number] = [p.batch * p.heads, p.length, p.features];
      const [tq, tk, tv] = [q, k, v].map((d) => tf.tensor3d(d, shape));
      const keep = p.causal ? tf.linalg.bandPart(tf.ones([p.length, p.length]), -1, 0) : null;
      return reading(tf, () => {
        let scores: T = tf.mul(tf.matMul(tq!, tk!, false, true), 1 / Math.sqrt(p.features));
        if (keep) scores = tf.where(tf.cast(keep, 'bool'), scores, tf.fill(scores.shape, -3.4e38));
        return tf.matMul(tf.softmax(scores), tv!);
      }, keep ? [tq!, tk!, tv!, keep] : [tq!, tk!, tv!]);
    },
    async elementwise(ops: number, x: Float32Array): Promise<Prepared> {
      await use();
      const tx = tf.tensor1d(x);
      return reading(tf, () => {
        let y: T = tx;
        for (let i = 0; i < ops / 2; i++) y = tf.sqrt(tf.abs(tf.add(tf.mul(y, 1.01), 0.5)));
        return y;
      }, [tx]);
    },
    async mobilenet(size: number, batch: number, x: Float32Array, until?: string): Promise<Prepared> {
      await use();
      // The same model JSON and weight bytes graft reads, handed to tfjs's own loader.
      const { nsfwjsMobileNetDir } = await import('../../transfer/zoo/mobilenetv2.js');
      const { moduleExport } = await import('../../transfer/import/jsLiteral.js');
      const { readFile } = await import('node:fs/promises');
      const dir = await nsfwjsMobileNetDir();
      const json = moduleExport(await readFile(`${dir}/model.min.js`, 'utf8')) as { modelTopology: object; weightsManifest: { weights: import('@tensorflow/tfjs').io.WeightsManifestEntry[] }[] };
      const b64 = moduleExport(await readFile(`${dir}/group1-shard1of1.min.js`, 'utf8')) as string;
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      // Below 224 the classifier does not fit: keep the layers up to out_relu (or `until`) and their weights only.
      const topology = JSON.parse(JSON.stringify(json.modelTopology).replace('[null,224,224,3]', `[null,${size},${size},3]`));
      let specs = json.weightsManifest[0]!.weights;
      let data: ArrayBuffer = bytes.buffer;
      const last = until ?? (size === 224 ? null : 'out_relu');
      if (last) {
        const cfg = topology.model_config.config;
        const cut = cfg.layers.findIndex((l: { name: string }) => l.name === last);
        if (cut < 0) throw new Error(`MobileNetV2 has no layer ${last}`);
        const keep = new Set(cfg.layers.slice(0, cut + 1).map((l: { name: string }) => l.name));
        cfg.layers = cfg.layers.slice(0, cut + 1);
        cfg.output_layers = [[last, 0, 0]];
        const parts: Uint8Array[] = [];
        let at = 0;
        const kept: typeof specs = [];
        for (const w of specs) {
          const len = w.shape.reduce((a, b) => a * b, 1) * (w.quantization ? (w.quantization.dtype === 'uint8' ? 1 : 2) : 4);
          if (keep.has(w.name.split('/')[0])) {
            kept.push(w);
            parts.push(bytes.subarray(at, at + len));
          }
          at += len;
        }
        specs = kept;
        const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) {
          joined.set(p, o);
          o += p.length;
        }
        data = joined.buffer;
      }
      const model = await tf.loadLayersModel({ load: async () => ({ modelTopology: topology, weightSpecs: specs, weightData: data }) });
      const tx = tf.tensor4d(x, [batch, 3, size, size]).transpose([0, 2, 3, 1]);
      return reading(tf, () => model.predict(tx) as T, [tx], true, () => model.dispose());
    },
    async cnnStep(batch: number, init: CnnInit): Promise<Prepared> {
      await use();
      // Channels-last, with weights transposed from graft's [out, in, kh, kw] to [kh, kw, in, out].
      const x = tf.tensor4d(init.x, [batch, 1, 28, 28]).transpose([0, 2, 3, 1]) as import('@tensorflow/tfjs').Tensor4D;
      const y = tf.oneHot(tf.tensor1d(init.labels, 'int32'), 10);
      const c1 = tf.variable(tf.tensor4d(init.conv1, [8, 1, 3, 3]).transpose([2, 3, 1, 0]) as import('@tensorflow/tfjs').Tensor4D);
      const c2 = tf.variable(tf.tensor4d(init.conv2, [16, 8, 3, 3]).transpose([2, 3, 1, 0]) as import('@tensorflow/tfjs').Tensor4D);
      // graft flattens NCHW; permute the linear weight's rows so channels-last flattening matches.
      const fc = tf.variable(tf.tensor4d(init.fc, [16, 7, 7, 10]).transpose([1, 2, 0, 3]).reshape([784, 10]) as import('@tensorflow/tfjs').Tensor2D);
      const opt = tf.train.sgd(0.1);
      let loss: import('@tensorflow/tfjs').Scalar | null = null;
      return {
        run: async () => {
          loss?.dispose();
          loss = opt.minimize(() => {
            const h1 = tf.maxPool(tf.relu(tf.conv2d(x, c1 as unknown as import('@tensorflow/tfjs').Tensor4D, 1, 'same')), 2, 2, 'valid');
            const h2 = tf.maxPool(tf.relu(tf.conv2d(h1, c2 as unknown as import('@tensorflow/tfjs').Tensor4D, 1, 'same')), 2, 2, 'valid');
            return tf.losses.softmaxCrossEntropy(y, tf.matMul(tf.reshape(h2, [batch, 784]), fc)) as import('@tensorflow/tfjs').Scalar;
          }, true)!;
          await loss.data();
        },
        output: async () => [(await loss!.data())[0]!, ...(await c1.transpose([3, 2, 0, 1]).data())],
        dispose: () => tf.dispose([x, y, c1, c2, fc, ...(loss ? [loss] : [])]),
      };
    },
    async mlpStep(p: MlpParams, init: MlpInit): Promise<Prepared> {
      await use();
      const x = tf.tensor2d(init.x, [p.batch, p.sizes[0]!]);
      const y = tf.oneHot(tf.tensor1d(init.labels, 'int32'), p.sizes[p.sizes.length - 1]!);
      const ws = init.weights.map((w, i) => tf.variable(tf.tensor2d(w, [p.sizes[i]!, p.sizes[i + 1]!])));
      const bs = init.biases.map((b) => tf.variable(tf.tensor1d(b)));
      const opt = tf.train.sgd(0.1);
      let loss: import('@tensorflow/tfjs').Scalar | null = null;
      return {
        run: async () => {
          loss?.dispose();
          loss = opt.minimize(() => {
            let h: import('@tensorflow/tfjs').Tensor2D = x;
            ws.forEach((w, i) => {
              h = tf.add(tf.matMul(h, w), bs[i]!) as import('@tensorflow/tfjs').Tensor2D;
              if (i < ws.length - 1) h = tf.relu(h);
            });
            return tf.losses.softmaxCrossEntropy(y, h) as import('@tensorflow/tfjs').Scalar;
          }, true)!;
          await loss.data();
        },
        output: async () => [(await loss!.data())[0]!, ...(await ws[0]!.data())],
        dispose: () => tf.dispose([x, y, ...ws, ...bs, ...(loss ? [loss] : [])]),
      };
    },
  };
}
