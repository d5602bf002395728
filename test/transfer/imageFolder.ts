/** @file A small image folder written for the tests: 3 classes of PNG and JPEG images, coloured and shaped so they can be learnt. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { Generator } from '../../index.js';

export const CLASSES = ['circle', 'square', 'stripes'];

/** RGBA pixels of one example of class `c`: a bright disc, a bright square or vertical stripes, on noise. */
function draw(c: number, size: number, g: Generator): Uint8Array {
  const px = new Uint8Array(size * size * 4);
  const cx = size / 2 + (g.uniform() - 0.5) * size * 0.2;
  const cy = size / 2 + (g.uniform() - 0.5) * size * 0.2;
  const r = size * (0.25 + 0.1 * g.uniform());
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on = c === 0 ? (x - cx) ** 2 + (y - cy) ** 2 < r * r : c === 1 ? Math.abs(x - cx) < r && Math.abs(y - cy) < r : Math.floor(x / 3) % 2 === 0;
      const base = on ? 220 : 40;
      for (let k = 0; k < 3; k++) px[(y * size + x) * 4 + k] = Math.max(0, Math.min(255, base + (g.uniform() - 0.5) * 60 + (k === c ? 30 : 0)));
      px[(y * size + x) * 4 + 3] = 255;
    }
  }
  return px;
}

/** `perClass` images of each class under dir/<class>/, alternately PNG and JPEG, of varying sizes. */
export function writeImageFolder(dir: string, perClass: number, seed = 0): void {
  const g = new Generator(seed);
  CLASSES.forEach((name, c) => {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const size = 24 + (i % 3) * 8;
      const data = draw(c, size, g);
      if (i % 2 === 0) {
        const png = new PNG({ width: size, height: size });
        png.data = Buffer.from(data);
        writeFileSync(join(dir, name, `${i}.png`), PNG.sync.write(png));
      } else writeFileSync(join(dir, name, `${i}.jpg`), jpeg.encode({ data: Buffer.from(data), width: size, height: size }, 90).data);
    }
  });
}
