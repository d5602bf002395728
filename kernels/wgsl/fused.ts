/** @file One kernel for a recorded chain of elementwise ops over dense tensors of one size: each op a WGSL function, intermediates in registers. */
import type { DType } from '../../core/dtype.js';
import { type KernelCall, enableFor, grid1d, load, metaDecl, preludeFor, storageType, store, valueType } from './common.js';
import { expression } from './elementwise.js';

/**
 * An operand of a fused op: a buffer read per element (or once, when it holds one value), a
 * constant known to the host (passed in meta, no binding), or an earlier op's result.
 */
export type FusedRef = { leaf: number } | { node: number } | { constant: number; dtype: DType };

export interface FusedLeaf {
  dtype: DType;
  /** 'dense': laid out like the output; 'scalar': one element read once; 'strided': any view broadcast to the output. */
  kind: 'dense' | 'scalar' | 'strided';
  offset: number;
  /** For 'strided': the element step per output dimension (0 where broadcast). */
  strides?: readonly number[];
  /** Read through the binding of stored output number `output` (a buffer written in place: WebGPU binds a buffer once per dispatch). */
  output?: number;
}

export interface FusedNode {
  op: string;
  snippet: string;
  inputs: FusedRef[];
  inDtypes: DType[];
  dtype: DType;
  /** Numeric attributes, passed to the op's function as f32 (sorted by name). */
  attrs: [string, number][];
  /** Whether the result is written to its buffer (false for intermediates already dropped). */
  store: boolean;
}

const WG = 256;
const PER = 8;

/**
 * The fused kernel. Bindings: meta, then the stored nodes' outputs in node order, then the leaves.
 * meta: n, each leaf's offset, the constants' bits, then every node's attribute bits.
 */
