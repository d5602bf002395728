/** @file softmax and logSoftmax along one dimension: one workgroup per line, its maximum and its sum of exponentials by workgroup trees, then the line written. */
import { BUILTINS, type KernelCall, type Operand, grid1d, metaDecl, preludeFor, storageType } from './common.js';
import { linesAlong } from './lines.js';

const WG = 64;

/** out = exp(x - max) / sum(exp(x - max)) along `dim`, or with `log`, (x - max) - log(sum); a NaN makes its line NaN (the maximum keeps it). */
export function softmaxKernel(x: Operand, out: Operand, dim: number, log: boolean): KernelCall {
  const { lines, meta, start } = linesAlong(x, out, dim);
  const T = storageType(x.dtype);
  const tree = (step: string) => `workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    if (lid.x < s) { ${step} }
    workgroupBarrier();
  }`;
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
@group(0) @binding(2) var<storage, read> x: array<${T}>;
${preludeFor('isnan_f32(')}
var<workgroup> sh: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let line = wid.y * nwg.x + wid.x;
  let lines = u32(m(0u));
  // Every invocation reaches the barriers: past the last line the workgroup redoes it and stores nothing.
  let i = min(line, max(lines, 1u) - 1u);
  ${start}
  let len = m(1u);
  var neg_inf_bits = 0xff800000u;
  var mx = bitcast<f32>(neg_inf_bits);
  for (var k = i32(lid.x); k < len; k += ${WG}) {
    let v = f32(x[u32(src + k * m(2u))]);
    if (v > mx || isnan_f32(v)) { mx = v; }
  }
  sh[lid.x] = mx;
  ${tree('let v = sh[lid.x + s]; if (v > sh[lid.x] || isnan_f32(v)) { sh[lid.x] = v; }')}
  mx = sh[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var k = i32(lid.x); k < len; k += ${WG}) { sum += exp(f32(x[u32(src + k * m(2u))]) - mx); }
  sh[lid.x] = sum;
  ${tree('sh[lid.x] = sh[lid.x] + sh[lid.x + s];')}
  let total = sh[0];
  let ls = log(total);
  if (line >= lines) { return; }
  for (var k = i32(lid.x); k < len; k += ${WG}) {
    let v = f32(x[u32(src + k * m(2u))]) - mx;
    out[u32(dst + k * m(3u))] = ${T}(${log ? 'v - ls' : 'exp(v) / total'});
  }
}`;
  return { key: `${log ? 'logSoftmax' : 'softmax'}:${x.dtype}:r${x.shape.length}:d${dim}`, source, meta, grid: grid1d(lines), inputs: [0] };
}
