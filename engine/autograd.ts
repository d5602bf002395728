/** @file Reverse-mode autograd: graph nodes, the grad-mode switch and backward(). */
import { GraftShapeError, GraftStateError, fmtShape } from '../core/errors.js';
import type { OpAttrs, OpName } from '../ops/schema.js';
import { GRADS, type GradRule } from './grad.js';
import { withoutAutocast } from './amp/autocast.js';
import type { Tensor } from './tensor.js';

/** One recorded op application: what backward needs to call its gradient rule. */
export class Node<K extends OpName = OpName> {
  released = false;
  /** The storages' versions when the op ran: an in-place write since then would give a wrong gradient (PyTorch's version check). */
  private readonly versions: number[];
  constructor(
    readonly op: K,
    public inputs: Tensor[],
    public out: Tensor | null,
    readonly attrs: OpAttrs[K],
  ) {
    this.versions = [...inputs, out!].map((t) => t.storage.version);
  }

  /** Throws when a tensor this node saved was written in place after the op ran. */
  checkVersions(): void {
    [...this.inputs, this.out!].forEach((t, i) => {
      if (t.storage.version !== this.versions[i]) {
        const what = i < this.inputs.length ? `input ${i}` : 'output';
        throw new GraftStateError(
          `backward: ${this.op}'s ${what} ${fmtShape(t.shape)} (${t.dtype}), saved for its gradient, was modified by an in-place operation: it is at version ${t.storage.version}, expected ${this.versions[i]} (compute it out of place, or clone it before the in-place op)`,
        );
      }
    });
  }

  /** The gradients of the inputs, from the op's rule (nodes are recorded only for ops that have one). */
  gradient(g: Tensor, needs: readonly boolean[]): (Tensor | null)[] {
    const rule: GradRule<K> | null = GRADS[this.op];
    return rule!(g, this.inputs, this.out!, this.attrs, needs);
  }

  /** Drops the saved tensors so their memory can go; a second backward then fails clearly. */
  release(): void {
    this.inputs = [];
    this.out = null;
    this.released = true;
  }
}

let gradDisabled = 0;

export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** Runs fn with graph recording off (PyTorch's torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    return fn();
  } finally {
    gradDisabled--;
  }
}

