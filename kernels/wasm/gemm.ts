/** @file The WebAssembly SIMD GEMM kernel: C = A·B over packed panels, written as wasm bytes by graft (no compiler, no borrowed binary). */
import { Body, I32, V128, type WasmFunction } from './encode.js';

/** Rows of A and columns of B one kernel invocation covers: 4 x 8 = eight f32x4 accumulators. */
export const MR = 4;
export const NR = 8;

// Locals: the parameters, then loop state, then the vector registers.
const [AP, BP, CP, K, I0, I1, NP, LDC, KC] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [PC, KCUR, J, I, APTR, BPTR, CPTR, P, BJ] = [9, 10, 11, 12, 13, 14, 15, 16, 17];
const ACC = 18; // eight accumulators, 18..25: row r, half h at ACC + 2r + h
const [B0, B1, A] = [26, 27, 28];

/**
 * gemm(ap, bp, cp, K, i0, i1, nPanels, ldcBytes, kc): for row panels i in [i0, i1) and all column
 * panels j, C[4i.., 8j..] = sum over k of A-panel(i)[k] x B-panel(j)[k].
 * A is packed as [panel][K][4] and B as [panel][K][8] (f32), so the k loop reads both
 * contiguously. K is walked in slices of kc so that one B panel slice (kc x 8) stays in L1 while
 * every A panel of the range passes over it; C is loaded back for the slices after the first.
 */
export function gemmFunction(): WasmFunction {
  const b = new Body();
  const rowAddr = (r: number) => (r === 0 ? b.get(CPTR) : b.get(CPTR).get(LDC).i32(r).mul().add());
  b.i32(0).set(PC);
  b.loop(); // over K slices
  // kcur = min(kc, K - pc)
  b.get(KC).get(K).get(PC).sub().get(KC).get(K).get(PC).sub().ltU().select().set(KCUR);
  b.i32(0).set(J);
  b.loop(); // over column panels
  b.get(BP).get(J).get(K).mul().get(PC).add().i32(32).mul().add().set(BJ);
  b.get(I0).set(I);
  b.loop(); // over row panels
  b.get(AP).get(I).get(K).mul().get(PC).add().i32(16).mul().add().set(APTR);
  b.get(CP).get(I).get(LDC).i32(MR).mul().mul().add().get(J).i32(32).mul().add().set(CPTR);
  b.get(BJ).set(BPTR);
  b.get(PC).eqz().if();
  for (let r = 0; r < 2 * MR; r++) b.zero().set(ACC + r);
  b.else();
  for (let r = 0; r < MR; r++) {
    rowAddr(r).load(0).set(ACC + 2 * r);
    rowAddr(r).load(16).set(ACC + 2 * r + 1);
  }
  b.end();
  b.get(KCUR).set(P);
  b.loop(); // over k
  b.get(BPTR).load(0).set(B0);
  b.get(BPTR).load(16).set(B1);
  for (let r = 0; r < MR; r++) {
    b.get(APTR).loadSplat(4 * r).set(A);
    b.get(ACC + 2 * r).get(A).get(B0).f32x4Mul().f32x4Add().set(ACC + 2 * r);
    b.get(ACC + 2 * r + 1).get(A).get(B1).f32x4Mul().f32x4Add().set(ACC + 2 * r + 1);
  }
  b.get(APTR).i32(4 * MR).add().set(APTR);
  b.get(BPTR).i32(4 * NR).add().set(BPTR);
  b.get(P).i32(1).sub().tee(P).brIf(0);
  b.end();
  for (let r = 0; r < MR; r++) {
    rowAddr(r).get(ACC + 2 * r).store(0);
    rowAddr(r).get(ACC + 2 * r + 1).store(16);
  }
  b.get(I).i32(1).add().tee(I).get(I1).ltU().brIf(0);
  b.end();
  b.get(J).i32(1).add().tee(J).get(NP).ltU().brIf(0);
  b.end();
  b.get(PC).get(KC).add().tee(PC).get(K).ltU().brIf(0);
  b.end();
  return { name: 'gemm', params: new Array<number>(9).fill(I32), locals: [...new Array<number>(9).fill(I32), ...new Array<number>(11).fill(V128)], body: b };
}
