/** @file The conformance suite: every primitive of the op table, forward and backward, on every backend. */
import { describe, expect, it } from 'vitest';
import { type Backend, type DType, Generator, OPS, OP_NAMES, type OpName, type Tensor, gradcheck, noGrad, tensor } from '../../index.js';
import type { Node } from '../../engine/autograd.js';
import { expectClose } from '../helpers.js';
import { testBackends } from '../backends.js';
import { type InputSpec, OP_CASES } from './opCases.js';

const BACKENDS = await testBackends();

function values(spec: InputSpec, g: Generator): number[] {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => {
    const u = g.uniform();
    switch (spec.kind ?? 'float') {
      case 'positive': return 0.5 + 1.5 * u;
      case 'nonzero': return (g.uniform() < 0.5 ? -1 : 1) * (0.2 + 0.8 * u);
      case 'int': return Math.floor(u * 5) - 2;
      case 'bool': return u < 0.5 ? 1 : 0;
      case 'index': return Math.floor(u * (spec.high ?? 1));
      default: return 2 * u - 1;
    }
  });
}

function dtypeFor(spec: InputSpec, float: DType): DType {
  return spec.kind === 'bool' ? 'bool' : spec.kind === 'index' ? 'i32' : float;
}

/** The base tensor holding the values, laid out so that `view(base)` has the spec's shape. */
function base(spec: InputSpec, vals: number[], dtype: DType, backend?: Backend): Tensor {
  const s = spec.shape;
  const r = s.length;
  if (spec.layout === 'transposed' && r >= 2) {
    const [a, b] = [s[r - 2]!, s[r - 1]!];
    const t = new Array<number>(vals.length);
    const batch = vals.length / (a * b);
    for (let k = 0; k < batch; k++) for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) t[k * a * b + j * a + i] = vals[k * a * b + i * b + j]!;
    return tensor(t, { shape: [...s.slice(0, -2), b, a], dtype, backend });
  }
  if (spec.layout === 'strided' && r >= 1) {
    const last = s[r - 1]!;
    const t = new Array<number>(vals.length * 2).fill(0);
    vals.forEach((v, i) => (t[Math.floor(i / last) * 2 * last + (i % last) * 2] = v));
    return tensor(t, { shape: [...s.slice(0, -1), 2 * last], dtype, backend });
  }
  return tensor(vals, { shape: s, dtype, backend });
}
function view(spec: InputSpec, t: Tensor): Tensor {
  const r = spec.shape.length;
  if (spec.layout === 'transposed' && r >= 2) return t.transpose(-1, -2);
  if (spec.layout === 'strided' && r >= 1) return t.slice(-1, 0, null, 2);
  return t;
}

/** Ops that ran: kernels seen by the backend plus every node of the output's graph. */
function trace(b: Backend, run: () => Tensor): { out: Tensor; ops: Set<OpName> } {
  const ops = new Set<OpName>();
  const original = b.run;
  b.run = function (this: typeof b, op, ...rest) {
    ops.add(op);
    return original.call(this, op, ...rest);
  } as typeof b.run;
  try {
    const out = run();
    const stack: (Node | null)[] = [out.gradFn];
    const seen = new Set<Node>();
    while (stack.length) {
      const n = stack.pop();
      if (!n || seen.has(n)) continue;
      seen.add(n);
      ops.add(n.op);
      for (const x of n.inputs) stack.push(x.gradFn);
    }
    return { out, ops };
  } finally {
    b.run = original;
  }
}

let seedCounter = 1;

