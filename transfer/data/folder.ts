/** @file Class folders (torchvision's ImageFolder layout, optionally under train/ val/ test/) of images or texts, read into datasets. */
import { GraftValueError } from '../../index.js';
import { readBytes } from '../io.js';
import { listFolder } from '../platform/node.js';
import { type Dataset, subset } from './dataset.js';
import { type ImageOptions, imagesDataset } from './images.js';
import { stratifiedSplit } from './split.js';
import { type TextData, subsetTexts } from './text.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
export const TEXT_EXTENSIONS = ['.txt'];

/** A folder's examples by part: `val` and `test` are null when the folder has no such part. */
export interface Parts<T> {
  train: T;
  val: T | null;
  test: T | null;
  classes: string[];
}

interface FileList {
  files: { path: string; label: number }[];
  classes: string[];
}

const ext = (name: string) => name.slice(name.lastIndexOf('.')).toLowerCase();

/** Class subfolders in name order, each with its files of the accepted kinds (others, and hidden files, are left out). */
async function classFiles(dir: string, exts: readonly string[], classes?: readonly string[]): Promise<FileList> {
  const entries = await listFolder(dir);
  const found = entries.filter((e) => e.folder && !e.name.startsWith('.')).map((e) => e.name);
  if (!found.length) throw new GraftValueError(`${dir}: no class folders (expected one subfolder per class, as torchvision's ImageFolder reads)`);
  const names = classes ?? found;
  const stray = found.filter((c) => !names.includes(c));
  if (stray.length) throw new GraftValueError(`${dir}: class folder${stray.length > 1 ? 's' : ''} ${stray.map((c) => `'${c}'`).join(', ')} ${stray.length > 1 ? 'are' : 'is'} not in train/ (classes: ${names.join(', ')})`);
  const files: FileList['files'] = [];
  for (const [label, c] of names.entries()) {
    if (!found.includes(c)) continue;
    const inside = (await listFolder(`${dir}/${c}`)).filter((e) => !e.folder && !e.name.startsWith('.') && exts.includes(ext(e.name)));
    if (!inside.length && !classes) throw new GraftValueError(`${dir}/${c}: no ${exts.join(', ')} files`);
    for (const e of inside) files.push({ path: `${dir}/${c}/${e.name}`, label });
  }
  return { files, classes: [...names] };
}

/** The folder's layout: train/ (with optional val/ or validation/, and test/) or class folders directly. */
async function partsOf(dir: string, exts: readonly string[]): Promise<Parts<FileList['files']>> {
  const top = (await listFolder(dir)).filter((e) => e.folder).map((e) => e.name);
  if (!top.includes('train')) {
    const all = await classFiles(dir, exts);
    return { train: all.files, val: null, test: null, classes: all.classes };
  }
  const train = await classFiles(`${dir}/train`, exts);
  const valName = top.includes('val') ? 'val' : top.includes('validation') ? 'validation' : null;
  const val = valName ? (await classFiles(`${dir}/${valName}`, exts, train.classes)).files : null;
  const test = top.includes('test') ? (await classFiles(`${dir}/test`, exts, train.classes)).files : null;
  return { train: train.files, val, test, classes: train.classes };
}

/** What a folder holds: images or texts, from its files' extensions. */
export async function folderKind(dir: string): Promise<'image' | 'text'> {
  const p = await partsOf(dir, [...IMAGE_EXTENSIONS, ...TEXT_EXTENSIONS]);
  const kinds = new Set(p.train.map((f) => (IMAGE_EXTENSIONS.includes(ext(f.path)) ? 'image' : 'text')));
  if (kinds.size > 1) throw new GraftValueError(`${dir}: holds both images and .txt files; a data folder holds one kind`);
  return kinds.has('text') ? 'text' : 'image';
}

/**
 * Images in class folders as datasets (PNG and JPEG; RGB in [0, 1], resized to `size`): `dir/<class>/*.png`,
 * or `dir/train/<class>/...` with optional `val/` (or `validation/`) and `test/`.
 */
export async function imageFolder(dir: string, o: ImageOptions = {}): Promise<Parts<Dataset>> {
  const p = await partsOf(dir, IMAGE_EXTENSIONS);
  const load = async (files: FileList['files']) =>
    imagesDataset(await Promise.all(files.map(async (f) => ({ src: (await readBytes(f.path)).bytes, label: f.label, name: f.path }))), p.classes, o);
  return { train: await load(p.train), val: p.val && (await load(p.val)), test: p.test && (await load(p.test)), classes: p.classes };
}

/** Texts in class folders, one UTF-8 .txt file per example, in the same layouts as imageFolder. */
export async function textFolder(dir: string): Promise<Parts<TextData>> {
  const p = await partsOf(dir, TEXT_EXTENSIONS);
  const load = async (files: FileList['files']): Promise<TextData> => ({
    texts: await Promise.all(files.map(async (f) => new TextDecoder().decode((await readBytes(f.path)).bytes))),
    y: Int32Array.from(files, (f) => f.label),
    classes: p.classes,
  });
  return { train: await load(p.train), val: p.val && (await load(p.val)), test: p.test && (await load(p.test)), classes: p.classes };
}

/** Fills in the parts a folder lacks with a seeded stratified split of its training examples. */
export function completeSplits<T extends { y: Int32Array }>(p: Parts<T>, take: (d: T, idx: number[]) => T, seed: number, what: string): { train: T; val: T; test: T; note: string } {
  if (p.val && p.test) return { train: p.train, val: p.val, test: p.test, note: 'validation and test from the folder' };
  const f = { val: p.val ? 0 : 0.15, test: p.test ? 0 : 0.15 };
  const s = stratifiedSplit(p.train.y, p.classes, f, seed, what);
  const note = `seeded split (seed ${seed}) of ${p.train.y.length} examples: ${s.train.length} train, ${p.val ? 'validation from the folder' : `${s.val.length} validation`}, ${p.test ? 'test from the folder' : `${s.test.length} test`}`;
  return { train: take(p.train, s.train), val: p.val ?? take(p.train, s.val), test: p.test ?? take(p.train, s.test), note };
}

export const takeDataset = (d: Dataset, idx: number[]): Dataset => subset(d, idx);
export const takeTexts = (d: TextData, idx: number[]): TextData => subsetTexts(d, idx);
