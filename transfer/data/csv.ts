/** @file CSV files (parsed by csv-parse) as labelled data: numeric feature columns, or a text column, plus a label column. */
import { parse } from 'csv-parse/sync';
import { GraftFormatError, GraftValueError } from '../../index.js';
import { type Source, readText } from '../io.js';
import type { Dataset } from './dataset.js';
import type { TextData } from './text.js';

export interface CsvOptions {
  /** The label column's name or index (default: the column named 'label', else the last). */
  label?: string | number;
  /** The text column's name, for text data (default: a column named 'text', if there is one). */
  text?: string;
}

export type CsvData = { kind: 'numeric'; data: Dataset; columns: string[] } | { kind: 'text'; data: TextData };

/** A header row, then one example per row. Labels become classes in sorted order (numerically when all are numbers). */
export async function csv(src: Source, o: CsvOptions = {}): Promise<CsvData> {
  const { text, name } = await readText(src);
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, trim: true, bom: true }) as string[][];
  } catch (e) {
    throw new GraftFormatError(`${name}: not valid CSV: ${(e as Error).message}`);
  }
  if (rows.length < 2) throw new GraftFormatError(`${name}: needs a header row and at least one example, has ${rows.length} row${rows.length === 1 ? '' : 's'}`);
  const header = rows[0]!;
  const col = (key: string | number, what: string): number => {
    const i = typeof key === 'number' ? key : header.indexOf(key);
    if (i < 0 || i >= header.length || !Number.isInteger(i)) throw new GraftValueError(`${name}: no ${what} column ${JSON.stringify(key)} (columns: ${header.join(', ')})`);
    return i;
  };
  const labelAt = o.label !== undefined ? col(o.label, 'label') : header.includes('label') ? header.indexOf('label') : header.length - 1;
  const textAt = o.text !== undefined ? col(o.text, 'text') : header.indexOf('text');
  const body = rows.slice(1);
  const raw = body.map((r) => r[labelAt] ?? '');
  const numericLabels = raw.every((l) => l !== '' && Number.isFinite(Number(l)));
  const classes = [...new Set(raw)].sort((a, b) => (numericLabels ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  const y = Int32Array.from(raw, (l) => classes.indexOf(l));
  if (textAt >= 0) return { kind: 'text', data: { texts: body.map((r) => r[textAt] ?? ''), y, classes } };
  const features = header.map((_, i) => i).filter((i) => i !== labelAt);
  if (!features.length) throw new GraftValueError(`${name}: only a label column; numeric data needs feature columns`);
  const x = new Float32Array(body.length * features.length);
  body.forEach((r, n) => {
    features.forEach((c, k) => {
      const v = Number(r[c]);
      if (r[c] === undefined || r[c] === '' || !Number.isFinite(v)) {
        throw new GraftFormatError(`${name}: row ${n + 2}, column '${header[c]}': ${JSON.stringify(r[c] ?? '')} is not a number (numeric CSV data; name a text column with a 'text' header)`);
      }
      x[n * features.length + k] = v;
    });
  });
  return { kind: 'numeric', data: { x, y, n: body.length, shape: [features.length], classes }, columns: features.map((c) => header[c]!) };
}

/** Column-wise standardisation with the training set's mean and standard deviation, applied to every part. */
export function standardize(train: Dataset, ...others: Dataset[]): Dataset[] {
  const f = train.shape[0]!;
  const mean = new Float64Array(f);
  const sq = new Float64Array(f);
  for (let i = 0; i < train.n; i++) for (let k = 0; k < f; k++) mean[k]! += train.x[i * f + k]! / train.n;
  for (let i = 0; i < train.n; i++) for (let k = 0; k < f; k++) sq[k]! += (train.x[i * f + k]! - mean[k]!) ** 2 / train.n;
  const std = Array.from(sq, (v) => Math.sqrt(v) || 1);
  return [train, ...others].map((d) => ({ ...d, x: d.x.map((v, i) => (v - mean[i % f]!) / std[i % f]!) }));
}
