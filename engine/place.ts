/** @file Putting a strided slice's values back into a zero tensor of the full shape, written with tensor ops (the gradients of slice and unfold, a strided convolution's phases). */
import type { Tensor } from './tensor.js';

/** g (a slice of `shape` taken from `starts` by `steps`) put back in place: zeros between strided elements and around. */
export function placeSlice(g: Tensor, shape: readonly number[], starts: readonly number[], steps: readonly number[]): Tensor {
  let r = g;
  for (let d = 0; d < r.shape.length; d++) {
    const [n, step] = [r.shape[d]!, steps[d]!];
    if (step === 1 || n === 0) continue;
    const pads = r.shape.map((): [number, number] => [0, 0]);
    pads.splice(d + 1, 0, [0, step - 1]);
    r = r.unsqueeze(d + 1).pad(pads).reshape(r.shape.map((s, i) => (i === d ? n * step : s)));
  }
  // The spread's trailing step - 1 zeros may reach past the shape: the pad then crops them.
  return r.pad(shape.map((size, d): [number, number] => [starts[d]!, size - starts[d]! - r.shape[d]!]));
}
