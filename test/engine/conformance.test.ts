/** @file The conformance suite: every primitive of the op table, forward and backward, on every backend. */
import { describe, expect, it } from 'vitest';
import { type DType, GRADS, Generator, OP_NAMES, type Tensor, gradcheck, noGrad } from '../../index.js';
import { expectClose, expectSameCase } from '../helpers.js';
import { testBackends } from '../backends.js';
import { OP_CASES } from './opCases.js';
import { base, dtypeFor, runCase, trace, values, view } from './opInputs.js';

const BACKENDS = await testBackends();
/** Backends that hold f16 tensors (WebGPU needs shader-f16; without it f16 is refused, tested in webgpu.test.ts). */
const f16On = (b: (typeof BACKENDS)[number]) => !('f16' in b) || (b as { f16: boolean }).f16;

let seedCounter = 1;
/** The ops whose WebGPU kernels depend on the tuned matmul variant, and the variants. */
const VARIANT_OPS = new Set(['matmul', 'conv2d']);
const MATMUL_VARIANTS = ['tiled', 'register', 'wide'];
/** Tolerance of f16 results against f32 on the same inputs: a few steps of f16's 2^-11 relative rounding. */
const F16_TOL = 1e-2;
/** Tolerance of one backend's f16 results against the reference's: both compute in f32 and round, so a rounding step at most. */
const F16_PARITY = 2e-3;

describe('conformance on cpu (the reference)', () => {
  it('has a case for every op, and a gradient case for every differentiable op', () => {
    expect(OP_NAMES.filter((op) => !OP_CASES[op]?.length)).toEqual([]);
    const noGradCase = OP_NAMES.filter((op) => GRADS[op] && !OP_CASES[op].some((c) => c.grad !== false));
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

        // f16 (every op computes in f32 and rounds its result) follows f32 run on the same
        // f16-rounded inputs within a few f16 steps.
        const y16 = noGrad(() => c.run(...build('f16', true).map(({ spec, t }) => view(spec, t))));
        const on16 = noGrad(() => c.run(...build('f16', true).map(({ spec, t }) => view(spec, t.dtype === 'f16' ? t.float() : t))));
        expect(y16.dtype).toBe(y64.dtype === 'f64' ? 'f16' : y64.dtype);
        expectClose(y16, on16.dataSync(), on16.shape, F16_TOL, F16_TOL, 'f16 vs f32 on f16 inputs');

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
          const ref = await runCase(c, seed, BACKENDS[0]!);
          const got = await runCase(c, seed, backend);
          expect(got.ops, `ops run by '${c.name}' on ${backend.name}`).toContain(op);
          expectSameCase(got, ref, backend.name);
        });
        if (f16On(backend)) {
          it(`${op}: ${c.name} in f16`, async () => {
            const ref = await runCase(c, seed, BACKENDS[0]!, 'f16');
            const got = await runCase(c, seed, backend, 'f16');
            expectSameCase(got, ref, `${backend.name} f16`, F16_PARITY);
          });
        }
        // Every kernel variant the autotuner may pick, forced in turn, in f32 and f16: none reaches a GPU untested.
        const caps = (backend as { caps?: { matmul: string } }).caps;
        if (caps && VARIANT_OPS.has(op)) {
          for (const variant of MATMUL_VARIANTS) {
            it(`${op}: ${c.name} with the ${variant} kernels`, async () => {
              const chosen = caps.matmul;
              caps.matmul = variant;
              try {
                for (const float of f16On(backend) ? (['f32', 'f16'] as const) : (['f32'] as const)) {
                  const ref = await runCase(c, seed, BACKENDS[0]!, float);
                  const got = await runCase(c, seed, backend, float);
                  expectSameCase(got, ref, `${backend.name} ${variant} ${float}`, float === 'f16' ? F16_PARITY : 1e-4);
                }
              } finally {
                caps.matmul = chosen;
              }
            });
          }
        }
      }
    }
  });
}
