/** @file Attention in one WGSL kernel: each workgroup takes 64 query rows of one (batch, head), streams key and value tiles through workgroup memory and keeps a running softmax per row (flash attention's forward). */
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
  const source = () => `${metaDecl(meta.length)}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;
@group(0) @binding(4) var<storage, read> V: array<f32>;
${mask ? '@group(0) @binding(5) var<storage, read> M: array<f32>;' : ''}
var<workgroup> kt: array<f32, ${t * e}>;
var<workgroup> vt: array<f32, ${t * ev}>;
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
  let qb = ${base(0)};
  let kb = ${base(1)};
  let vb = ${base(2)};
  let mb = ${base(3)};
  var qv: array<f32, ${e}>;
  var acc: array<f32, ${ev}>;
  if (live) {
    for (var c = 0u; c < ${e}u; c++) { qv[c] = Q[u32(qb + i32(i) * ${at(0, 2)} + i32(c) * ${at(0, 3)})]; }
  }
  var mx = -3.4028234663852886e38;
  var first = true;
  var sum = 0.0;
  // Keys past the workgroup's last row are never needed under a causal mask.
  let keys = ${causal ? 'min(S, min(L, row0 + ' + WG + 'u))' : 'S'};
  for (var j0 = 0u; j0 < keys; j0 += ${t}u) {
    let n = min(${t}u, keys - j0);
    for (var x = lid.x; x < n * ${e}u; x += ${WG}u) {
      let r = x / ${e}u;
      let c = x % ${e}u;
      kt[x] = K[u32(kb + i32(j0 + r) * ${at(1, 2)} + i32(c) * ${at(1, 3)})];
    }
    for (var x = lid.x; x < n * ${ev}u; x += ${WG}u) {
      let r = x / ${ev}u;
      let c = x % ${ev}u;
      vt[x] = V[u32(vb + i32(j0 + r) * ${at(2, 2)} + i32(c) * ${at(2, 3)})];
    }
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < n; r++) {
        let j = j0 + r;
        ${causal ? 'if (j > i) { break; }' : ''}
        var dot = 0.0;
        for (var c = 0u; c < ${e}u; c++) { dot += qv[c] * kt[r * ${e}u + c]; }
        var score = dot * ${scale.toPrecision(9)};
        ${mask ? `score += M[u32(mb + i32(i) * ${at(3, 2)} + i32(j) * ${at(3, 3)})];
        if (score < -3.4028234663852886e38) { continue; }` : ''}
        var w = 1.0;
        if (first || score > mx) {
          let shrink = select(exp(mx - score), 0.0, first);
          sum *= shrink;
          for (var c = 0u; c < ${ev}u; c++) { acc[c] *= shrink; }
          mx = score;
          first = false;
        } else {
          w = exp(score - mx);
        }
        sum += w;
        for (var c = 0u; c < ${ev}u; c++) { acc[c] += w * vt[r * ${ev}u + c]; }
      }
    }
    workgroupBarrier();
  }
  if (live) {
    let o = (bh * L + i) * ${ev}u;
    var nan_bits = 0x7fc00000u; // a var: a NaN constant expression is rejected
    for (var c = 0u; c < ${ev}u; c++) { out[o + c] = select(acc[c] / sum, bitcast<f32>(nan_bits), sum == 0.0); }
  }
}`;
  const inputs = mask ? [0, 1, 2, 3] : [0, 1, 2];
  return { key: `attention:e${e}:v${ev}:t${t}:${mask ? 'm' : ''}${causal ? 'c' : ''}:${scale}`, source, meta, grid: grid1d(b * h * rowTiles), inputs };
}
