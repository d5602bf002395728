/** @file In the page: images from Blob and ImageBitmap through the browser's decoder, and a CSV from bytes, into datasets. */
import { csv } from '../../transfer/data/csv.js';
import { imagesDataset } from '../../transfer/data/images.js';

/** A 6x4 image, left half red and right half blue, as a PNG Blob drawn by the page. */
async function pngBlob(): Promise<Blob> {
  const c = new OffscreenCanvas(6, 4);
  const g = c.getContext('2d')!;
  g.fillStyle = '#ff0000';
  g.fillRect(0, 0, 3, 4);
  g.fillStyle = '#0000ff';
  g.fillRect(3, 0, 3, 4);
  return c.convertToBlob({ type: 'image/png' });
}

async function run(): Promise<{ shape: number[]; pixels: number[]; fromBitmap: number[]; classes: string[]; labels: number[]; values: number[]; error: string }> {
  const blob = await pngBlob();
  const d = await imagesDataset([{ src: blob, label: 1, name: 'drawn.png' }, { src: await createImageBitmap(blob), label: 0 }], ['a', 'b'], { size: [4, 6] });
  // Red at the left edge, blue at the right, in each channel plane.
  const at = (i: number, c: number, x: number) => d.x[i * 72 + c * 24 + x]!;
  const table = await csv(new TextEncoder().encode('x,y,label\n1,2,dog\n3,4,cat\n'));
  let error = '';
  await imagesDataset([{ src: new Blob([new Uint8Array([1, 2, 3])]), label: 0, name: 'junk.png' }], ['a']).catch((e: Error) => (error = e.message));
  return {
    shape: d.shape,
    pixels: [at(0, 0, 0), at(0, 2, 0), at(0, 0, 5), at(0, 2, 5)],
    fromBitmap: [at(1, 0, 0), at(1, 2, 5)],
    classes: table.data.classes,
    labels: Array.from(table.data.y),
    values: table.kind === 'numeric' ? Array.from(table.data.x) : [],
    error,
  };
}

(globalThis as { graftDataPage?: typeof run }).graftDataPage = run;
