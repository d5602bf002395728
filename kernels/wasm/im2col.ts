/** @file The convolution's window matrix written by WebAssembly straight into the GEMM's packed B layout, for several images side by side. */
import { Body, I32, type WasmFunction } from './encode.js';
import { NR } from './gemm.js';

/**
 * im2colPacked(x, imageStride, images, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, out, lanes):
 * column J of the window matrix is output position J % L of image J / L (L = OH * OW, image t at
 * float x/4 + t * imageStride); for each panel of NR columns and each (channel, kh, kw) row, the NR
 * input values those positions see (zero outside the image and past the last column) are stored
 * at `out`, [panel][row][NR]. `lanes` is 3 * NR * 4 bytes of scratch for the panel's positions.
 */
export function im2colPackedFunction(): WasmFunction {
  const P = Object.fromEntries(['x', 'imageStride', 'images', 'C', 'H', 'W', 'KH', 'KW', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'OH', 'OW', 'out', 'lanes'].map((n, i) => [n, i])) as Record<string, number>;
  const names = ['L', 'total', 'j0', 'cols', 'c', 'kh', 'kw', 'ih', 'iw', 'plane', 'inb', 't', 'l'];
  const V = Object.fromEntries(names.map((n, i) => [n, 18 + i])) as Record<string, number>;
  const b = new Body();
  const g = (n: string) => b.get(P[n] ?? V[n]!);
  const set = (n: string) => b.set(V[n]!);
  // lanes: base address (bytes) at 0, ih0 at 4 * NR, iw0 at 8 * NR, per lane q at 4 * q.
  const laneAt = (field: number, q: number) => 4 * (field * NR + q);
  g('OH'); g('OW'); b.mul(); set('L');
  g('images'); g('L'); b.mul(); set('total');
  b.i32(0); set('j0');
  b.block(); b.loop();
  g('j0'); g('total'); b.ltU().eqz().brIf(1);
  // cols = min(NR, total - j0)
  g('total'); g('j0'); b.sub(); b.i32(NR); g('total'); g('j0'); b.sub(); b.i32(NR); b.ltU().select(); set('cols');
  for (let q = 0; q < NR; q++) {
    // Lanes past cols keep stale positions: their values are zeroed below.
    g('j0'); b.i32(q).add(); g('L'); b.divU(); set('t');
    g('j0'); b.i32(q).add(); g('L'); b.remU(); set('l');
    g('lanes'); g('x'); g('t'); g('imageStride'); b.mul().i32(4).mul().add(); b.i32Store(laneAt(0, q));
    g('lanes'); g('l'); g('OW'); b.divU(); g('sh'); b.mul(); g('ph'); b.sub(); b.i32Store(laneAt(1, q));
    g('lanes'); g('l'); g('OW'); b.remU(); g('sw'); b.mul(); g('pw'); b.sub(); b.i32Store(laneAt(2, q));
  }
  const loop = (v: string, bound: string, body: () => void) => b.forRange(V[v]!, P[bound] ?? V[bound]!, body);
  loop('c', 'C', () => {
    g('c'); g('H'); b.mul(); g('W'); b.mul(); set('plane');
    loop('kh', 'KH', () => loop('kw', 'KW', () => {
      for (let q = 0; q < NR; q++) {
        // ih, iw of lane q; in bounds when both are (unsigned compares take negatives as large) and q < cols.
        g('lanes'); b.i32Load(laneAt(1, q)); g('kh'); g('dh'); b.mul().add(); set('ih');
        g('lanes'); b.i32Load(laneAt(2, q)); g('kw'); g('dw'); b.mul().add(); set('iw');
        g('ih'); g('H'); b.ltU(); g('iw'); g('W'); b.ltU(); b.and(); b.i32(q); g('cols'); b.ltU(); b.and(); set('inb');
        g('out');
        // The load reads a valid address either way (x itself when out of bounds), then the value is selected.
        g('lanes'); b.i32Load(laneAt(0, q)); g('plane'); g('ih'); g('W'); b.mul().add(); g('iw'); b.add(); b.i32(4).mul().add();
        g('x'); g('inb'); b.select();
        b.f32Load(0).f32Const(0); g('inb'); b.select();
        b.f32Store(4 * q);
      }
      g('out'); b.i32(4 * NR).add(); b.set(P.out!);
    }));
  });
  g('j0'); b.i32(NR).add(); set('j0');
  b.br(0); b.end(); b.end();
  return { name: 'im2colPacked', params: new Array<number>(18).fill(I32), locals: new Array<number>(names.length).fill(I32), body: b };
}