/** Runs fn with graph recording on, even inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const saved = gradDisabled;
  gradDisabled = 0;
  try {
    return fn();
  } finally {
    gradDisabled = saved;
  }
}

/** Nodes reachable from root, each after every node that consumes its output. */
function topoOrder(root: Tensor): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: [Node, number][] = [];
  if (root.gradFn) stack.push([root.gradFn, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i === 0) {
      if (seen.has(node)) {
        stack.pop();
        continue;
      }
      seen.add(node);
      if (node.released) {
        throw new GraftStateError(
          `backward: the graph through ${node.op} was already freed by an earlier backward (pass {retainGraph: true} to backward twice)`,
        );
      }
    }
    if (i < node.inputs.length) {
      top[1]++;
      const next = node.inputs[i]!.gradFn;
      if (next && !seen.has(next)) stack.push([next, 0]);
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

export interface BackwardOptions {
  retainGraph?: boolean;
  /**
   * Records the backward pass itself, so the gradients can be differentiated again (PyTorch's
   * create_graph: gradient penalties, MAML); the graph is then kept unless retainGraph is false.
   */
  createGraph?: boolean;
}

/** The gradient `grad` given for `root`, or ones for a one-element root. */
function seedOf(op: string, root: Tensor, grad: Tensor | undefined): Tensor {
  if (!root.requiresGrad) {
    throw new GraftStateError(`${op}: tensor of shape ${fmtShape(root.shape)} does not require grad and has no grad_fn`);
  }
  if (grad === undefined) {
    if (root.size !== 1) throw new GraftStateError(`${op}: grad can be implicitly created only for scalar outputs, got shape ${fmtShape(root.shape)}`);
    return root.newOnes(root.shape);
  }
  if (grad.shape.length !== root.shape.length || grad.shape.some((d, i) => d !== root.shape[i])) {
    throw new GraftShapeError(`${op}: gradient shape ${fmtShape(grad.shape)} does not match tensor shape ${fmtShape(root.shape)}`);
  }
  return grad;
}

/**
 * Sends `seed` back from `root` through the graph: `leaf(x, g)` gets each contribution to a leaf
 * that requires grad, `reached(node, g)` each node's whole output gradient as it is expanded.
 * Recorded (createGraph) or not.
 */
function propagate(root: Tensor, seed: Tensor, opts: BackwardOptions, leaf: (x: Tensor, g: Tensor) => void, reached: (node: Node, g: Tensor) => void = () => {}): void {
  const retain = opts.retainGraph ?? opts.createGraph ?? false;
  const run = () => {
    if (!root.gradFn) {
      leaf(root, seed);
      return;
    }
    const nodes = topoOrder(root);
    const grads = new Map<Node, Tensor>([[root.gradFn, seed]]);
    for (const node of nodes) {
      const g = grads.get(node);
      grads.delete(node);
      if (!g) continue;
      reached(node, g);
      node.checkVersions();
      const needs = node.inputs.map((x) => x.requiresGrad);
      const inGrads = node.gradient(g, needs);
      node.inputs.forEach((x, i) => {
        const gi = inGrads[i];
        if (!gi || !x.requiresGrad) return;
        if (gi.shape.length !== x.shape.length || gi.shape.some((d, k) => d !== x.shape[k])) {
          throw new GraftShapeError(`backward: gradient of ${node.op} input ${i} has shape ${fmtShape(gi.shape)}, expected ${fmtShape(x.shape)}`);
        }
        if (x.gradFn) {
          const prev = grads.get(x.gradFn);
          grads.set(x.gradFn, prev ? prev.add(gi) : gi);
        } else leaf(x, gi);
      });
      if (!retain) node.release();
    }
  };
  // Gradients keep the dtypes of the forward pass: backward never autocasts.
  if (opts.createGraph) withoutAutocast(() => enableGrad(run));
  else withoutAutocast(() => noGrad(run));
}

/** Accumulates d(root)/d(leaf) into every leaf's `.grad` that requires grad. */
export function backward(root: Tensor, grad: Tensor | undefined, opts: BackwardOptions): void {
  const seed = seedOf('backward', root, grad);
  propagate(root, seed, opts, (x, g) => x.accumulateGrad(g));
}

export interface GradOptions extends BackwardOptions {
  /** The gradient of each output (ones for one-element outputs when left out). */
  gradOutputs?: (Tensor | undefined)[];
  /** An input the outputs do not depend on gives null rather than an error. */
  allowUnused?: boolean;
}

/**
 * The gradients of the sum of `outputs` with respect to each of `inputs`, leaving every `.grad`
 * alone (torch.autograd.grad). With createGraph the results are themselves differentiable.
 */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  inputs.forEach((x, i) => {
    if (!x.requiresGrad) throw new GraftStateError(`grad: input ${i} ${fmtShape(x.shape)} does not require grad`);
  });
  const found: (Tensor | null)[] = inputs.map(() => null);
  const add = (i: number, g: Tensor) => (found[i] = found[i] ? found[i]!.add(g) : g);
  outs.forEach((root, k) => {
    const seed = seedOf('grad', root, opts.gradOutputs?.[k]);
    // Every output but the last walks a graph the next one may share.
    const last = k === outs.length - 1;
    const o = { ...opts, retainGraph: last ? opts.retainGraph : true };
    const seen = (x: Tensor, g: Tensor) => inputs.forEach((y, i) => y === x && add(i, g));
    propagate(root, seed, o, seen, (node, g) => inputs.forEach((y, i) => y.gradFn === node && add(i, g)));
  });
  found.forEach((g, i) => {
    if (!g && !opts.allowUnused) throw new GraftStateError(`grad: input ${i} ${fmtShape(inputs[i]!.shape)} was not used to compute the outputs (pass allowUnused: true for null)`);
  });
  return found;
}

/** Optimizer.zeroGrad and Module.zeroGrad over `params`: free the gradients, or zero them in place. */
export function zeroGrads(params: Iterable<Tensor>, setToNone: boolean): void {
  for (const p of params) {
    if (!p.grad) continue;
    if (setToNone) {
      p.grad.dispose();
      p.grad = null;
    } else noGrad(() => p.grad!.zero_());
  }
}
