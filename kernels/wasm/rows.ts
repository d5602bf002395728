/** @file WebAssembly SIMD passes over rows of f32 in place, exact to the last element: the convolution's bias and clamp, bias fills and accumulations into its output. */
import { Body, F32, I32, V128, type WasmFunction } from './encode.js';

/**
 * Runs `vector` (P: the address, 16 bytes) over floor(n/4) vectors from address `start`, then
 * `scalar` over the n % 4 elements left; P advances past each. Locals P and END are the caller's.
 */
function overRow(b: Body, start: () => void, n: number, P: number, END: number, vector: () => void, scalar: () => void): void {
  start();
  b.set(P);
  b.get(P).get(n).i32(2).shrU().i32(16).mul().add().set(END);
  for (const [lanes, body] of [[4, vector], [1, scalar]] as const) {
    b.walk(P, END, 4 * lanes, body);
    if (lanes === 4) b.get(P).get(n).i32(3).and().i32(4).mul().add().set(END);
  }
}

/**
 * biasClamp(ptr, L, count, bias, lo, hi): for each of `count` rows of L floats, v = v + bias[row]
 * (bias 0: no bias, adding +0 as the JavaScript epilogue does), then v < lo ? lo : v > hi ? hi : v
 * (lo, hi as f32: clamping after rounding gives what clamping before it gives).
 */
export function biasClampFunction(): WasmFunction {
  const [PTR, L, COUNT, BIAS, LO, HI] = [0, 1, 2, 3, 4, 5];
  const [R, P, END, B, VLO, VHI, T, SB] = [6, 7, 8, 9, 10, 11, 12, 13];
  const b = new Body();
  b.get(LO).f32x4Splat().set(VLO);
  b.get(HI).f32x4Splat().set(VHI);
  b.i32(0).set(R);
  b.loop();
  // The row's bias: bias[row], or +0 without one (the load from near address 0 is then discarded).
  b.get(BIAS).get(R).i32(4).mul().add().f32Load(0).f32Const(0).get(BIAS).select().tee(SB).f32x4Splat().set(B);
  overRow(b, () => b.get(PTR).get(R).get(L).mul().i32(4).mul().add(), L, P, END,
    () => b.get(P).get(P).load(0).get(B).f32x4Add().get(VLO).f32x4Pmax().get(VHI).f32x4Pmin().store(0),
    () => {
      b.get(P).f32Load(0).get(SB).f32Add().set(T);
      // t < lo ? lo : t, then t > hi ? hi : t (NaN passes through both).
      b.get(LO).get(T).get(T).get(LO).f32Lt().select().set(T);
      b.get(P).get(HI).get(T).get(T).get(HI).f32Gt().select().f32Store(0);
    });
  b.get(R).i32(1).add().tee(R).get(COUNT).ltU().brIf(0);
  b.end();
  return { name: 'biasClamp', params: [I32, I32, I32, I32, F32, F32], locals: [I32, I32, I32, V128, V128, V128, F32, F32], body: b };
}

/** fillRows(ptr, L, count, values): row r of L floats set to values[r]. */
export function fillRowsFunction(): WasmFunction {
  const [PTR, L, COUNT, VALUES] = [0, 1, 2, 3];
  const [R, P, END, V, S] = [4, 5, 6, 7, 8];
  const b = new Body();
  b.i32(0).set(R);
  b.loop();
  b.get(VALUES).get(R).i32(4).mul().add().f32Load(0).tee(S).f32x4Splat().set(V);
  overRow(b, () => b.get(PTR).get(R).get(L).mul().i32(4).mul().add(), L, P, END,
    () => b.get(P).get(V).store(0),
    () => b.get(P).get(S).f32Store(0));
  b.get(R).i32(1).add().tee(R).get(COUNT).ltU().brIf(0);
  b.end();
  return { name: 'fillRows', params: [I32, I32, I32, I32], locals: [I32, I32, I32, V128, F32], body: b };
}

/** copyRows(dst, dstStride, src, srcStride, rowBytes, rows): `rows` rows of rowBytes, strides in bytes, each a memory.copy. */
export function copyRowsFunction(): WasmFunction {
  const [DST, DS, SRC, SS, BYTES, ROWS] = [0, 1, 2, 3, 4, 5];
  const R = 6;
  const b = new Body();
  b.i32(0).set(R);
  b.block();
  b.loop();
  b.get(R).get(ROWS).ltU().eqz().brIf(1);
  b.get(DST).get(SRC).get(BYTES).memoryCopy();
  b.get(DST).get(DS).add().set(DST);
  b.get(SRC).get(SS).add().set(SRC);
  b.get(R).i32(1).add().set(R);
  b.br(0);
  b.end();
  b.end();
  return { name: 'copyRows', params: [I32, I32, I32, I32, I32, I32], locals: [I32], body: b };
}