describe('conformance on cpu (the reference)', () => {
  it('has a case for every op, and a gradient case for every differentiable op', () => {
    expect(OP_NAMES.filter((op) => !OP_CASES[op]?.length)).toEqual([]);
    const noGradCase = OP_NAMES.filter((op) => OPS[op].grad && !OP_CASES[op].some((c) => c.grad !== false));
    expect(noGradCase).toEqual([]);
  });

  for (const op of OP_NAMES) {
    for (const c of OP_CASES[op]) {
      const seed = seedCounter++;
      it(`${op}: ${c.name}`, () => {
        const cpu = BACKENDS[0]!;
        const g = new Generator(seed);
        const vals = c.inputs.map((s) => values(s, g));
        const build = (float: DType, layout: boolean, requiresGrad = false) =>
          c.inputs.map((s, i) => {
            const spec = layout ? s : { ...s, layout: 'contiguous' as const };
            const t = base(spec, vals[i]!, dtypeFor(s, float), cpu);
            if (requiresGrad && t.dtype === float) t.requiresGrad = true;
            return { spec, t };
          });

        // The op under test really runs, in the laid-out (non-contiguous) form.
        const laid = build('f64', true, true);
        const { out: y64, ops } = trace(cpu, () => c.run(...laid.map(({ spec, t }) => view(spec, t))));
        expect([...ops], `ops run by '${c.name}'`).toContain(op);

        // Non-contiguous inputs give exactly what contiguous copies give.
        const dense = noGrad(() => c.run(...build('f64', false).map(({ spec, t }) => view(spec, t))));
        expect(y64.shape).toEqual(dense.shape);
        expect(y64.dtype).toEqual(dense.dtype);
        expectClose(y64, dense.dataSync(), dense.shape, 1e-12, 1e-12, 'strided vs contiguous');

        // f32 follows f64 within f32 rounding.
        const y32 = noGrad(() => c.run(...build('f32', true).map(({ spec, t }) => view(spec, t))));
        expect(y32.dtype).toBe(y64.dtype === 'f64' ? 'f32' : y64.dtype);
        expectClose(y32, y64.dataSync(), y64.shape, 1e-5, 1e-5, 'f32 vs f64');

        // Gradients against central differences in f64.
        if (c.grad !== false) {
          const bases = build('f64', true, true);
          const fn = (...xs: Tensor[]) => c.run(...xs.map((t, i) => view(bases[i]!.spec, t)));
          expect(gradcheck(fn, bases.map((b) => b.t), { atol: 1e-6, rtol: 1e-5 })).toBe(true);
        }
      });
    }
  }
});

for (const backend of BACKENDS.slice(1)) {
  describe(`conformance on ${backend.name}: parity with the cpu reference`, () => {
    for (const op of OP_NAMES) {
      for (const c of OP_CASES[op]) {
        const seed = seedCounter++;
        it(`${op}: ${c.name}`, async () => {
          const g = new Generator(seed);
          const vals = c.inputs.map((s) => values(s, g));
          const run = (b: Backend) => {
            const xs = c.inputs.map((s, i) => {
              const t = base(s, vals[i]!, dtypeFor(s, 'f32'), b);
              if (t.dtype === 'f32' && c.grad !== false) t.requiresGrad = true;
              return t;
            });
            const { out, ops } = trace(b, () => c.run(...xs.map((t, i) => view(c.inputs[i]!, t))));
            return { xs, out, ops };
          };
          const ref = run(BACKENDS[0]!);
          const got = run(backend);
          expect([...got.ops], `ops run by '${c.name}' on ${backend.name}`).toContain(op);
          expect(got.out.shape).toEqual(ref.out.shape);
          expect(got.out.dtype).toBe(ref.out.dtype);
          const refOut = ref.out.dataSync();
          const gotOut = await got.out.data();
          expectClose(tensor(gotOut, { shape: got.out.shape, backend: BACKENDS[0]! }), refOut, ref.out.shape, 1e-4, 1e-4, `${backend.name} forward`);
          if (c.grad !== false) {
            const probe = values({ shape: [...ref.out.shape] }, g);
            for (const r of [ref, got]) r.out.mul(tensor(probe, { shape: r.out.shape, backend: r.out.storage.backend })).sum().backward();
            for (let i = 0; i < ref.xs.length; i++) {
              const [rg, gg] = [ref.xs[i]!.grad, got.xs[i]!.grad];
              if (!rg) continue;
              expect(gg, `${backend.name} grad ${i}`).not.toBeNull();
              expectClose(tensor(await gg!.data(), { shape: gg!.shape, backend: BACKENDS[0]! }), rg.dataSync(), rg.shape, 1e-4, 1e-4, `${backend.name} grad ${i}`);
            }
          }
        });
      }
    }
  });
}
