/** @file Attention on the CPU a query row at a time: scores, mask and a running softmax folded into the value sum, so no [L, S] score matrix exists. */
import type { DType, TypedArray } from '../../core/dtype.js';
import type { Strided } from './strided.js';
import { gemmF32, wasmGemmApplies } from './wasm.js';

/** Query rows per block: the largest score tile is this many rows by the key length. */
const BLOCK = 64;

/**
 * out [B, H, L, Ev] (dense) = softmax(q k^T * scale + mask) v. Each row keeps its running maximum
 * m, the sum l of exp(score - m) and the weighted value sum, rescaled when m grows (the online
 * softmax of flash attention); accumulation is in doubles, rounded to the output dtype once.
 */
export function attention(q: Strided, k: Strided, v: Strided, mask: Strided | undefined, scale: number, causal: boolean, out: TypedArray, dtype: DType): void {
  if (dtype === 'f32' && blocked(q, k, v, mask, scale, causal, out as Float32Array)) return;
  const [l, e] = q.shape.slice(2) as [number, number];
  const s = k.shape[2]!;
  const ev = v.shape[3]!;
  const acc = new Float64Array(ev);
  const qrow = new Float64Array(e);
  const round = dtype === 'f32' ? Math.fround : (x: number) => x;
  const [qs, ks, vs] = [q.strides, k.strides, v.strides];
  let o = 0;
  forEachHead(q, k, v, mask, (qb, kb, vb, mb) => {
    for (let i = 0; i < l; i++) {
      for (let c = 0; c < e; c++) qrow[c] = q.data[qb + i * qs[2]! + c * qs[3]!]!;
      acc.fill(0);
      let m = -Infinity;
      let sum = 0;
      const last = causal ? Math.min(s, i + 1) : s;
      for (let j = 0; j < last; j++) {
        let dot = 0;
        const kr = kb + j * ks[2]!;
        for (let c = 0; c < e; c++) dot += qrow[c]! * k.data[kr + c * ks[3]!]!;
        let score = dot * scale;
        if (mask) score += mask.data[mb + i * mask.strides[2]! + j * mask.strides[3]!]!;
        // A key masked with -Infinity takes no part (a row of only those is NaN, as PyTorch's).
        if (score === -Infinity) continue;
        // A larger score rescales what was summed so far; a smaller one is weighed against the running maximum.
        let w: number;
        if (score > m) {
          const shrink = Math.exp(m - score);
          sum *= shrink;
          for (let c = 0; c < ev; c++) acc[c]! *= shrink;
          m = score;
          w = 1;
        } else w = Math.exp(score - m);
        sum += w;
        const vr = vb + j * vs[2]!;
        for (let c = 0; c < ev; c++) acc[c]! += w * v.data[vr + c * vs[3]!]!;
      }
      for (let c = 0; c < ev; c++) out[o++] = round(sum > 0 ? acc[c]! / sum : NaN);
    }
  });
}

/** Calls fn with the first element of each (batch, head) slice of q, k, v and the mask, heads in order. */
function forEachHead(q: Strided, k: Strided, v: Strided, mask: Strided | undefined, fn: (qb: number, kb: number, vb: number, mb: number, bi: number, hi: number) => boolean | void): boolean {
  const [b, h] = q.shape as [number, number];
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const at = (x: Strided) => x.offset + bi * x.strides[0]! + hi * x.strides[1]!;
      if (fn(at(q), at(k), at(v), mask ? at(mask) : 0, bi, hi) === false) return false;
    }
  }
  return true;
}

/**
 * The f32 path where the wasm GEMM applies: a block of query rows at a time, its [BLOCK, S] score
 * tile from one GEMM (keys past the block's last row skipped under a causal mask), a softmax over
 * each row of the tile, and the tile times V into the output rows. Memory: one tile, not [L, S].
 */
function blocked(q: Strided, k: Strided, v: Strided, mask: Strided | undefined, scale: number, causal: boolean, out: Float32Array): boolean {
  const [b, h, l, e] = q.shape as [number, number, number, number];
  const s = k.shape[2]!;
  const ev = v.shape[3]!;
  if (!wasmGemmApplies(Math.min(BLOCK, l), s, e)) return false;
  const [qs, ks, vs] = [q.strides, k.strides, v.strides];
  const tile = new Float32Array(BLOCK * s);
  out.fill(0, 0, b * h * l * ev);
  return forEachHead(q, k, v, mask, (qb, kb, vb, mb, bi, hi) => {
    for (let i0 = 0; i0 < l; i0 += BLOCK) {
      const rows = Math.min(BLOCK, l - i0);
      const keys = causal ? Math.min(s, i0 + rows) : s;
      tile.fill(0, 0, rows * keys);
      // scores = Q_block K^T: K read transposed through its strides.
      if (!gemmF32(rows, keys, e, q.data as Float32Array, qb + i0 * qs[2]!, qs[2]!, qs[3]!, k.data as Float32Array, kb, ks[3]!, ks[2]!, tile, 0, keys)) return false;
      for (let r = 0; r < rows; r++) {
        const i = i0 + r;
        const at = r * keys;
        const last = causal ? Math.min(keys, i + 1) : keys;
        let mx = -Infinity;
        for (let j = 0; j < last; j++) {
          let x = tile[at + j]! * scale;
          if (mask) x += mask.data[mb + i * mask.strides[2]! + j * mask.strides[3]!]!;
          tile[at + j] = x;
          if (x > mx) mx = x;
        }
        let sum = 0;
        for (let j = 0; j < last; j++) {
          const w = tile[at + j] === -Infinity ? 0 : Math.exp(tile[at + j]! - mx);
          tile[at + j] = w;
          sum += w;
        }
        const inv = sum > 0 ? 1 / sum : NaN;
        for (let j = 0; j < last; j++) tile[at + j]! *= inv;
        for (let j = last; j < keys; j++) tile[at + j] = 0;
      }
      // out rows = P_block V.
      const o = ((bi * h + hi) * l + i0) * ev;
      if (!gemmF32(rows, ev, keys, tile, 0, keys, 1, v.data as Float32Array, vb, vs[2]!, vs[3]!, out, o, ev)) return false;
    }
    return true;
  });
}
