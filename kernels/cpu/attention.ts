/** @file Attention on the CPU a query row at a time: scores, mask and a running softmax folded into the value sum, so no [L, S] score matrix exists. */
import type { DType, TypedArray } from '../../core/dtype.js';
import type { Strided } from './strided.js';

/**
 * out [B, H, L, Ev] (dense) = softmax(q k^T * scale + mask) v. Each row keeps its running maximum
 * m, the sum l of exp(score - m) and the weighted value sum, rescaled when m grows (the online
 * softmax of flash attention); accumulation is in doubles, rounded to the output dtype once.
 */
export function attention(q: Strided, k: Strided, v: Strided, mask: Strided | undefined, scale: number, causal: boolean, out: TypedArray, dtype: DType): void {
  const [b, h, l, e] = q.shape as [number, number, number, number];
  const s = k.shape[2]!;
  const ev = v.shape[3]!;
  const acc = new Float64Array(ev);
  const qrow = new Float64Array(e);
  const round = dtype === 'f32' ? Math.fround : (x: number) => x;
  const [qs, ks, vs] = [q.strides, k.strides, v.strides];
  let o = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const qb = q.offset + bi * qs[0]! + hi * qs[1]!;
      const kb = k.offset + bi * ks[0]! + hi * ks[1]!;
      const vb = v.offset + bi * vs[0]! + hi * vs[1]!;
      const mb = mask ? mask.offset + bi * mask.strides[0]! + hi * mask.strides[1]! : 0;
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
    }
  }
}
