/** @file Reductions (sum, mean, max, argmax): one workgroup per output, strided loads, a workgroup tree. */
import { BUILTINS, type KernelCall, type Operand, grid1d, metaDecl, preludeFor, storageType, unravel } from './common.js';

const WG = 64;

export type ReduceKind = 'sum' | 'mean' | 'max' | 'argmax';

/**
 * With `subgroups` (the adapter's feature), sums first combine within each subgroup, leaving one
 * partial per subgroup for the workgroup step; max and argmax keep the tree for PyTorch's NaN rule.
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
  const isArg = kind === 'argmax';
  // -inf through a var: as a constant expression WGSL rejects it.
  const lowest = T === 'f32' ? 'bitcast<f32>(neg_inf_bits)' : 'i32(-2147483647 - 1)';
  const init = kind === 'max' || isArg ? lowest : `${T}(0)`;
  // NaN wins max and argmax, as in PyTorch; ties keep the first index.
  const better = (v: string, bv: string, i: string, bi: string) =>
    T === 'f32' ? `(${v} > ${bv} || (isnan_f32(${v}) && !isnan_f32(${bv})) || ((${v} == ${bv} || (isnan_f32(${v}) && isnan_f32(${bv}))) && ${i} < ${bi}))` : `(${v} > ${bv} || (${v} == ${bv} && ${i} < ${bi}))`;
  const combine = isArg || kind === 'max'
    ? `if (${better('v', 'acc', 'r', 'acc_i')}) { acc = v; acc_i = r; }`
    : 'acc = acc + v;';
  const treeStep = isArg || kind === 'max'
    ? `let v = sh_v[lid.x + s]; let r = sh_i[lid.x + s]; let acc = sh_v[lid.x]; let acc_i = sh_i[lid.x];
      if (${better('v', 'acc', 'r', 'acc_i')}) { sh_v[lid.x] = v; sh_i[lid.x] = r; }`
    : 'sh_v[lid.x] = sh_v[lid.x] + sh_v[lid.x + s];';
  const result = isArg ? 'i32(sh_i[0])' : kind === 'mean' ? `sh_v[0] / ${T}(run)` : 'sh_v[0]';
  const outT = storageType(out.dtype);
  const useSubgroups = subgroups && (kind === 'sum' || kind === 'mean');
  const key = `reduce:${kind}:${x.dtype}:${rk}:${rr}${useSubgroups ? ':sg' : ''}`;
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
var<workgroup> sh_v: array<${T}, ${WG}>;
var<workgroup> sh_i: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}${useSubgroups ? ', @builtin(subgroup_invocation_id) sg_id: u32, @builtin(subgroup_size) sg_size: u32' : ''}) {
  let o = wid.y * nwg.x + wid.x;
  let n_out = u32(m(0u));
  let run = u32(m(1u));
  let i = min(o, max(n_out, 1u) - 1u);
  ${unravel(rk, keptShapeAt, [{ name: 'base', at: keptStridesAt }])}
  var neg_inf_bits = 0xff800000u;
  var acc: ${T} = ${init};
  var acc_i: u32 = 0xffffffffu;
  for (var r = lid.x; r < run; r += ${WG}u) {
    ${unravel(rr, redShapeAt, [{ name: 'ro', at: redStridesAt }], 'r').replace('var rem', 'var rem_r').replace(/\brem\b/g, 'rem_r')}
    let v = x[base + ro];
    ${combine}
  }
  ${workgroupStep}
  if (lid.x == 0u && o < n_out) { out[o] = ${outT === 'i32' && isArg ? result : `${outT}(${result})`}; }
}`;
  return { key, source, meta, grid: grid1d(nOut), inputs: [0] };
}
