/** @file WebAssembly SIMD packing of a GEMM's B operand into the kernel's column panels. */
import { Body, I32, type WasmFunction } from './encode.js';
import { MR, NR } from './gemm.js';

/**
 * packB(src, rowBytes, k, panels, dst): B rows of contiguous floats (row p at src + p * rowBytes)
 * into `panels` full panels of NR columns, [panel][k][NR], written from dst on. The last, partial
 * panel is the caller's.
 */
export function packBFunction(): WasmFunction {
  const [SRC, RS, K, PANELS, DST] = [0, 1, 2, 3, 4];
  const [J, P, ROW] = [5, 6, 7];
  const b = new Body();
  b.i32(0).set(J);
  b.block();
  b.loop();
  b.get(J).get(PANELS).ltU().eqz().brIf(1);
  b.get(SRC).get(J).i32(4 * NR).mul().add().set(ROW);
  b.i32(0).set(P);
  b.block();
  b.loop();
  b.get(P).get(K).ltU().eqz().brIf(1);
  for (let v = 0; v < NR / 4; v++) b.get(DST).get(ROW).load(16 * v).store(16 * v);
  b.get(DST).i32(4 * NR).add().set(DST);
  b.get(ROW).get(RS).add().set(ROW);
  b.get(P).i32(1).add().set(P);
  b.br(0);
  b.end();
  b.end();
  b.get(J).i32(1).add().set(J);
  b.br(0);
  b.end();
  b.end();
  return { name: 'packB', params: [I32, I32, I32, I32, I32], locals: [I32, I32, I32], body: b };
}

/**
 * packA(src, rs, cs, m, k, dst): A [m, k] with byte strides rs, cs (either may be negative) into
 * panels of MR rows, [panel][k][MR], zero past m, from dst on.
 */
export function packAFunction(): WasmFunction {
  const [SRC, RS, CS, M, K, DST] = [0, 1, 2, 3, 4, 5];
  const [I0, P, ROW, VALID] = [6, 7, 8, 9];
  const b = new Body();
  b.i32(0).set(I0);
  b.block();
  b.loop();
  b.get(I0).get(M).ltU().eqz().brIf(1);
  // Rows of this panel inside A: min(MR, m - i0).
  b.get(M).get(I0).sub().set(VALID);
  b.get(SRC).get(I0).get(RS).mul().add().set(ROW);
  b.i32(0).set(P);
  b.block();
  b.loop();
  b.get(P).get(K).ltU().eqz().brIf(1);
  for (let r = 0; r < MR; r++) {
    // Rows past m read A's first element (always valid) and store 0.
    b.get(DST);
    b.get(ROW).get(P).get(CS).mul().add().i32(r).get(RS).mul().add().get(SRC).i32(r).get(VALID).ltU().select();
    b.f32Load(0).f32Const(0).i32(r).get(VALID).ltU().select();
    b.f32Store(4 * r);
  }
  b.get(DST).i32(4 * MR).add().set(DST);
  b.get(P).i32(1).add().set(P);
  b.br(0);
  b.end();
  b.end();
  b.get(I0).i32(MR).add().set(I0);
  b.br(0);
  b.end();
  b.end();
  return { name: 'packA', params: new Array<number>(6).fill(I32), locals: [I32, I32, I32, I32], body: b };
}
