/** @file Deterministic memory release: tidy() scopes and keep(), with a FinalizationRegistry as the safety net. */
import type { Storage } from './storage.js';
import type { Tensor } from './tensor.js';

const scopes: Tensor[][] = [];
const kept = new WeakSet<Tensor>();
// A tensor that is garbage-collected without dispose() gives its hold on the buffer back here.
const registry = new FinalizationRegistry<Storage>((storage) => storage.release());

/** Internal: called for every new tensor. */
export function track(t: Tensor): void {
  // The registry holds each storage until its callback runs, which a synchronous loop never lets
  // happen; memory the collector frees by itself is not registered.
  if (!t.storage.backend.gcManaged) registry.register(t, t.storage, t);
  scopes[scopes.length - 1]?.push(t);
}

/** Internal: called when a tensor is disposed explicitly. */
export function untrack(t: Tensor): void {
  registry.unregister(t);
}

/**
 * Exempts a tensor from disposal by the enclosing tidy() scopes. A kept tensor (optimizer state, a
 * gradient) will be read again, so a fused program that computes it writes it rather than leaving
 * it to be recomputed, from inputs it would keep alive, by every later program that reads it.
 */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  t.storage.saved = true;
  return t;
}

function collect(x: unknown, into: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(x)) into.add(x);
  else if (Array.isArray(x)) for (const v of x) collect(v, into, isTensor);
  else if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collect(v, into, isTensor);
}

/**
 * Runs fn and disposes every tensor created inside it except those it returns (in an array or a
 * plain object too) and those passed to keep(); returned tensors belong to the enclosing scope.
 */
export function tidy<T>(fn: () => T, isTensor: (v: unknown) => v is Tensor): T {
  const scope: Tensor[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new Error('tidy: fn must be synchronous (await outside tidy)');
  const survivors = new Set<Tensor>();
  collect(result, survivors, isTensor);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.push(t);
    else if (!kept.has(t)) t.dispose();
  }
  return result;
}