export function fusedKernel(leaves: FusedLeaf[], nodes: FusedNode[], shape: readonly number[], constants: number[]): KernelCall {
  const n = shape.reduce((a, b) => a * b, 1);
  const rank = shape.length;
  const exprs = nodes.map((d) => expression(d.snippet, d.inDtypes[0]!, d.dtype));
  const fnKey = (k: number) => `${nodes[k]!.op}|${exprs[k]}|${nodes[k]!.inDtypes.join(',')}>${nodes[k]!.dtype}|${nodes[k]!.attrs.map(([a]) => a).join(',')}`;
  // One WGSL function per distinct op signature, named after the first node that uses it.
  const fns = new Map<string, { name: string; first: number }>();
  nodes.forEach((_, k) => fns.has(fnKey(k)) || fns.set(fnKey(k), { name: `op${fns.size}`, first: k }));
  const fnName = (k: number) => fns.get(fnKey(k))!.name;
  const constAt = 1 + leaves.length;
  const ref = (r: FusedRef) => {
    if ('leaf' in r) return `l${r.leaf}`;
    if ('node' in r) return `v${r.node}`;
    const bits = `m(${constAt + r.constant}u)`;
    return valueType(r.dtype) === 'f32' ? `bitcast<f32>(${bits})` : r.dtype === 'i32' ? bits : `(${bits} != 0)`;
  };
  const stored = nodes.map((d, k) => [d, k] as const).filter(([d]) => d.store);
  const key = `fused:r${rank}:${leaves.map((l) => `${l.dtype}${l.kind[0]}${l.output ?? ''}`).join(',')}:${nodes.map((d, k) => `${fnName(k)}(${d.inputs.map(ref).join(',')})${d.store ? '!' : ''}`).join(';')}:${[...fns.keys()].join(';')}`;
  const attrAt = constAt + constants.length;
  const attrIndex: number[] = [];
  const attrBits: number[] = [];
  for (const d of nodes) {
    attrIndex.push(attrAt + attrBits.length);
    attrBits.push(...new Int32Array(new Float32Array(d.attrs.map(([, v]) => v)).buffer));
  }
  const shapeAt = attrAt + attrBits.length;
  const strided = leaves.map((l, j) => [l, j] as const).filter(([l]) => l.kind === 'strided');
  const meta = [n, ...leaves.map((l) => l.offset), ...constants, ...attrBits, ...shape, ...strided.flatMap(([l]) => l.strides!)];
  // Strided leaves: the output coordinates of element i, then each leaf's offset from its strides.
  const coords = strided.length
    ? [`var rem = i;`, ...Array.from({ length: rank }, (_, k) => rank - 1 - k).map((d) => `let c${d} = i32(rem % u32(m(${shapeAt + d}u))); rem = rem / u32(m(${shapeAt + d}u));`)]
    : [];
  const stridedAt = (q: number, d: number) => shapeAt + rank + q * rank + d;

  const source = () => {
    const decls = [...fns.values()].map(({ name, first }) => {
      const d = nodes[first]!;
      const params = [...d.inDtypes.map((t, p) => `${'abc'[p]}: ${valueType(t)}`), ...d.attrs.map(([a]) => `attr_${a}: f32`)];
      // An op whose dtype is f16 computes in f32 and rounds, as the stored value would be.
      return `fn ${name}(${params.join(', ')}) -> ${valueType(d.dtype)} { return ${d.dtype === 'f16' ? `round_f16(${exprs[first]})` : exprs[first]}; }`;
    });
    const outs = stored.map(([d], j) => `@group(0) @binding(${j + 1}) var<storage, read_write> o${j}: array<${storageType(d.dtype)}>;`);
    const bound = leaves.map((l, j) => [l, j] as const).filter(([l]) => l.output === undefined);
    const ins = bound.map(([l, j], b) => `@group(0) @binding(${stored.length + b + 1}) var<storage, read> in${j}: array<${storageType(l.dtype)}>;`);
    const arr = (j: number) => (leaves[j]!.output === undefined ? `in${j}` : `o${leaves[j]!.output}`);
    const scalarLoads = leaves.flatMap((l, j) => (l.kind === 'scalar' ? [`let l${j} = ${load(arr(j), l.dtype, `u32(m(${1 + j}u))`)};`] : []));
    const elemLoads = leaves.flatMap((l, j) => {
      if (l.kind === 'dense') return [`let l${j} = ${load(arr(j), l.dtype, `u32(m(${1 + j}u)) + i`)};`];
      if (l.kind === 'scalar') return [];
      const q = strided.findIndex(([, k]) => k === j);
      const at = Array.from({ length: rank }, (_, d) => `c${d} * m(${stridedAt(q, d)}u)`).join(' + ');
      return [`let l${j} = ${load(arr(j), l.dtype, `u32(m(${1 + j}u) + ${at || '0'})`)};`];
    });
    const body = nodes.map((d, k) => {
      const args = [...d.inputs.map(ref), ...d.attrs.map((_, a) => `bitcast<f32>(m(${attrIndex[k]! + a}u))`)];
      return `let v${k} = ${fnName(k)}(${args.join(', ')});`;
    });
    const stores = stored.map(([d, k], j) => `o${j}[i] = ${store(`v${k}`, d.dtype)};`);
    const dtypes = [...leaves.map((l) => l.dtype), ...nodes.map((d) => d.dtype)];
    return `${enableFor(dtypes)}${metaDecl(meta.length)}
${outs.join('\n')}
${ins.join('\n')}
${preludeFor(`${exprs.join(' ')} ${dtypes.includes('f16') ? 'round_f16( to_f16(' : ''}`)}
${decls.join('\n')}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let base = (wid.y * nwg.x + wid.x) * ${WG * PER}u + lid.x;
  ${scalarLoads.join('\n  ')}
  for (var q = 0u; q < ${PER}u; q++) {
    let i = base + q * ${WG}u;
    if (i >= u32(m(0u))) { return; }
    ${coords.join('\n    ')}
    ${elemLoads.join('\n    ')}
    ${body.join('\n    ')}
    ${stores.join('\n    ')}
  }
}`;
  };
  return { key, source, meta, grid: grid1d(Math.ceil(n / (WG * PER))), inputs: leaves.filter((l) => l.output === undefined).map((_, j) => j), outputs: stored.length };
}
