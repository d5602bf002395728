/** @file jax-js on its wasm and webgpu devices (jit-compiled training step). */
import type { Impl, MlpInit, MlpParams, MatmulParams, Prepared } from '../types.js';
import { installNavigatorGpu } from './gpu.js';

type Jax = typeof import('@jax-js/jax');
type JArray = import('@jax-js/jax').Array;
let jaxP: Promise<Jax> | null = null;

export function jaxImpl(device: 'wasm' | 'webgpu'): Impl {
  let jax: Jax;
  return {
    name: `jax-js-${device}`,
    async available() {
      try {
        if (device === 'webgpu') {
          const why = await installNavigatorGpu();
          if (why) return why;
        }
        jaxP ??= import('@jax-js/jax');
        jax = await jaxP;
        const devices = await jax.init(device);
        if (!devices.includes(device)) return `jax-js could not start its ${device} device`;
        return null;
      } catch (e) {
        return `jax-js ${device}: ${(e as Error).message}`;
      }
    },
    async matmul(p: MatmulParams, a: Float32Array, b: Float32Array): Promise<Prepared> {
      jax.defaultDevice(device);
      const np = jax.numpy;
      const ja = np.array(a, { shape: [p.m, p.k] });
      const jb = np.array(b, { shape: [p.k, p.n] });
      let out: Float32Array | null = null;
      return {
        run: async () => {
          const c = np.matmul(ja.ref, jb.ref);
          out = (await c.data()) as Float32Array; // data() consumes the array
        },
        output: async () => out!,
        dispose: () => {
          ja.dispose();
          jb.dispose();
        },
      };
    },
    async mlpStep(p: MlpParams, init: MlpInit): Promise<Prepared> {
      jax.defaultDevice(device);
      const np = jax.numpy;
      const n = p.batch;
      const C = p.sizes[p.sizes.length - 1]!;
      const onehot = new Float32Array(n * C);
      init.labels.forEach((l, i) => (onehot[i * C + l] = 1));
      const x = np.array(init.x, { shape: [n, p.sizes[0]!] });
      const y = np.array(onehot, { shape: [n, C] });
      type Params = { w: JArray[]; b: JArray[] };
      let params: Params = {
        w: init.weights.map((w, i) => np.array(w, { shape: [p.sizes[i]!, p.sizes[i + 1]!] })),
        b: init.biases.map((b) => np.array(b)),
      };
      const lossFn = (ps: Params, xs: JArray, ys: JArray): JArray => {
        let h = xs;
        ps.w.forEach((w, i) => {
          h = np.matmul(h, w).add(ps.b[i]!);
          if (i < ps.w.length - 1) h = jax.nn.relu(h);
        });
        return jax.nn.logSoftmax(h, -1).mul(ys).sum().mul(-1 / n);
      };
      const step = jax.jit((ps: Params, xs: JArray, ys: JArray) => {
        const [loss, g] = jax.valueAndGrad(lossFn)(jax.tree.ref(ps), xs, ys) as unknown as [JArray, Params];
        const next: Params = {
          w: ps.w.map((w, i) => w.sub(g.w[i]!.mul(0.1))),
          b: ps.b.map((b, i) => b.sub(g.b[i]!.mul(0.1))),
        };
        return [loss, next] as [JArray, Params];
      });
      let loss = 0;
      return {
        run: async () => {
          const [l, next] = step(jax.tree.ref(params), x.ref, y.ref) as unknown as [JArray, Params];
          jax.tree.dispose(params);
          params = next;
          loss = (await l.data())[0]!; // data() consumes the array
        },
        output: async () => [loss, ...((await params.w[0]!.ref.data()) as Float32Array)],
        dispose: () => {
          jax.tree.dispose(params);
          x.dispose();
          y.dispose();
        },
      };
    },
  };
}
