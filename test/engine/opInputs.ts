/** @file How conformance cases get their inputs (seeded values in contiguous, transposed or strided layouts) and which ops they ran; shared by Node and the browser page. */
import { type Backend, type DType, Generator, OP_NAMES, type OpName, type Tensor, tensor } from '../../index.js';
import type { Node } from '../../engine/autograd.js';
import { type InputSpec, type OpCase, OP_CASES } from './opCases.js';

export function values(spec: InputSpec, g: Generator): number[] {
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

export function dtypeFor(spec: InputSpec, float: DType): DType {
  return spec.kind === 'bool' ? 'bool' : spec.kind === 'index' ? 'i32' : float;
}

/** The base tensor holding the values, laid out so that `view(base)` has the spec's shape. */
export function base(spec: InputSpec, vals: number[], dtype: DType, backend?: Backend): Tensor {
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
export function view(spec: InputSpec, t: Tensor): Tensor {
  const r = spec.shape.length;
  if (spec.layout === 'transposed' && r >= 2) return t.transpose(-1, -2);
  if (spec.layout === 'strided' && r >= 1) return t.slice(-1, 0, null, 2);
  return t;
}

/** Ops that ran: kernels and elementwise programs seen by the backend plus every node of the output's graph. */
export function trace(b: Backend, run: () => Tensor): { out: Tensor; ops: Set<OpName> } {
  const ops = new Set<OpName>();
  const original = b.run;
  const originalExpr = b.runExpr;
  b.run = function (this: typeof b, op, ...rest) {
    ops.add(op);
    return original.call(this, op, ...rest);
  } as typeof b.run;
  if (originalExpr) {
    b.runExpr = function (this: typeof b, program) {
      for (const n of program.nodes) ops.add(n.op);
      return originalExpr.call(this, program);
    };
  }
  try {
    const out = run();
    void out.storage.buffer; // a recorded expression runs when its buffer is needed
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
    if (originalExpr) b.runExpr = originalExpr;
  }
}

/** What one case computed on one backend: the output and, for differentiable cases, input gradients. */
export interface CaseResult {
  shape: number[];
  dtype: DType;
  out: number[];
  grads: (number[] | null)[];
  ops: OpName[];
}

/**
 * Runs case `c` on backend `b` with float inputs (f32 unless given) drawn from `seed`; the backward pass starts from a
 * seeded random cotangent, so every element of every gradient is checked.
 */
export async function runCase(c: OpCase, seed: number, b: Backend, float: DType = 'f32'): Promise<CaseResult> {
  const g = new Generator(seed);
  const vals = c.inputs.map((s) => values(s, g));
  const xs = c.inputs.map((s, i) => {
    const t = base(s, vals[i]!, dtypeFor(s, float), b);
    if (t.dtype === float && c.grad !== false) t.requiresGrad = true;
    return t;
  });
  const { out, ops } = trace(b, () => c.run(...xs.map((t, i) => view(c.inputs[i]!, t))));
  const result: CaseResult = { shape: [...out.shape], dtype: out.dtype, out: Array.from(await out.data()), grads: [], ops: [...ops] };
  if (c.grad !== false) {
    const probe = values({ shape: [...out.shape] }, g);
    out.mul(tensor(probe, { shape: out.shape, backend: b })).sum().backward();
    result.grads = await Promise.all(xs.map(async (x) => (x.grad ? Array.from(await x.grad.data()) : null)));
  }
  return result;
}

/** Every case of the table with a stable seed, in table order. */
export function allCases(): { op: OpName; c: OpCase; seed: number }[] {
  return OP_NAMES.flatMap((op) => OP_CASES[op].map((c) => ({ op, c }))).map((x, i) => ({ ...x, seed: 10_000 + i }));
}
