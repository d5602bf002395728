/** @file WebAssembly packing of a GEMM's operands into the kernel's panels (A by rows, B by columns). */
import { Body, I32, V128, type WasmFunction } from './encode.js';
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
  b.forRange(J, PANELS, () => {
    b.get(SRC).get(J).i32(4 * NR).mul().add().set(ROW);
    b.forRange(P, K, () => {
      for (let v = 0; v < NR / 4; v++) b.get(DST).get(ROW).load(16 * v).store(16 * v);
      b.get(DST).i32(4 * NR).add().set(DST);
      b.get(ROW).get(RS).add().set(ROW);
    });
  });
  return { name: 'packB', params: [I32, I32, I32, I32, I32], locals: [I32, I32, I32], body: b };
}

/**
 * packA4(src, rs, panels, k, dst): the full panels of an A whose rows are contiguous (row i at
 * src + i*rs bytes), four rows at a time: four columns of them loaded as vectors and transposed by
 * shuffles into four packed [MR] groups; the last k % 4 columns one by one.
 */
export function packA4Function(): WasmFunction {
  const [SRC, RS, PANELS, K, DST] = [0, 1, 2, 3, 4];
  const [PN, P, ROW, K4] = [5, 6, 7, 8];
  const [R0, R1, R2, R3, T0, T1, T2, T3] = [9, 10, 11, 12, 13, 14, 15, 16];
  const b = new Body();
  b.get(K).i32(-4).and().set(K4);
  b.forRange(PN, PANELS, () => {
    b.get(SRC).get(PN).i32(MR).mul().get(RS).mul().add().set(ROW);
    b.i32(0).set(P);
    b.block();
    b.loop();
    b.get(P).get(K4).ltU().eqz().brIf(1);
    [R0, R1, R2, R3].forEach((r, i) => b.get(ROW).get(P).i32(4).mul().add().i32(i).get(RS).mul().add().load(0).set(r));
    b.get(R0).get(R1).f32x4Shuffle([0, 4, 1, 5]).set(T0);
    b.get(R0).get(R1).f32x4Shuffle([2, 6, 3, 7]).set(T1);
    b.get(R2).get(R3).f32x4Shuffle([0, 4, 1, 5]).set(T2);
    b.get(R2).get(R3).f32x4Shuffle([2, 6, 3, 7]).set(T3);
    b.get(DST).get(T0).get(T2).f32x4Shuffle([0, 1, 4, 5]).store(0);
    b.get(DST).get(T0).get(T2).f32x4Shuffle([2, 3, 6, 7]).store(16);
    b.get(DST).get(T1).get(T3).f32x4Shuffle([0, 1, 4, 5]).store(32);
    b.get(DST).get(T1).get(T3).f32x4Shuffle([2, 3, 6, 7]).store(48);
    b.get(DST).i32(64).add().set(DST);
    b.get(P).i32(4).add().set(P);
    b.br(0);
    b.end();
    b.end();
    // The last k % 4 columns.
    b.block();
    b.loop();
    b.get(P).get(K).ltU().eqz().brIf(1);
    for (let r = 0; r < MR; r++) b.get(DST).get(ROW).get(P).i32(4).mul().add().i32(r).get(RS).mul().add().f32Load(0).f32Store(4 * r);
    b.get(DST).i32(4 * MR).add().set(DST);
    b.get(P).i32(1).add().set(P);
    b.br(0);
    b.end();
    b.end();
  });
  return { name: 'packA4', params: new Array<number>(5).fill(I32), locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128], body: b };
}

/**
 * packAStrided(src, rs, s1, s2, m, K1, K2, dst, p0, p1): panels p0 <= p < p1 of an A whose column
 * k = k1 * K2 + k2 sits at src + i*rs + k1*s1 + k2*s2 (byte strides, any sign: a convolution's
 * transposed, flipped weights read in place), each [K1*K2][MR], rows past m zero. Where k2 steps
 * by one float either way, a full panel's columns go four at a time: a vector from each row,
 * transposed by shuffles (and, stepping back, stored in reverse order).
 */
export function packAStridedFunction(): WasmFunction {
  const [SRC, RS, S1, S2, M, K1, K2, DST, P0, P1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [PN, I, J, ROW, AT, VALID, OUT, J4, BACK, UNIT, COL] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const [R0, R1, R2, R3, T0, T1, T2, T3] = [21, 22, 23, 24, 25, 26, 27, 28];
  const b = new Body();
  b.get(DST).get(P0).get(K1).mul().get(K2).mul().i32(4 * MR).mul().add().set(OUT);
  b.get(S2).i32(-4).ne().eqz().set(BACK);
  b.get(S2).i32(4).ne().eqz().get(BACK).or().set(UNIT);
  b.get(P0).set(PN);
  b.walk(PN, P1, 1, () => {
    b.get(M).get(PN).i32(MR).mul().sub().set(VALID);
    b.get(SRC).get(PN).i32(MR).mul().get(RS).mul().add().set(ROW);
    // Four columns at a time only for a full panel whose k2 steps by one float.
    b.get(K2).i32(-4).and().i32(0).get(UNIT).get(VALID).i32(MR - 1).gtU().and().select().set(J4);
    b.forRange(I, K1, () => {
      b.get(ROW).get(I).get(S1).mul().add().set(AT);
      b.i32(0).set(J);
      b.walk(J, J4, 4, () => {
        // Stepping back, the vector starts three floats below column J.
        [R0, R1, R2, R3].forEach((r, i) => b.get(AT).get(J).get(S2).mul().add().i32(i).get(RS).mul().add().i32(-12).i32(0).get(BACK).select().add().load(0).set(r));
        b.get(R0).get(R1).f32x4Shuffle([0, 4, 1, 5]).set(T0);
        b.get(R0).get(R1).f32x4Shuffle([2, 6, 3, 7]).set(T1);
        b.get(R2).get(R3).f32x4Shuffle([0, 4, 1, 5]).set(T2);
        b.get(R2).get(R3).f32x4Shuffle([2, 6, 3, 7]).set(T3);
        const lanes: [number, number, [number, number, number, number]][] = [[T0, T2, [0, 1, 4, 5]], [T0, T2, [2, 3, 6, 7]], [T1, T3, [0, 1, 4, 5]], [T1, T3, [2, 3, 6, 7]]];
        lanes.forEach(([x, y, sh], lane) => {
          b.get(OUT).i32(16 * (3 - lane)).i32(16 * lane).get(BACK).select().add();
          b.get(x).get(y).f32x4Shuffle(sh).store(0);
        });
        b.get(OUT).i32(64).add().set(OUT);
      });
      b.walk(J, K2, 1, () => {
        b.get(AT).get(J).get(S2).mul().add().set(COL);
        for (let r = 0; r < MR; r++) {
          // Rows past m read the panel's first element (always valid) and store 0.
          b.get(OUT);
          b.get(COL).i32(r).get(RS).mul().add().get(COL).i32(r).get(VALID).ltU().select();
          b.f32Load(0).f32Const(0).i32(r).get(VALID).ltU().select();
          b.f32Store(4 * r);
        }
        b.get(OUT).i32(4 * MR).add().set(OUT);
      });
    });
  });
  return { name: 'packAStrided', params: new Array<number>(10).fill(I32), locals: [...new Array<number>(11).fill(I32), ...new Array<number>(8).fill(V128)], body: b };
}
