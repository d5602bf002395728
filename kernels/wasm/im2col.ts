/** @file The convolution's window matrix written by WebAssembly straight into the GEMM's packed B layout, for several zero-padded images side by side. */
import { Body, I32, V128, type WasmFunction } from './encode.js';
import { NR } from './gemm.js';

/**
 * im2colPacked(x, imageStride, L, total, C, plane, Wp, KH, KW, sh, sw, dh, dw, OW, out, p0, p1):
 * panels p0 <= p < p1 of the window matrix of images already padded (no bounds to test: image t at
 * byte x + 4 * t * imageStride, C planes of `plane` floats, rows Wp floats apart). Column J is output
 * position J % L of image J / L, J < total; for each panel of NR columns and each (channel, kh, kw)
 * row, the NR values those positions see are stored at out + 4 * p * K * NR, [row][NR] (K = C*KH*KW),
 * zero past the last column. The rows of a panel whose windows start at consecutive floats are read
 * as two vectors; others lane by lane, from addresses found once per panel. With OW the padded
 * row's width and unit strides, a column is its window's offset in the image: every panel within
 * one image is such a run.
 */
export function im2colPackedFunction(): WasmFunction {
  const P = Object.fromEntries(['x', 'imageStride', 'L', 'total', 'C', 'plane', 'Wp', 'KH', 'KW', 'sh', 'sw', 'dh', 'dw', 'OW', 'out', 'p0', 'p1'].map((n, i) => [n, i])) as Record<string, number>;
  const names = ['p', 'j', 'cols', 'c', 'kh', 'kw', 'offC', 'offH', 'off', 'dst', 'K', 'r', 'run', ...Array.from({ length: NR }, (_, q) => `a${q}`)];
  const vectors = [...Array.from({ length: NR }, (_, q) => `v${q}`), 't0', 't1', 't2', 't3'];
  const V = Object.fromEntries([...names, ...vectors].map((n, i) => [n, 17 + i])) as Record<string, number>;
  const b = new Body();
  const g = (n: string) => b.get(P[n] ?? V[n]!);
  const set = (n: string) => b.set(V[n]!);
  const loop = (v: string, bound: string, body: () => void) => b.forRange(V[v]!, P[bound] ?? V[bound]!, body);
  g('C'); g('KH'); b.mul(); g('KW'); b.mul(); set('K');
  /** While kw < bound (a wasm expression pushed by `bound`), `body`, then dst and off on by `rows` rows and kw by `rows`. */
  const kwLoop = (bound: () => void, rows: number, body: () => void) => {
    b.block(); b.loop();
    g('kw'); bound(); b.ltU().eqz().brIf(1);
    body();
    g('dst'); b.i32(4 * NR * rows).add(); set('dst');
    g('off'); g('dw'); b.i32(4 * rows).mul().add(); set('off');
    g('kw'); b.i32(rows).add(); set('kw');
    b.br(0); b.end(); b.end();
  };
  // Windows of all C, KH, KW rows for the current panel: `row` writes one row of NR at dst from
  // offset off; `rows4`, where given, four rows at once (unit dilation: kw .. kw + 3 are four
  // consecutive floats from each lane's address).
  const windows = (row: () => void, rows4?: () => void) => {
    g('out'); g('p'); g('K'); b.mul().i32(4 * NR).mul().add(); set('dst');
    b.i32(0); set('offC');
    loop('c', 'C', () => {
      g('offC'); set('offH');
      loop('kh', 'KH', () => {
        g('offH'); set('off');
        b.i32(0); set('kw');
        if (rows4) {
          g('dw'); b.i32(1).ne().eqz(); g('KW'); b.i32(3).gtU(); b.and();
          b.if();
          kwLoop(() => { g('KW'); b.i32(3).sub(); }, 4, rows4);
          b.end();
        }
        kwLoop(() => g('KW'), 1, row);
        g('offH'); g('dh'); g('Wp'); b.mul().i32(4).mul().add(); set('offH');
      });
      g('offC'); g('plane'); b.i32(4).mul().add(); set('offC');
    });
  };
  g('p0'); set('p');
  b.block(); b.loop();
  g('p'); g('p1'); b.ltU().eqz().brIf(1);
  // cols = min(NR, total - p * NR); lanes past it read the last column's position (a valid address) and are zeroed after.
  g('total'); g('p'); b.i32(NR).mul().sub(); set('cols');
  g('cols'); b.i32(NR); g('cols'); b.i32(NR).ltU().select(); set('cols');
  for (let q = 0; q < NR; q++) {
    g('p'); b.i32(NR).mul().i32(q).add(); set('j');
    g('j'); g('total'); b.i32(1).sub(); g('j'); g('total'); b.ltU().select(); set('j');
    // a_q = x + 4 * (t * imageStride + (l / OW) * sh * Wp + (l % OW) * sw), t = j / L, l = j % L.
    g('x');
    g('j'); g('L'); b.divU(); g('imageStride'); b.mul();
    g('j'); g('L'); b.remU(); g('OW'); b.divU(); g('sh'); b.mul(); g('Wp'); b.mul().add();
    g('j'); g('L'); b.remU(); g('OW'); b.remU(); g('sw'); b.mul().add();
    b.i32(4).mul().add(); set(`a${q}`);
  }
  // Addresses rise by at least a float from column to column, so in a full panel a last lane NR - 1
  // floats after the first makes it one run of consecutive floats.
  g('cols'); b.i32(NR).ne().eqz();
  b.get(V[`a${NR - 1}`]!); g('a0'); b.sub(); b.i32(4 * (NR - 1)).ne().eqz();
  b.and();
  set('run');
  g('run');
  b.if();
  windows(() => {
    for (let v = 0; v < NR / 4; v++) {
      g('dst'); g('a0'); g('off'); b.add().load(16 * v); b.store(16 * v);
    }
  });
  b.else();
  windows(() => {
    for (let q = 0; q < NR; q++) {
      g('dst'); b.get(V[`a${q}`]!); g('off'); b.add().f32Load(0); b.f32Store(4 * q);
    }
  }, () => {
    // Each lane's four consecutive floats by one vector load, then each group of four lanes
    // transposed by shuffles into four rows of four.
    for (let q = 0; q < NR; q++) { b.get(V[`a${q}`]!); g('off'); b.add().load(0); set(`v${q}`); }
    for (let h = 0; h < NR / 4; h++) {
      const v = (i: number) => b.get(V[`v${4 * h + i}`]!);
      v(0); v(1); b.f32x4Shuffle([0, 4, 1, 5]); set('t0');
      v(0); v(1); b.f32x4Shuffle([2, 6, 3, 7]); set('t1');
      v(2); v(3); b.f32x4Shuffle([0, 4, 1, 5]); set('t2');
      v(2); v(3); b.f32x4Shuffle([2, 6, 3, 7]); set('t3');
      const rows: [string, string, [number, number, number, number]][] = [['t0', 't2', [0, 1, 4, 5]], ['t0', 't2', [2, 3, 6, 7]], ['t1', 't3', [0, 1, 4, 5]], ['t1', 't3', [2, 3, 6, 7]]];
      rows.forEach(([x, y, lanes], r) => { g('dst'); g(x); g(y); b.f32x4Shuffle(lanes); b.store(4 * NR * r + 16 * h); });
    }
  });
  b.end();
  // The last, partial panel: zero the lanes past the last column in every row.
  g('cols'); b.i32(NR).ltU();
  b.if();
  g('out'); g('p'); g('K'); b.mul().i32(4 * NR).mul().add(); set('dst');
  loop('r', 'K', () => {
    for (let q = 1; q < NR; q++) {
      b.i32(q); g('cols'); b.ltU().eqz();
      b.if();
      g('dst'); b.f32Const(0).f32Store(4 * q);
      b.end();
    }
    g('dst'); b.i32(4 * NR).add(); set('dst');
  });
  b.end();
  g('p'); b.i32(1).add(); set('p');
  b.br(0); b.end(); b.end();
  return { name: 'im2colPacked', params: new Array<number>(17).fill(I32), locals: [...new Array<number>(names.length).fill(I32), ...new Array<number>(vectors.length).fill(V128)], body: b };
}

