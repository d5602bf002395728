/** @file WebAssembly max-pooling kernels: the window's flat argmax index per output, four outputs per f32x4 for the usual 2x2 window at stride 2, one at a time for any other window. */
import { Body, F32, I32, V128, type WasmFunction } from './encode.js';

/**
 * maxPool2x2(xp, op, W, OH, OW, planes, planeIn, planeOut): for each plane (planeIn, planeOut bytes
 * apart) and output (oh, ow), the index (2oh + i) * W + 2ow + j of the window's maximum, as i32. The
 * reference's order: the first maximum wins, and a NaN wins over numbers. Four outputs come from
 * two rows of eight inputs split into their even and odd columns; the last OW % 4 of a row one at a
 * time, so nothing past a row is read or written.
 */
export function maxPool2x2Function(): WasmFunction {
  const [XP, OP, W, OH, OW, PLANES, PIN, POUT] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [P, R, Q, R0, R1, O, BASE, OW4, AT0, AT, C] = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const [BEST, SV] = [19, 20];
  const [V0, V1, IDX, VB, VAT, M] = [21, 22, 23, 24, 25, 26];
  const b = new Body();
  b.get(OW).i32(2).shrU().set(OW4);
  /** Four inputs of `row` at vector q: its even (the windows' left) or odd (right) columns. */
  const split = (row: number, lanes: [number, number, number, number]) => {
    b.get(row).get(Q).i32(32).mul().add().load(0).set(V0);
    b.get(row).get(Q).i32(32).mul().add().load(16).set(V1);
    b.get(V0).get(V1).f32x4Shuffle(lanes);
  };
  /** The candidate on the stack, at index IDX + delta, taken where it beats the best so far: v > best, or v is NaN and best is not. */
  const candidate = (delta: number, last: boolean) => {
    b.set(V1);
    b.get(V1).get(VB).f32x4Gt().get(V1).get(V1).f32x4Ne().get(VB).get(VB).f32x4Eq().v128And().v128Or().set(M);
    if (!last) b.get(V1).get(VB).get(M).bitselect().set(VB);
    b.get(IDX).i32x4Const(delta).i32x4Add().get(VAT).get(M).bitselect().set(VAT);
  };
  /** The same for one output: the input at `row` + 8q + `off`, at the index `at` pushes. */
  const tap = (row: number, off: number, at: () => void, last: boolean) => {
    b.get(row).get(Q).i32(8).mul().add().f32Load(off).set(SV);
    b.get(SV).get(BEST).f32Gt().get(SV).get(SV).f32Ne().get(BEST).get(BEST).f32Eq().and().or().set(C);
    if (!last) b.get(SV).get(BEST).get(C).select().set(BEST);
    at();
    b.get(AT).get(C).select().set(AT);
  };
  b.forRange(P, PLANES, () => {
    b.forRange(R, OH, () => {
      // base = 2r*W; r0 = xp + p*planeIn + base*4, r1 = r0 + W*4; o = op + p*planeOut + r*OW*4.
      b.get(R).i32(2).mul().get(W).mul().set(BASE);
      b.get(XP).get(P).get(PIN).mul().add().get(BASE).i32(4).mul().add().tee(R0).get(W).i32(4).mul().add().set(R1);
      b.get(OP).get(P).get(POUT).mul().add().get(R).get(OW).mul().i32(4).mul().add().set(O);
      b.forRange(Q, OW4, () => {
        b.get(BASE).get(Q).i32(8).mul().add().i32x4Splat().i32x4Lanes([0, 2, 4, 6]).i32x4Add().tee(IDX).set(VAT);
        split(R0, [0, 2, 4, 6]);
        b.set(VB);
        split(R0, [1, 3, 5, 7]);
        candidate(1, false);
        b.get(W).i32x4Splat().get(IDX).i32x4Add().set(IDX);
        split(R1, [0, 2, 4, 6]);
        candidate(0, false);
        split(R1, [1, 3, 5, 7]);
        candidate(1, true);
        b.get(O).get(Q).i32(16).mul().add().get(VAT).store(0);
      });
      b.get(OW4).i32(4).mul().set(Q);
      b.block().loop();
      b.get(Q).get(OW).ltU().eqz().brIf(1);
      b.get(BASE).get(Q).i32(2).mul().add().tee(AT0).set(AT);
      b.get(R0).get(Q).i32(8).mul().add().f32Load(0).set(BEST);
      tap(R0, 4, () => b.get(AT0).i32(1).add(), false);
      tap(R1, 0, () => b.get(AT0).get(W).add(), false);
      tap(R1, 4, () => b.get(AT0).get(W).add().i32(1).add(), true);
      b.get(O).get(Q).i32(4).mul().add().get(AT).i32Store(0);
      b.get(Q).i32(1).add().set(Q).br(0).end().end();
    });
  });
  return { name: 'maxPool2x2', params: new Array<number>(8).fill(I32), locals: [...new Array<number>(11).fill(I32), F32, F32, ...new Array<number>(6).fill(V128)], body: b };
}

/**
 * maxPool(xp, op, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, planes, planeIn, planeOut): for each
 * plane and output, the flat index ih * W + iw of its window's maximum over the taps inside the
 * image, as i32, in the reference's order (the first tap inside is taken, then a later one where it
 * is greater, or NaN over a number). A tap's row and column are bounds-checked as unsigned, so one
 * compare refuses both sides of the padding.
 */
export function maxPoolFunction(): WasmFunction {
  const [XP, OP, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, PLANES, PIN, POUT] = Array.from({ length: 17 }, (_, i) => i);
  const [P, R, Q, I, J, IH, IW, IDX, AT, XB, OB, TAKE] = Array.from({ length: 12 }, (_, i) => 17 + i);
  const [BEST, V] = [29, 30];
  const b = new Body();
  b.forRange(P, PLANES, () => {
    b.get(XP).get(P).get(PIN).mul().add().set(XB);
    b.get(OP).get(P).get(POUT).mul().add().set(OB);
    b.forRange(R, OH, () => b.forRange(Q, OW, () => {
      b.i32(-1).set(AT);
      b.f32Const(0).set(BEST);
      b.forRange(I, KH, () => {
        b.get(R).get(SH).mul().get(PH).sub().get(I).get(DH).mul().add().tee(IH).get(H).ltU().if();
        b.forRange(J, KW, () => {
          b.get(Q).get(SW).mul().get(PW).sub().get(J).get(DW).mul().add().tee(IW).get(W).ltU().if();
          b.get(IH).get(W).mul().get(IW).add().set(IDX);
          b.get(XB).get(IDX).i32(4).mul().add().f32Load().set(V);
          // The first tap inside, a greater one, or a NaN over a number.
          b.get(AT).i32(1).add().eqz();
          b.get(V).get(BEST).f32Gt().or();
          b.get(V).get(V).f32Ne().get(BEST).get(BEST).f32Eq().and().or().set(TAKE);
          b.get(V).get(BEST).get(TAKE).select().set(BEST);
          b.get(IDX).get(AT).get(TAKE).select().set(AT);
          b.end();
        });
        b.end();
      });
      b.get(OB).get(R).get(OW).mul().get(Q).add().i32(4).mul().add().get(AT).i32Store();
    }));
  });
  return { name: 'maxPool', params: new Array<number>(17).fill(I32), locals: [...new Array<number>(12).fill(I32), F32, F32], body: b };
}
