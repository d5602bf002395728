/** @file WebAssembly gather and scatter-add along the last axis (max pooling's indices, a class per sample), each index bounds-checked. */
import { Body, I32, type WasmFunction } from './encode.js';

/**
 * The loop both share: for r < rows, j < cols, v = index[r*cols + j] (i32 at IDX); a v outside
 * [0, size) stores its flat position + 1 at ERR and returns. `element(rowAddress)` sees the row's
 * base address (ROW) and v (V).
 */
function overIndices(name: string, element: (b: Body, ROW: number, V: number, DATA: number) => void): WasmFunction {
  const [BASE, IDX, DATA, ROWS, SIZE, COLS, ERR] = [0, 1, 2, 3, 4, 5, 6];
  const [R, J, ROW, V] = [7, 8, 9, 10];
  const b = new Body();
  b.forRange(R, ROWS, () => {
    b.get(BASE).get(R).get(SIZE).mul().i32(4).mul().add().set(ROW);
    b.forRange(J, COLS, () => {
      b.get(IDX).i32Load().tee(V).get(SIZE).ltU().eqz().if();
      b.get(ERR).get(R).get(COLS).mul().get(J).add().i32(1).add().i32Store().return();
      b.end();
      element(b, ROW, V, DATA);
      b.get(IDX).i32(4).add().set(IDX);
      b.get(DATA).i32(4).add().set(DATA);
    });
  });
  return { name, params: new Array<number>(7).fill(I32), locals: [I32, I32, I32, I32], body: b };
}

/** gatherLast(x, index, out, rows, size, cols, err): out[r][j] = x[r][index[r][j]], copied as bits (f32 or i32). */
export function gatherLastFunction(): WasmFunction {
  return overIndices('gatherLast', (b, ROW, V, OUT) => void b.get(OUT).get(ROW).get(V).i32(4).mul().add().i32Load().i32Store());
}

/** scatterAddLast(out, index, src, rows, size, cols, err): out[r][index[r][j]] += src[r][j] (f32), in index order. */
export function scatterAddLastFunction(): WasmFunction {
  return overIndices('scatterAddLast', (b, ROW, V, SRC) => {
    b.get(ROW).get(V).i32(4).mul().add().set(V);
    b.get(V).get(V).f32Load().get(SRC).f32Load().f32Add().f32Store();
  });
}
