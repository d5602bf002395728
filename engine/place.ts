/** @file Putting a strided slice's values back into a zero tensor of the full shape, written with tensor ops (the gradients of slice and unfold, a strided convolution's phases). */
import type { Tensor } from './tensor.js';

/** g (a slice of `shape` taken from `starts` by `steps`) put back in place: zeros between strided elements and around. */
export function placeSlice(g: Tensor, shape: readonly number[], starts: readonly number[], steps: readonly number[]): Tensor {
  // Every strided axis spread in one pad: a unit axis after it takes step - 1 zeros.
  const spread = g.shape.map((n, d) => steps[d]! > 1 && n > 0);
  let r = g;
  if (spread.some(Boolean)) {
    const shapeWithUnits = g.shape.flatMap((n, d) => (spread[d] ? [n, 1] : [n]));
    const pads = g.shape.flatMap((_, d): [number, number][] => (spread[d] ? [[0, 0], [0, steps[d]! - 1]] : [[0, 0]]));
    r = g.reshape(shapeWithUnits).pad(pads).reshape(g.shape.map((n, d) => (spread[d] ? n * steps[d]! : n)));
  }
  // The spread's trailing step - 1 zeros may reach past the shape: the pad then crops them.
  const pads = shape.map((size, d): [number, number] => [starts[d]!, size - starts[d]! - r.shape[d]!]);
  return pads.some(([a, b]) => a !== 0 || b !== 0) ? r.pad(pads) : r;
}
