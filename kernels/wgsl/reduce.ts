/** @file Reductions (sum, mean, max, argmax): one workgroup per output, strided loads, a workgroup tree. */
import { BUILTINS, type KernelCall, type Operand, grid1d, metaDecl, preludeFor, storageType, unravel } from './common.js';
import type { ReduceKind } from '../../core/params.js';
import { ERROR_BINDING, reportError } from './errors.js';

const WG = 64;

/**
 * With `subgroups` (the adapter's feature), sums first combine within each subgroup, leaving one
 * partial per subgroup for the workgroup step; max and argmax keep the tree for PyTorch's NaN rule.
 * i32 sums run in 64 bits (a pair of u32 words) and report a total outside i32 through the error
 * record, as the CPU refuses it: partial sums may leave i32 when the total does not.
 */
export function reduceKernel(kind: ReduceKind, x: Operand, dims: readonly number[], out: Operand, subgroups = false): KernelCall {
  const kept = x.shape.map((_, i) => i).filter((d) => !dims.includes(d));
  const rk = kept.length;
  const rr = dims.length;
  const nOut = out.shape.reduce((a, b) => a * b, 1);
  const run = dims.reduce((p, d) => p * x.shape[d]!, 1);
  const keptShapeAt = 2;
  const keptStridesAt = keptShapeAt + rk;
  const redShapeAt = keptStridesAt + rk + 1;
  const redStridesAt = redShapeAt + rr;
  const meta = [
    nOut, run,
    ...kept.map((d) => x.shape[d]!), ...kept.map((d) => x.strides[d]!), x.offset,
    ...dims.map((d) => x.shape[d]!), ...dims.map((d) => x.strides[d]!), 0,
  ];
  const T = storageType(x.dtype);
  const wide = kind === 'sum' && T === 'i32';
  // The error slot, written by the backend per dispatch.
  const slotAt = wide ? meta.push(0) - 1 : -1;
  const accT = wide ? 'vec2<u32>' : T;
  const isArg = kind === 'argmax';
  // -inf through a var: as a constant expression WGSL rejects it.
  const lowest = T === 'f32' ? 'bitcast<f32>(neg_inf_bits)' : 'i32(-2147483647 - 1)';
  const init = kind === 'max' || isArg ? lowest : `${accT}(0)`;
  // NaN wins max and argmax, as in PyTorch; ties keep the first index.
  const better = (v: string, bv: string, i: string, bi: string) =>
    T === 'f32' ? `(${v} > ${bv} || (isnan_f32(${v}) && !isnan_f32(${bv})) || ((${v} == ${bv} || (isnan_f32(${v}) && isnan_f32(${bv}))) && ${i} < ${bi}))` : `(${v} > ${bv} || (${v} == ${bv} && ${i} < ${bi}))`;
  const combine = isArg || kind === 'max'
    ? `if (${better('v', 'acc', 'r', 'acc_i')}) { acc = v; acc_i = r; }`
    : wide ? 'acc = add64(acc, vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0)));' : 'acc = acc + v;';
  const treeStep = isArg || kind === 'max'
    ? `let v = sh_v[lid.x + s]; let r = sh_i[lid.x + s]; let acc = sh_v[lid.x]; let acc_i = sh_i[lid.x];
      if (${better('v', 'acc', 'r', 'acc_i')}) { sh_v[lid.x] = v; sh_i[lid.x] = r; }`
    : wide ? 'sh_v[lid.x] = add64(sh_v[lid.x], sh_v[lid.x + s]);' : 'sh_v[lid.x] = sh_v[lid.x] + sh_v[lid.x + s];';
  const result = isArg ? 'i32(sh_i[0])' : kind === 'mean' ? `sh_v[0] / ${T}(run)` : wide ? 'bitcast<i32>(sh_v[0].x)' : 'sh_v[0]';
  // The total fits in i32 when its high word is the sign extension of the low one.
  const checkResult = wide
    ? `let total = sh_v[0];
    if (total.y != select(0u, 0xffffffffu, bitcast<i32>(total.x) < 0)) {
      ${reportError('sum', slotAt, 'total.x', 'total.y')}
    }`
    : '';
  const outT = storageType(out.dtype);
  const useSubgroups = subgroups && !wide && (kind === 'sum' || kind === 'mean');
  const key = `reduce:${kind}:${x.dtype}:${rk}:${rr}${useSubgroups ? ':sg' : ''}`;
  const add64 = wide
    ? `fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
${ERROR_BINDING}`
    : '';
  const workgroupStep = useSubgroups
    ? `let part = subgroupAdd(acc);
  if (sg_id == 0u) { sh_v[lid.x / sg_size] = part; }
  workgroupBarrier();
  if (lid.x == 0u) {
    var total: ${T} = ${T}(0);
    for (var s = 0u; s < (${WG}u + sg_size - 1u) / sg_size; s++) { total = total + sh_v[s]; }
    sh_v[0] = total;
  }`
    : `sh_v[lid.x] = acc;
  sh_i[lid.x] = acc_i;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    if (lid.x < s) {
      ${treeStep}
    }
    workgroupBarrier();
  }`;
  const source = () => `${useSubgroups ? 'enable subgroups;\n' : ''}${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${outT}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
${preludeFor(combine + treeStep)}
${add64}
var<workgroup> sh_v: array<${accT}, ${WG}>;
var<workgroup> sh_i: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}${useSubgroups ? ', @builtin(subgroup_invocation_id) sg_id: u32, @builtin(subgroup_size) sg_size: u32' : ''}) {
  let o = wid.y * nwg.x + wid.x;
  let n_out = u32(m(0u));
  let run = u32(m(1u));
  let i = min(o, max(n_out, 1u) - 1u);
  ${unravel(rk, keptShapeAt, [{ name: 'base', at: keptStridesAt }])}
  var neg_inf_bits = 0xff800000u;
  var acc: ${accT} = ${init};
  var acc_i: u32 = 0xffffffffu;
  for (var r = lid.x; r < run; r += ${WG}u) {
    ${unravel(rr, redShapeAt, [{ name: 'ro', at: redStridesAt }], 'r').replace('var rem', 'var rem_r').replace(/\brem\b/g, 'rem_r')}
    let v = x[base + ro];
    ${combine}
  }
  ${workgroupStep}
  if (lid.x == 0u && o < n_out) {
    ${checkResult}
    out[o] = ${outT === 'i32' && isArg ? result : `${outT}(${result})`};
  }
}`;
  return { key, source, meta, grid: grid1d(nOut), inputs: [0], errors: wide };
}
