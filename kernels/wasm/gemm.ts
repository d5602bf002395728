/** @file The WebAssembly SIMD GEMM kernel: C = A·B over packed panels, written as wasm bytes by graft (no compiler, no borrowed binary). */
import { Body, I32, V128, type WasmFunction } from './encode.js';

/** Rows of A and columns of B one kernel invocation covers: 4 x 8 = eight f32x4 accumulators. */
export const MR = 4;
export const NR = 8;
/** Products at most this many column panels wide use the row-major tile order (gemmRows). */
export const NARROW_PANELS = 8;

// Locals: the parameters, then loop state, then the vector registers.
const [AP, BP, CP, K, I0, I1, NP, LDC, KC, CD, LDCD, MF, NF] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const [PC, KCUR, J, I, APTR, BPTR, CPTR, P, BJ, STRIDE, DIRECT] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23];
const ACC = 24; // eight accumulators, 24..31: row r, half h at ACC + 2r + h
const [B0, B1, A] = [32, 33, 34];

/**
 * gemm(ap, bp, cp, K, i0, i1, nPanels, ldcBytes, kc, cd, ldcdBytes, mFull, nFull): for row panels i
 * in [i0, i1) and all column panels j, C[4i.., 8j..] = sum over k of A-panel(i)[k] x B-panel(j)[k].
 * A is packed as [panel][K][4] and B as [panel][K][8] (f32), so the k loop reads both
 * contiguously. K is walked in slices of kc so that one B panel slice (kc x 8) stays in L1 while
 * every A panel of the range passes over it. A whole tile (i < mFull, j < nFull) accumulates
 * straight into the caller's C at cd (rows ldcd bytes apart): C += A B, with no padded copy to add
 * back; the edge tiles go to the padded product at cp (zeroed by the first slice) for the caller to
 * add. Each tile loads its C back for the slices after the first, and a direct tile for the first too.
 * `rows` order walks the row panels outside the column panels: for a product a few column panels
 * wide, each A slice is then read once from cache for all of them rather than once per column panel.
 */
export function gemmFunction(order: 'columns' | 'rows' = 'columns'): WasmFunction {
  const b = new Body();
  const rowAddr = (r: number) => (r === 0 ? b.get(CPTR) : b.get(CPTR).get(STRIDE).i32(r).mul().add());
  const columns = () => {
    b.i32(0).set(J);
    b.loop(); // over column panels
    b.get(BP).get(J).get(K).mul().get(PC).add().i32(32).mul().add().set(BJ);
  };
  const columnsEnd = () => {
    b.get(J).i32(1).add().tee(J).get(NP).ltU().brIf(0);
    b.end();
  };
  const rows = () => {
    b.get(I0).set(I);
    b.loop(); // over row panels
    b.get(AP).get(I).get(K).mul().get(PC).add().i32(16).mul().add().set(APTR);
  };
  const rowsEnd = () => {
    b.get(I).i32(1).add().tee(I).get(I1).ltU().brIf(0);
    b.end();
  };
  b.i32(0).set(PC);
  b.loop(); // over K slices
  // kcur = min(kc, K - pc)
  b.get(KC).get(K).get(PC).sub().get(KC).get(K).get(PC).sub().ltU().select().set(KCUR);
  if (order === 'columns') {
    columns();
    rows();
  } else {
    rows();
    columns();
  }
  // The tile's A slice: the row loop set it, but the k loop below walks it on.
  b.get(AP).get(I).get(K).mul().get(PC).add().i32(16).mul().add().set(APTR);
  // direct = i < mFull && j < nFull (as i32 0/1): the tile's rows are C's own.
  b.get(I).get(MF).ltU().get(J).get(NF).ltU().and().set(DIRECT);
  b.get(CD).get(I).get(LDCD).i32(MR).mul().mul().add().get(J).i32(32).mul().add();
  b.get(CP).get(I).get(LDC).i32(MR).mul().mul().add().get(J).i32(32).mul().add();
  b.get(DIRECT).select().set(CPTR);
  b.get(LDCD).get(LDC).get(DIRECT).select().set(STRIDE);
  b.get(BJ).set(BPTR);
  b.get(PC).eqz().get(DIRECT).eqz().and().if();
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
  if (order === 'columns') {
    rowsEnd();
    columnsEnd();
  } else {
    columnsEnd();
    rowsEnd();
  }
  b.get(PC).get(KC).add().tee(PC).get(K).ltU().brIf(0);
  b.end();
  return { name: order === 'columns' ? 'gemm' : 'gemmRows', params: new Array<number>(13).fill(I32), locals: [...new Array<number>(11).fill(I32), ...new Array<number>(11).fill(V128)], body: b };
}
