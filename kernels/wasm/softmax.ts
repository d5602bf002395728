/** @file softmax and logSoftmax over contiguous rows of f32 in WebAssembly SIMD: the row's maximum, then exp and its sum, then the scale, while the row is in cache. */
import { Body, F32, I32, V128, type WasmFunction } from './encode.js';
import { expNonPositiveF32x4, logF32x4 } from './math.js';

const [X, OUT, ROWS, N, LOG] = [0, 1, 2, 3, 4];
const [R, P, END4, END, MX, SUM, ACC, V, M4, T0, T1, T2, T3, T4, T5, A1, A2, A3] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22];
const LOCALS = [I32, I32, I32, I32, F32, F32, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128];

/**
 * softmaxRows(x, out, rows, n, log): for each of `rows` rows of n floats (x and out byte
 * addresses, rows contiguous), out = exp(x - max) / sum, or with log = 1, (x - max) - log(sum).
 * The maximum takes pmax (a NaN is dropped there, but exp(NaN - max) makes the sum and so the
 * whole row NaN, as the composite gives); exp is the form for non-positive arguments (within 2e-7
 * relative, 0 below 2^-126); the sum runs in four f32 lanes; the exponentials are scaled by 1 / sum.
 */
export function softmaxRowsFunction(): WasmFunction {
  const b = new Body();
  /** A loop over P from its current value while P < end, `lanes` floats a step. */
  const walk = (end: number, lanes: number, body: () => void) => b.walk(P, end, 4 * lanes, body);
  const sumLanes = (v: number) => b.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1).f32Add().get(v).f32x4ExtractLane(2).get(v).f32x4ExtractLane(3).f32Add().f32Add();
  b.i32(0).set(R);
  b.block();
  b.loop();
  b.get(R).get(ROWS).ltU().eqz().brIf(1);
  b.get(N).i32(4).mul().set(END);
  b.get(N).i32(2).shrU().i32(16).mul().set(END4);
  // The maximum: four accumulators over sixteen floats a step, then vectors, then single floats.
  for (const a of [ACC, A1, A2, A3]) b.f32x4Const(-Infinity).set(a);
  b.i32(0).set(P);
  b.get(N).i32(4).shrU().i32(64).mul().set(END4);
  walk(END4, 16, () => [ACC, A1, A2, A3].forEach((a, k) => b.get(a).get(X).get(P).add().load(16 * k).f32x4Pmax().set(a)));
  b.get(N).i32(2).shrU().i32(16).mul().set(END4);
  walk(END4, 4, () => b.get(ACC).get(X).get(P).add().load(0).f32x4Pmax().set(ACC));
  b.get(ACC).get(A1).f32x4Pmax().get(A2).get(A3).f32x4Pmax().f32x4Pmax().set(ACC);
  b.get(ACC).f32x4ExtractLane(0).get(ACC).f32x4ExtractLane(1).f32Max().get(ACC).f32x4ExtractLane(2).get(ACC).f32x4ExtractLane(3).f32Max().f32Max().set(MX);
  walk(END, 1, () => b.get(MX).get(X).get(P).add().f32Load(0).f32Max().set(MX));
  b.get(MX).f32x4Splat().set(M4);
  // exp(x - max), stored for softmax, and summed.
  b.zero().set(ACC);
  b.i32(0).set(P);
  const expAt = (load: () => void) => {
    load();
    b.get(M4).f32x4Sub().set(V);
    expNonPositiveF32x4(b, V, [T0, T1, T2]);
    b.set(V);
  };
  walk(END4, 4, () => {
    expAt(() => b.get(X).get(P).add().load(0));
    b.get(LOG).eqz().if();
    b.get(OUT).get(P).add().get(V).store(0);
    b.end();
    b.get(ACC).get(V).f32x4Add().set(ACC);
  });
  sumLanes(ACC).set(SUM);
  walk(END, 1, () => {
    expAt(() => b.get(X).get(P).add().f32Load(0).f32x4Splat());
    b.get(LOG).eqz().if();
    b.get(OUT).get(P).add().get(V).f32x4ExtractLane(0).f32Store(0);
    b.end();
    b.get(SUM).get(V).f32x4ExtractLane(0).f32Add().set(SUM);
  });
  b.i32(0).set(P);
  b.get(LOG).if();
  // (x - max) - log(sum), the log on all four lanes of a splat.
  b.get(SUM).f32x4Splat().set(V);
  logF32x4(b, V, [T0, T1, T2, T3, T4, T5]);
  b.set(V);
  walk(END4, 4, () => b.get(OUT).get(P).add().get(X).get(P).add().load(0).get(M4).f32x4Sub().get(V).f32x4Sub().store(0));
  walk(END, 1, () => b.get(OUT).get(P).add().get(X).get(P).add().f32Load(0).f32x4Splat().get(M4).f32x4Sub().get(V).f32x4Sub().f32x4ExtractLane(0).f32Store(0));
  b.else();
  // exp times 1 / sum, as PyTorch's vectorized softmax scales (one division a row, not one a vector).
  b.f32x4Const(1).get(SUM).f32x4Splat().f32x4Div().set(V);
  walk(END4, 4, () => b.get(OUT).get(P).add().get(OUT).get(P).add().load(0).get(V).f32x4Mul().store(0));
  walk(END, 1, () => b.get(OUT).get(P).add().get(OUT).get(P).add().f32Load(0).f32x4Splat().get(V).f32x4Mul().f32x4ExtractLane(0).f32Store(0));
  b.end();
  b.get(X).get(END).add().set(X);
  b.get(OUT).get(END).add().set(OUT);
  b.get(R).i32(1).add().set(R);
  b.br(0);
  b.end();
  b.end();
  return { name: 'softmaxRows', params: [I32, I32, I32, I32, I32], locals: LOCALS, body: b };
}
