/** @file Elementwise programs on the CPU: one compiled loop per program shape that reads each leaf once per element and writes only the kept values. */
import type { DType, TypedArray } from '../../core/dtype.js';
import { broadcastStrides } from '../../core/shape.js';
import { roundF16 } from '../../core/half.js';
import type { SimdLowering } from '../wasm/expr.js';
import { runSimdProgram } from './exprSimd.js';
import { type Strided, coalesce, forEachRow } from './strided.js';

/** A node's scalar function: (args..., attrs). */
export type ScalarFn = (...args: never[]) => number;

export interface CpuExprNode {
  fn: ScalarFn;
  /** The op's name, part of the compiled loop's identity. */
  op: string;
  attrs: unknown;
  args: readonly number[];
  dtype: DType;
  /** The op as WebAssembly SIMD, where it has an exact vector form (the f32 result a JavaScript run rounds to). */
  simd?: SimdLowering | null;
}

/** out_k[p + i] for i < n; leaf j read at data_j[base_j + i * stride_j]. */
type Loop = (outs: TypedArray[], p: number, n: number, attrs: unknown[], leaves: TypedArray[], bases: number[], strides: number[]) => void;

const compiled = new Map<string, Loop>();
let canCompile = true;

/** Each result is stored as an unfused run would store it, so fusing never changes a value. */
function rounding(dtype: DType, v: string): string {
  switch (dtype) {
    case 'f16': return `R(Math.fround(${v}))`;
    case 'f32': return `Math.fround(${v})`;
    case 'i32': return `(${v}) | 0`;
    default: return v;
  }
}

/**
 * The loop's source: leaf loads into locals, one `const` per node calling its op's function (each
 * a constant of the closure, so V8 inlines it), stores of the outputs. The key is the program's
 * structure; attribute values are passed per call.
 */
function loopFor(nodes: readonly CpuExprNode[], nLeaves: number, outputs: readonly number[]): Loop {
  const key = `${nLeaves}|${nodes.map((n) => `${n.op}:${n.dtype}:${n.args.join(',')}`).join(';')}|${outputs.join(',')}`;
  let loop = compiled.get(key);
  if (loop) return loop;
  const fns = nodes.map((n) => n.fn);
  if (canCompile) {
    const ref = (a: number) => (a < nLeaves ? `l${a}` : `v${a - nLeaves}`);
    const head = [
      ...nodes.map((_, k) => `const f${k} = F[${k}];`),
    ].join('\n');
    const body = [
      ...outputs.map((_, k) => `const o${k} = outs[${k}];`),
      ...nodes.map((_, k) => `const a${k} = attrs[${k}];`),
      ...Array.from({ length: nLeaves }, (_, j) => `const d${j} = leaves[${j}]; const s${j} = strides[${j}]; let b${j} = bases[${j}];`),
      'for (let i = 0; i < n; i++) {',
      ...Array.from({ length: nLeaves }, (_, j) => `  const l${j} = d${j}[b${j}]; b${j} += s${j};`),
      ...nodes.map((nd, k) => `  const v${k} = ${rounding(nd.dtype, `f${k}(${[...nd.args.map(ref), ...(nd.args.length === 1 ? [`a${k}`] : [])].join(', ')})`)};`),
      ...outputs.map((node, k) => `  o${k}[p + i] = ${ref(node)};`),
      '}',
    ].join('\n');
    try {
      loop = new Function('F', 'R', `${head}\nreturn function (outs, p, n, attrs, leaves, bases, strides) {\n${body}\n};`)(fns, roundF16) as Loop;
    } catch {
      canCompile = false;
    }
  }
  // Where a page's content security policy forbids compiling: the same program, interpreted.
  loop ??= (outs, p, n, attrs, leaves, bases, strides) => {
    const vals = new Float64Array(nLeaves + nodes.length);
    const b = bases.slice();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < nLeaves; j++) {
        vals[j] = leaves[j]![b[j]!]!;
        b[j]! += strides[j]!;
      }
      nodes.forEach((nd, k) => {
        const args = nd.args.map((a) => vals[a]!);
        const v = (nd.fn as (...a: unknown[]) => number)(...args, ...(args.length === 1 ? [attrs[k]] : []));
        vals[nLeaves + k] = nd.dtype === 'f32' ? Math.fround(v) : nd.dtype === 'f16' ? roundF16(Math.fround(v)) : nd.dtype === 'i32' ? v | 0 : v;
      });
      outputs.forEach((node, k) => (outs[k]![p + i] = vals[node]!));
    }
  };
  compiled.set(key, loop);
  return loop;
}

/** Runs the program over `shape`: as WebAssembly SIMD where every node has an exact vector form and the data allows, else in JavaScript. */
export function runProgram(shape: readonly number[], leaves: readonly Strided[], nodes: readonly CpuExprNode[], outputs: readonly { node: number; data: TypedArray }[]): void {
  if (nodes.every((n) => n.simd) && runSimdProgram(shape, leaves, nodes as (CpuExprNode & { simd: SimdLowering })[], outputs)) return;
  runJsProgram(shape, leaves, nodes, outputs);
}

/** The JavaScript loops: the reference for every dtype, and the path of ops without an exact vector form. */
export function runJsProgram(shape: readonly number[], leaves: readonly Strided[], nodes: readonly CpuExprNode[], outputs: readonly { node: number; data: TypedArray }[]): void {
  const loop = loopFor(nodes, leaves.length, outputs.map((o) => o.node));
  const outs = outputs.map((o) => o.data);
  const attrs = nodes.map((n) => n.attrs);
  const data = leaves.map((l) => l.data);
  const size = outs[0]!.length;
  const c = coalesce(shape, leaves.map((l) => broadcastStrides(l, shape)));
  const r = c.shape.length;
  if (r <= 1) {
    loop(outs, 0, size, attrs, data, leaves.map((l) => l.offset), c.strides.map((s) => (r ? s[0]! : 0)));
    return;
  }
  const inner = c.strides.map((s) => s[r - 1]!);
  let p = 0;
  forEachRow(c.shape, c.strides, leaves.map((l) => l.offset), (bases, n) => {
    loop(outs, p, n, attrs, data, bases, inner);
    p += n;
  });
}