/**
 * convGemm(x, imageStride, L, total, C, plane, Wp, KH, KW, sh, sw, dh, dw, OW, ap, cp, mPanels, ldc,
 * kc, cd, ldcd, mFull, nFull, blockPanels, scratch, b0, b1): the convolution as GEMM one block of
 * column panels at a time, for blocks b0 <= b < b1: the block's window matrix is written to
 * `scratch` (im2colPacked's first 14 arguments) and multiplied there by the packed weights (gemm's
 * arguments, C offset to the block's columns), so the window matrix is never held whole and each
 * block is read back from cache. Blocks of at most `narrow` panels take gemmRows.
 */
export function convGemmFunction(index: { im2col: number; gemm: number; gemmRows: number }, narrow: number): WasmFunction {
  const names = ['x', 'imageStride', 'L', 'total', 'C', 'plane', 'Wp', 'KH', 'KW', 'sh', 'sw', 'dh', 'dw', 'OW', 'ap', 'cp', 'mPanels', 'ldc', 'kc', 'cd', 'ldcd', 'mFull', 'nFull', 'blockPanels', 'scratch', 'b0', 'b1'];
  const locals = ['K', 'panels', 'blk', 'p0', 'p1', 'np', 'nf'];
  const V = Object.fromEntries([...names, ...locals].map((n, i) => [n, i])) as Record<string, number>;
  const b = new Body();
  const g = (n: string) => b.get(V[n]!);
  const set = (n: string) => b.set(V[n]!);
  g('C'); g('KH'); b.mul(); g('KW'); b.mul(); set('K');
  g('total'); b.i32(NR - 1).add().i32(NR).divU(); set('panels');
  g('b0'); set('blk');
  b.block(); b.loop();
  g('blk'); g('b1'); b.ltU().eqz().brIf(1);
  g('blk'); g('blockPanels'); b.mul(); set('p0');
  g('p0'); g('blockPanels'); b.add(); set('p1');
  g('p1'); g('panels'); g('p1'); g('panels'); b.ltU().select(); set('p1');
  g('p1'); g('p0'); b.sub(); set('np');
  // Whole column tiles of this block: nFull - p0, within [0, np].
  g('nFull'); g('p0'); b.sub(); set('nf');
  b.i32(0); g('nf'); g('nFull'); g('p0'); b.ltU().select(); set('nf');
  g('nf'); g('np'); g('nf'); g('np'); b.ltU().select(); set('nf');
  // Panel p of the window matrix lands at scratch + (p - p0) panels.
  for (const n of names.slice(0, 14)) g(n);
  g('scratch'); g('p0'); g('K'); b.mul().i32(4 * NR).mul().sub();
  g('p0'); g('p1');
  b.call(index.im2col);
  const gemmCall = (fn: number) => {
    g('ap'); g('scratch'); g('cp'); g('p0'); b.i32(4 * NR).mul().add(); g('K'); b.i32(0); g('mPanels'); g('np'); g('ldc'); g('kc');
    g('cd'); g('p0'); b.i32(4 * NR).mul().add(); g('ldcd'); g('mFull'); g('nf');
    b.call(fn);
  };
  g('np'); b.i32(narrow + 1).ltU();
  b.if();
  gemmCall(index.gemmRows);
  b.else();
  gemmCall(index.gemm);
  b.end();
  g('blk'); b.i32(1).add(); set('blk');
  b.br(0); b.end(); b.end();
  return { name: 'convGemm', params: new Array<number>(names.length).fill(I32), locals: new Array<number>(locals.length).fill(I32), body: b };
}
