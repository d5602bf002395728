/** @file WebAssembly SIMD packing of a GEMM's B operand into the kernel's column panels. */
import { Body, I32, type WasmFunction } from './encode.js';
import { NR } from './gemm.js';

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
