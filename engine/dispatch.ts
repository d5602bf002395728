/** @file apply(): the single path by which every primitive runs, on the inputs' backend, recording autograd. */
import { Node, isGradEnabled } from './autograd.js';
import type { TensorView } from './backend.js';
import { GraftError, fmtShape } from './errors.js';
import { recordElementwise } from './lazy.js';
import { OPS, type OpAttrs, type ElementwiseOp, type OpName, type OpSpec } from './ops.js';
import { contiguousStrides, sizeOf } from './shape.js';
import { Tensor } from './tensor.js';

export function viewOf(t: Tensor): TensorView {
  return { buffer: t.storage.buffer, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset };
}

/** Applies primitive `op` to `inputs`: checks shapes and dtypes, runs the kernel or makes the view, records the node. */
export function apply<K extends OpName>(op: K, inputs: Tensor[], attrs: OpAttrs[K]): Tensor {
  const spec = OPS[op] as OpSpec<K>; // SpecOf<K> narrowed per name; here K is any op
  for (const t of inputs) t.assertAlive(op);
  const backend = inputs[0]?.storage.backend;
  if (backend && inputs.some((t) => t.storage.backend !== backend)) {
    throw new GraftError(`${op}: inputs live on different backends (${inputs.map((t) => t.storage.backend.name).join(', ')})`);
  }
  const meta = spec.infer(inputs, attrs);
  let out: Tensor;
  if (spec.kind === 'view') {
    const x = inputs[0]!;
    const v = spec.view({ shape: [...x.shape], strides: [...x.strides], offset: x.offset }, attrs);
    if (v === null) return apply(op, [apply('contiguous', [x], {})], attrs);
    out = Tensor.viewOf(x, v.shape, v.strides, v.offset);
  } else if ((spec.kind === 'unary' || spec.kind === 'binary' || spec.kind === 'ternary') && backend?.runExpr && sizeOf(meta.shape) > 0) {
    // Recorded, not run: the backend gets the whole expression when its values are needed.
    const storage = recordElementwise(op as ElementwiseOp /* its kind says so */, inputs, meta.shape, meta.dtype, attrs, backend);
    out = new Tensor(storage, [...meta.shape], contiguousStrides(meta.shape), 0, meta.dtype);
  } else {
    let made: Tensor | undefined;
    try {
      made = Tensor.empty(meta.shape, meta.dtype, backend);
      if (made.size > 0) backend!.run(op, inputs.map(viewOf), viewOf(made), attrs);
    } catch (e) {
      made?.dispose();
      if (e instanceof GraftError && !e.message.startsWith(`${op}:`)) {
        e.message = `${op} on ${inputs.map((t) => `${fmtShape(t.shape)} ${t.dtype}`).join(', ')}: ${e.message}`;
      }
      throw e;
    }
    out = made;
  }
  if (spec.grad && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.gradFn = new Node(op, inputs, out, attrs);
    out.setRequiresGradInternal();
    for (const t of inputs) t.storage.saved = true;
    out.storage.saved = true;
  }
  return out;
}
