/** @file WebAssembly SIMD row reductions: `count` contiguous runs of f32 reduced to one f32 each, sums accumulated in f64 as the JavaScript loops do. */
import { Body, F32, F64, I32, V128, type WasmFunction } from './encode.js';

const [X, RUN, COUNT, OUT, MEAN] = [0, 1, 2, 3, 4];
const [O, P, END, ACC, S, M] = [5, 6, 7, 8, 9, 10];
const LOCALS = [I32, I32, I32, V128, F64, F32];

/** The loop over runs around `row`, which leaves the run's f32 result on the stack; then the store and the step to the next run. */
function rows(b: Body, row: () => void): void {
  b.i32(0).set(O);
  b.loop();
  b.get(OUT);
  row();
  b.f32Store(0);
  b.get(X).get(RUN).i32(4).mul().add().set(X);
  b.get(OUT).i32(4).add().set(OUT);
  b.get(O).i32(1).add().tee(O).get(COUNT).ltU().brIf(0);
  b.end();
}

/**
 * reduceSum(x, run, count, out, mean): out[o] = sum (or mean) of x[o*run .. (o+1)*run), run >= 2.
 * Pairs of f32 are promoted to f64x2 and added, so the sum is as exact as the JavaScript loop's f64
 * accumulation (the order differs, which an f64 sum of f32 values almost never shows after rounding).
 */
export function reduceSumFunction(): WasmFunction {
  const b = new Body();
  rows(b, () => {
    b.zero().set(ACC);
    b.get(X).set(P);
    b.get(X).get(RUN).i32(1).shrU().i32(8).mul().add().set(END);
    b.loop();
    b.get(ACC).get(P).load64Zero(0).f64x2PromoteLowF32x4().f64x2Add().set(ACC);
    b.get(P).i32(8).add().tee(P).get(END).ltU().brIf(0);
    b.end();
    b.get(ACC).f64x2ExtractLane(0).get(ACC).f64x2ExtractLane(1).f64Add().set(S);
    b.get(RUN).i32(1).and().if();
    b.get(S).get(P).f32Load(0).f64PromoteF32().f64Add().set(S);
    b.end();
    b.get(MEAN).if();
    b.get(S).get(RUN).f64ConvertI32U().f64Div().set(S);
    b.end();
    b.get(S).f32DemoteF64();
  });
  return { name: 'reduceSum', params: [I32, I32, I32, I32, I32], locals: LOCALS, body: b };
}

/**
 * reduceMax(x, run, count, out, _): out[o] = max of the run (run >= 4), NaN if any element is NaN.
 * Four accumulators, sixteen floats a step: the vector max (NaN- and signed-zero-correct) is a
 * sequence of several instructions, so one accumulator would wait on its own latency.
 */
export function reduceMaxFunction(): WasmFunction {
  const b = new Body();
  const A = [ACC, ACC + 3, ACC + 4, ACC + 5];
  const step = (end: number, lanes: number, body: () => void) => b.walk(P, end, 4 * lanes, body);
  rows(b, () => {
    b.get(X).set(P);
    for (const a of A) b.get(X).load(0).set(a);
    b.get(X).get(RUN).i32(4).shrU().i32(64).mul().add().set(END);
    step(END, 16, () => A.forEach((a, k) => b.get(a).get(P).load(16 * k).f32x4Max().set(a)));
    b.get(X).get(RUN).i32(2).shrU().i32(16).mul().add().set(END);
    step(END, 4, () => b.get(A[0]!).get(P).load(0).f32x4Max().set(A[0]!));
    b.get(A[0]!).get(A[1]!).f32x4Max().get(A[2]!).get(A[3]!).f32x4Max().f32x4Max().set(ACC);
    b.get(ACC).f32x4ExtractLane(0).get(ACC).f32x4ExtractLane(1).f32Max().get(ACC).f32x4ExtractLane(2).get(ACC).f32x4ExtractLane(3).f32Max().f32Max().set(M);
    // The last run % 4 elements, one at a time.
    b.get(X).get(RUN).i32(4).mul().add().set(END);
    step(END, 1, () => b.get(M).get(P).f32Load(0).f32Max().set(M));
    b.get(M);
  });
  return { name: 'reduceMax', params: [I32, I32, I32, I32, I32], locals: [...LOCALS, V128, V128, V128], body: b };
}
