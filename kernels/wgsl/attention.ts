/** @file Attention in one WGSL kernel: each workgroup takes 64 query rows of one (batch, head), streams key and value tiles through workgroup memory and keeps a running softmax per row (flash attention's forward). */
import { F32_LOWEST } from '../../core/dtype.js';
import { BUILTINS, type KernelCall, type Operand, grid1d, metaDecl } from './common.js';

const WG = 64;
/** Largest query or value width the kernel keeps in registers. */
export const ATTENTION_MAX_FEATURES = 256;

/** Keys per tile: the K and V tiles together fit in 12 KiB of workgroup memory. */
function tileRows(e: number, ev: number): number {
  return Math.max(1, Math.min(64, Math.floor(3072 / (e + ev))));
}

/** meta: B*H, H, L, S | q strides b,h,l,e, offset | k ... | v ... | mask ... */
export function attentionKernel(q: Operand, k: Operand, v: Operand, mask: Operand | undefined, out: Operand, scale: number, causal: boolean): KernelCall {
  const [b, h, l, e] = q.shape as [number, number, number, number];
  const s = k.shape[2]!;
  const ev = v.shape[3]!;
  const t = tileRows(e, ev);
  const view = (x: Operand | undefined) => (x ? [...x.strides, x.offset] : [0, 0, 0, 0, 0]);
  const meta = [b * h, h, l, s, ...view(q), ...view(k), ...view(v), ...view(mask)];
  const rowTiles = Math.ceil(l / WG);
  const at = (x: number, d: number) => `m(${4 + x * 5 + d}u)`;
  const base = (x: number) => `${at(x, 4)} + i32(bi) * ${at(x, 0)} + i32(hi) * ${at(x, 1)}`;
  // Rows of four features at a time where the widths allow: vec4 loads and dot products.
  const w = e % 4 === 0 && ev % 4 === 0 ? 4 : 1;
  const V4 = w === 4 ? 'vec4<f32>' : 'f32';
  const [e4, ev4] = [e / w, ev / w];
  const gatherRow = (arr: string, x: number, row: string, col: string) =>
    w === 4
      ? `vec4<f32>(${[0, 1, 2, 3].map((d) => `${arr}[u32(${base(x)} + i32(${row}) * ${at(x, 2)} + i32(${col} * 4u + ${d}u) * ${at(x, 3)})]`).join(', ')})`
      : `${arr}[u32(${base(x)} + i32(${row}) * ${at(x, 2)} + i32(${col}) * ${at(x, 3)})]`;
  const dot = w === 4 ? 'dot(qv[c], kt[r * E4 + c])' : 'qv[c] * kt[r * E4 + c]';
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;
@group(0) @binding(4) var<storage, read> V: array<f32>;
${mask ? '@group(0) @binding(5) var<storage, read> M: array<f32>;' : ''}
var<workgroup> kt: array<${V4}, ${t * e4}>;
var<workgroup> vt: array<${V4}, ${t * ev4}>;
const E4 = ${e4}u;
const EV4 = ${ev4}u;
@compute @workgroup_size(${WG})
fn main(${BUILTINS}) {
  let group = wid.y * nwg.x + wid.x;
  let bh = group / ${rowTiles}u;
  if (bh >= u32(m(0u))) { return; }
  let bi = bh / u32(m(1u));
  let hi = bh % u32(m(1u));
  let row0 = (group % ${rowTiles}u) * ${WG}u;
  let i = row0 + lid.x;
  let L = u32(m(2u));
  let S = u32(m(3u));
  let live = i < L;
  let mb = ${base(3)};
  var qv: array<${V4}, ${e4}>;
  var acc: array<${V4}, ${ev4}>;
  if (live) {
    for (var c = 0u; c < E4; c++) { qv[c] = ${gatherRow('Q', 0, 'i', 'c')}; }
  }
  var mx = ${F32_LOWEST};
  var first = true;
  var sum = 0.0;
  // Keys past the workgroup's last row are never needed under a causal mask.
  let keys = ${causal ? 'min(S, min(L, row0 + ' + WG + 'u))' : 'S'};
  for (var j0 = 0u; j0 < keys; j0 += ${t}u) {
    let n = min(${t}u, keys - j0);
    for (var x = lid.x; x < n * E4; x += ${WG}u) {
      let r = x / E4;
      let c = x % E4;
      kt[x] = ${gatherRow('K', 1, 'j0 + r', 'c')};
    }
    for (var x = lid.x; x < n * EV4; x += ${WG}u) {
      let r = x / EV4;
      let c = x % EV4;
      vt[x] = ${gatherRow('V', 2, 'j0 + r', 'c')};
    }
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < n; r++) {
        let j = j0 + r;
        ${causal ? 'if (j > i) { break; }' : ''}
        var d = 0.0;
        for (var c = 0u; c < E4; c++) { d += ${dot}; }
        var score = d * ${scale.toPrecision(9)};
        ${mask ? `score += M[u32(mb + i32(i) * ${at(3, 2)} + i32(j) * ${at(3, 3)})];
        if (score < ${F32_LOWEST}) { continue; }` : ''}
        var wt = 1.0;
        if (first || score > mx) {
          let shrink = select(exp(mx - score), 0.0, first);
          sum *= shrink;
          for (var c = 0u; c < EV4; c++) { acc[c] *= shrink; }
          mx = score;
          first = false;
        } else {
          wt = exp(score - mx);
        }
        sum += wt;
        for (var c = 0u; c < EV4; c++) { acc[c] += wt * vt[r * EV4 + c]; }
      }
    }
    workgroupBarrier();
  }
  if (live) {
    let o = (bh * L + i) * ${ev}u;
    var nan_bits = 0x7fc00000u; // a var: a NaN constant expression is rejected
    for (var c = 0u; c < EV4; c++) {
      let y = acc[c] / sum;
      ${w === 4 ? 'for (var dd = 0u; dd < 4u; dd++) { out[o + c * 4u + dd] = select(y[dd], bitcast<f32>(nan_bits), sum == 0.0); }' : 'out[o + c] = select(y, bitcast<f32>(nan_bits), sum == 0.0);'}
    }
  }
}`;
  const inputs = mask ? [0, 1, 2, 3] : [0, 1, 2];
  return { key: `attention:e${e}:v${ev}:t${t}:w${w}:${mask ? 'm' : ''}${causal ? 'c' : ''}:${scale}`, source, meta, grid: grid1d(b * h * rowTiles), inputs };
}
