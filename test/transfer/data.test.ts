/** @file User data: image folders (PNG and JPEG), text folders, CSV files, seeded splits, and the errors for data that cannot be used. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraftFormatError, GraftValueError } from '../../index.js';
import { csv, standardize } from '../../transfer/data/csv.js';
import { completeSplits, folderKind, imageFolder, takeDataset, textFolder } from '../../transfer/data/folder.js';
import { imagesDataset } from '../../transfer/data/images.js';
import { stratifiedSplit } from '../../transfer/data/split.js';
import { WordVocab, encodeTexts } from '../../transfer/data/text.js';
import { CLASSES, writeImageFolder } from './imageFolder.js';

const root = mkdtempSync(join(tmpdir(), 'graft-data-'));

describe('image folders', () => {
  const dir = join(root, 'imgs');
  writeImageFolder(dir, 6);

  it('reads PNG and JPEG files of several sizes into [3, H, W] images in [0, 1], classes in name order', async () => {
    const p = await imageFolder(dir, { size: 20 });
    expect(p.classes).toEqual(CLASSES);
    expect(p.train.n).toBe(18);
    expect(p.train.shape).toEqual([3, 20, 20]);
    expect(p.val).toBeNull();
    expect(Array.from(p.train.y)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    let [lo, hi] = [Infinity, -Infinity];
    for (const v of p.train.x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    // A disc's centre is bright and its corner dark, in the PNG and in the JPEG alike.
    for (const i of [0, 1]) {
      const at = (c: number, y: number, x: number) => p.train.x[i * 1200 + c * 400 + y * 20 + x]!;
      expect(at(1, 10, 10)).toBeGreaterThan(0.6);
      expect(at(1, 0, 0)).toBeLessThan(0.4);
    }
    expect(await folderKind(dir)).toBe('image');
  });

  it('reads train/ val/ test/ layouts and splits the rest with a seed: stratified, reproducible, disjoint', async () => {
    const split = join(root, 'split');
    writeImageFolder(join(split, 'train'), 10, 1);
    writeImageFolder(join(split, 'test'), 2, 2);
    const p = await imageFolder(split, { size: 16 });
    expect(p.test!.n).toBe(6);
    expect(p.val).toBeNull();
    const a = completeSplits(p, takeDataset, 7, 'split');
    const b = completeSplits(p, takeDataset, 7, 'split');
    expect(a.val.n).toBe(6);
    expect(a.train.n).toBe(24);
    expect(Array.from(a.val.x.slice(0, 50))).toEqual(Array.from(b.val.x.slice(0, 50)));
    expect(a.note).toMatch(/seeded split \(seed 7\) of 30 examples: 24 train, 6 validation, test from the folder/);
    const s = stratifiedSplit(Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), ['a', 'b'], { val: 0.2, test: 0.2 }, 0, 'x');
    expect(new Set([...s.train, ...s.val, ...s.test]).size).toBe(10);
    expect([s.val.length, s.test.length]).toEqual([2, 2]);
  });

  it('refuses what it cannot use, naming the class, folder or file', async () => {
    const small = join(root, 'small');
    writeImageFolder(small, 2);
    const p = await imageFolder(small, { size: 8 });
    expect(() => completeSplits(p, takeDataset, 0, '--data small')).toThrow(/--data small: class 'circle' has 2 examples; a split into train, validation, test needs at least 3 per class/);
    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'a'), { recursive: true });
    await expect(imageFolder(empty)).rejects.toThrow(/empty\/a: no \.png, \.jpg, \.jpeg files/);
    await expect(imageFolder(join(root, 'nope'))).rejects.toThrow(/cannot list .*nope/);
    const broken = join(root, 'broken');
    writeImageFolder(broken, 1);
    writeFileSync(join(broken, 'square', 'bad.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    await expect(imageFolder(broken)).rejects.toThrow(GraftFormatError);
    await expect(imageFolder(broken)).rejects.toThrow(/square\/bad\.png: cannot decode the PNG image/);
    await expect(imagesDataset([{ src: new TextEncoder().encode('hello'), label: 0, name: 'note.jpg' }], ['a'])).rejects.toThrow(/note\.jpg: not a PNG or JPEG image/);
    await expect(imagesDataset([{ src: new Uint8Array(4), label: 3 }], ['a'])).rejects.toThrow(GraftValueError);
    // A PNG header claiming 100000 x 100000 pixels is refused before any decoding.
    const huge = new Uint8Array(33);
    huge.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    new DataView(huge.buffer).setUint32(16, 100000);
    new DataView(huge.buffer).setUint32(20, 100000);
    await expect(imagesDataset([{ src: huge, label: 0, name: 'huge.png' }], ['a'])).rejects.toThrow(/huge\.png: .*100000x100000 pixels is more than/);
  });
});

describe('texts and CSV', () => {
  it('reads a text folder and fits a word vocabulary on the training texts', async () => {
    const dir = join(root, 'texts');
    for (const [c, texts] of [['ham', ['See you at lunch', 'the meeting moved']], ['spam', ['WIN cash now!!', 'cash prize, claim now']]] as const) {
      mkdirSync(join(dir, c), { recursive: true });
      texts.forEach((t, i) => writeFileSync(join(dir, c, `${i}.txt`), t));
    }
    expect(await folderKind(dir)).toBe('text');
    const p = await textFolder(dir);
    expect(p.classes).toEqual(['ham', 'spam']);
    expect(p.train.texts[2]).toBe('WIN cash now!!');
    const vocab = WordVocab.fit(p.train.texts);
    expect(vocab.ids.get('cash')).toBe(2);
    const d = encodeTexts(p.train, vocab, 4);
    expect(Array.from(d.x.slice(8, 12))).toEqual([vocab.ids.get('win'), 2, vocab.ids.get('now'), 0]);
    expect(vocab.encode('unseen words cash', 3)).toEqual(Int32Array.from([1, 1, 2]));
  });

  it('reads numeric and text CSV files with quoted fields, and standardises with training statistics', async () => {
    const num = join(root, 'iris.csv');
    writeFileSync(num, 'a,b,label\n1,2,setosa\n3,4,virginica\n5,"6",setosa\n');
    const c = await csv(num);
    expect(c.kind).toBe('numeric');
    if (c.kind !== 'numeric') return;
    expect(c.data.classes).toEqual(['setosa', 'virginica']);
    expect(Array.from(c.data.y)).toEqual([0, 1, 0]);
    expect(Array.from(c.data.x)).toEqual([1, 2, 3, 4, 5, 6]);
    const [s] = standardize(c.data);
    expect(Array.from(s!.x.slice(0, 2)).map((v) => Number(v.toFixed(4)))).toEqual([-1.2247, -1.2247]);
    const text = join(root, 'sms.csv');
    writeFileSync(text, 'text,label\n"hello, friend",0\nbuy now,1\n');
    const t = await csv(text);
    expect(t.kind === 'text' && t.data.texts).toEqual(['hello, friend', 'buy now']);
    const bad = join(root, 'bad.csv');
    writeFileSync(bad, 'a,label\n1,x\nabc,y\n');
    await expect(csv(bad)).rejects.toThrow(/bad\.csv: row 3, column 'a': "abc" is not a number/);
    writeFileSync(bad, 'a,label\n');
    await expect(csv(bad)).rejects.toThrow(/needs a header row and at least one example/);
    await expect(csv(num, { label: 'nope' })).rejects.toThrow(/no label column "nope" \(columns: a, b, label\)/);
  });
});
