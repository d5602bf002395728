/** @file A small declarative mapper from foreign weight names and layouts onto graft's. */
import { GraftError, type Tensor } from '../index.js';

/** Changes a tensor's layout on the way in: a permutation, a new shape, or any function. */
export type Transform = { permute: number[] } | { reshape: number[] } | ((t: Tensor, key: string) => Tensor);

export type Rule =
  | { exact: string; to: string; transform?: Transform }
  | { prefix: string; to: string; transform?: Transform }
  /** `to` may use $1, $2, ... from the pattern's groups. */
  | { regex: RegExp; to: string; transform?: Transform }
  | { drop: RegExp };

export interface MapResult {
  tensors: Map<string, Tensor>;
  /** Keys no rule touched (they pass through under their own names). */
  untouched: string[];
  dropped: string[];
}

function applyTransform(t: Tensor, tr: Transform | undefined, key: string): Tensor {
  if (!tr) return t;
  if (typeof tr === 'function') return tr(t, key);
  return 'permute' in tr ? t.permute(tr.permute).contiguous() : t.reshape(tr.reshape);
}

/** Rules are tried in order and the first that matches a key decides its new name and layout. */
export class WeightMapper {
  constructor(readonly rules: Rule[]) {}

  rename(key: string): { to: string; transform?: Transform } | 'drop' | null {
    for (const r of this.rules) {
      if ('drop' in r) {
        if (r.drop.test(key)) return 'drop';
      } else if ('exact' in r) {
        if (key === r.exact) return { to: r.to, transform: r.transform };
      } else if ('prefix' in r) {
        if (key.startsWith(r.prefix)) return { to: r.to + key.slice(r.prefix.length), transform: r.transform };
      } else {
        const m = r.regex.exec(key);
        if (m && m[0] === key) return { to: key.replace(r.regex, r.to), transform: r.transform };
      }
    }
    return null;
  }

  map(source: Map<string, Tensor>): MapResult {
    const tensors = new Map<string, Tensor>();
    const untouched: string[] = [];
    const dropped: string[] = [];
    for (const [key, t] of source) {
      const r = this.rename(key);
      if (r === 'drop') {
        dropped.push(key);
        continue;
      }
      const name = r ? r.to : key;
      if (!r) untouched.push(key);
      if (tensors.has(name)) throw new GraftError(`WeightMapper: keys map onto the same name '${name}' (the second is '${key}')`);
      tensors.set(name, applyTransform(t, r?.transform, key));
    }
    return { tensors, untouched, dropped };
  }
}