/**
 * addBlocks(dst, dsA, dsB, src, ssA, ssB, A, B, n): for a < A, b < B, the row of n floats at
 * dst + a*dsA + b*dsB (byte strides) += the row at src + a*ssA + b*ssB. One call for what would be
 * A*B calls over single rows (a convolution's images side by side moved back into NCHW, a GEMM's
 * padded product added into C).
 */
export function addBlocksFunction(): WasmFunction {
  const [DST, DSA, DSB, SRC, SSA, SSB, A, B, N] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [IA, IB, P, END, D] = [9, 10, 11, 12, 13];
  const b = new Body();
  b.forRange(IA, A, () => b.forRange(IB, B, () => {
    // D: this row's dst - src, so one pointer walks both.
    b.get(DST).get(IA).get(DSA).mul().add().get(IB).get(DSB).mul().add();
    b.get(SRC).get(IA).get(SSA).mul().add().get(IB).get(SSB).mul().add();
    b.sub().set(D);
    overRow(b, () => b.get(SRC).get(IA).get(SSA).mul().add().get(IB).get(SSB).mul().add(), N, P, END,
      () => b.get(P).get(D).add().get(P).get(D).add().load(0).get(P).load(0).f32x4Add().store(0),
      () => b.get(P).get(D).add().get(P).get(D).add().f32Load(0).get(P).f32Load(0).f32Add().f32Store(0));
  }));
  return { name: 'addBlocks', params: new Array<number>(9).fill(I32), locals: [I32, I32, I32, I32, I32], body: b };
}

/**
 * copyBlocks(dst, dsA, dsB, src, ssA, ssB, A, B, bytes): for a < A, b < B, the `bytes` at
 * src + a*ssA + b*ssB copied to dst + a*dsA + b*dsB (byte strides; rows of SHORT_COPY bytes and
 * more by memory.copy): one call for a view's three innermost dimensions, where a call a row cost
 * more than the copy.
 */
export function copyBlocksFunction(): WasmFunction {
  const [DST, DSA, DSB, SRC, SSA, SSB, A, B, BYTES] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [IA, IB, D, S, P, E] = [9, 10, 11, 12, 13, 14];
  const b = new Body();
  // memory.copy costs a call into the runtime (tens of ns), more than a short row's copy itself
  // (a transposed 3x3 weight gradient has rows of 36 bytes): those rows are copied by vectors here.
  b.get(BYTES).i32(-16).and().set(E);
  b.forRange(IA, A, () => b.forRange(IB, B, () => {
    b.get(DST).get(IA).get(DSA).mul().add().get(IB).get(DSB).mul().add().set(D);
    b.get(SRC).get(IA).get(SSA).mul().add().get(IB).get(SSB).mul().add().set(S);
    b.get(BYTES).i32(SHORT_COPY).ltU().if();
    b.i32(0).set(P);
    b.walk(P, E, 16, () => void b.get(D).get(P).add().get(S).get(P).add().load().store());
    b.walk(P, BYTES, 4, () => void b.get(D).get(P).add().get(S).get(P).add().f32Load().f32Store());
    b.else();
    b.get(D).get(S).get(BYTES).memoryCopy();
    b.end();
  }));
  return { name: 'copyBlocks', params: new Array<number>(9).fill(I32), locals: [I32, I32, I32, I32, I32, I32], body: b };
}

/** Rows of fewer bytes than this are copied by vector loads and stores rather than memory.copy. */
const SHORT_COPY = 128;

/**
 * gatherRows(dst, src, n, step, rows, rowStride, dstRowStride, blocks, blockStride): for each of
 * `blocks` blocks (the source blockStride bytes apart, the destination right after the last),
 * `rows` rows of n floats, element i of row r read at src + b*blockStride + r*rowStride + i*step
 * (bytes; any may be negative: a flipped view), written at dst + (b*rows + r)*dstRowStride + 4i.
 * The block axis keeps a view with a third short axis (a strided convolution's kernel taps) at
 * one call per block, not one per row pair.
 */
export function gatherRowsFunction(): WasmFunction {
  const [DST, SRC, N, STEP, ROWS, RS, DRS, BLOCKS, BS] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [R, I, P, D, BL] = [9, 10, 11, 12, 13];
  const b = new Body();
  b.forRange(BL, BLOCKS, () => b.forRange(R, ROWS, () => {
    b.get(SRC).get(BL).get(BS).mul().add().get(R).get(RS).mul().add().set(P);
    b.get(DST).get(BL).get(ROWS).mul().get(R).add().get(DRS).mul().add().set(D);
    b.forRange(I, N, () => {
      b.get(D).get(P).f32Load(0).f32Store(0);
      b.get(D).i32(4).add().set(D);
      b.get(P).get(STEP).add().set(P);
    });
  }));
  return { name: 'gatherRows', params: new Array<number>(9).fill(I32), locals: [I32, I32, I32, I32, I32], body: b };
}
