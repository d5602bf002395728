/** @file The one template behind every elementwise op: broadcast, strided inputs read in-kernel, no copy first. */
import type { DType } from '../../core/dtype.js';
import { broadcastStrides, isContiguous } from '../../core/shape.js';
import { BUILTINS, type KernelCall, type Operand, enableFor, grid1d, linearIndex, load, metaDecl, preludeFor, storageType, store, unravel, valueType } from './common.js';

const WG = 256;
/** Elements per invocation on the dense path, a workgroup's width apart so neighbouring lanes stay on neighbouring addresses. */
const PER = 8;
const NAMES = ['a', 'b', 'c'];

/** Same shape as the output and laid out densely, so a linear index addresses it directly. */
function isDense(o: Operand, shape: readonly number[]): boolean {
  return o.shape.length === shape.length && o.shape.every((d, i) => d === shape[i]) && isContiguous(o.shape, o.strides);
}

/** Expands the op's snippet: `T` for the input value type, `cast(a)` into the output type. */
export function expression(snippet: string, inDtype: DType, outDtype: DType): string {
  const T = valueType(inDtype);
  // `name_T(` picks the helper for the value type (maxn_f32, maxn_i32).
  let e = snippet.replace(/\b(\w+)_T\(/g, `$1_${T}(`).replace(/\bT\(/g, `${T}(`);
  if (e.includes('cast(')) {
    const to = outDtype === 'bool' ? (inDtype === 'bool' ? 'a' : `(a != ${T}(0))`) : outDtype === 'i32' && T === 'f32' ? 'f32_to_i32(a)' : `${valueType(outDtype)}(a)`;
    e = e.replace('cast(a)', to);
  }
  return e;
}

/**
 * out = snippet(inputs) elementwise over out's shape. Inputs broadcast and may have any strides;
 * out may be a strided view too (copy into a view). Numeric attributes travel as f32 bits in meta.
 */
export function elementwiseKernel(
  op: string,
  snippet: string,
  inputs: readonly Operand[],
  out: Operand,
  attrs: Record<string, unknown>,
): KernelCall {
  const shape = out.shape;
  const rank = shape.length;
  const n = shape.reduce((a, b) => a * b, 1);
  const numeric = Object.keys(attrs).filter((k) => typeof attrs[k] === 'number').sort();
  const dense = isDense(out, shape) && inputs.every((x) => isDense(x, shape));
  const expr = expression(snippet, inputs[0]!.dtype, out.dtype);
  const types = inputs.map((x) => x.dtype).join(',');
  const key = `ew:${op}:${expr}:${types}>${out.dtype}:${dense ? 'dense' : `r${rank}`}:${numeric.join(',')}`;

  // meta: [n, (attr bits)..., shape, out strides + offset, each input's strides + offset]
  const f32bits = new Int32Array(new Float32Array(numeric.map((k) => attrs[k] as number)).buffer);
  const attrAt = 1;
  const shapeAt = attrAt + numeric.length;
  const meta: number[] = [n, ...f32bits];
  let body: string;
  if (dense) {
    meta.push(out.offset, ...inputs.map((x) => x.offset));
    const loads = inputs.map((x, k) => `let ${NAMES[k]} = ${load(`in${k}`, x.dtype, `u32(m(${shapeAt + 1 + k}u)) + i`)};`);
    body = `for (var q = 0u; q < ${PER}u; q++) {
    let i = base + q * ${WG}u;
    if (i >= u32(m(0u))) { return; }
    ${loads.join('\n    ')}
    out[u32(m(${shapeAt}u)) + i] = ${store(expr, out.dtype)};
  }`;
  } else {
    meta.push(...shape);
    const sets = [{ name: 'o_out', at: shapeAt + rank }];
    meta.push(...out.strides, out.offset);
    inputs.forEach((x, k) => {
      sets.push({ name: `o_${k}`, at: shapeAt + rank + (k + 1) * (rank + 1) });
      meta.push(...broadcastStrides(x, shape), x.offset);
    });
    const loads = inputs.map((x, k) => `let ${NAMES[k]} = ${load(`in${k}`, x.dtype, `o_${k}`)};`);
    body = `${unravel(rank, shapeAt, sets)}
  ${loads.join('\n  ')}
  out[o_out] = ${store(expr, out.dtype)};`;
  }
  const attrLets = numeric.map((k, i) => `let attr_${k} = bitcast<f32>(m(${attrAt + i}u));`).join('\n  ');
  const source = () => `${enableFor([out.dtype, ...inputs.map((x) => x.dtype)])}${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${storageType(out.dtype)}>;
${inputs.map((x, k) => `@group(0) @binding(${k + 2}) var<storage, read> in${k}: array<${storageType(x.dtype)}>;`).join('\n')}
${preludeFor(`${expr} ${store('', out.dtype)}`)}
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  ${dense ? `let base = (wid.y * nwg.x + wid.x) * ${WG * PER}u + lid.x;` : `let i = ${linearIndex(WG)};
  if (i >= u32(m(0u))) { return; }`}
  ${attrLets}
  ${body}
}`;
  return { key, source, meta, grid: grid1d(Math.ceil(n / (dense ? WG * PER : WG))), inputs: inputs.map((_, k) => k) };
}
