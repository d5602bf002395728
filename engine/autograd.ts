/** @file Reverse-mode autograd: graph nodes, the grad-mode switch and backward(). */
import { GraftShapeError, GraftStateError, fmtShape } from '../core/errors.js';
import type { OpAttrs, OpName } from '../ops/schema.js';
import { GRADS, type GradRule } from './grad.js';
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
}

/** Accumulates d(root)/d(leaf) into every leaf's `.grad` that requires grad. */
export function backward(root: Tensor, grad: Tensor | undefined, opts: BackwardOptions, ones: (like: Tensor) => Tensor): void {
  if (!root.requiresGrad) {
    throw new GraftStateError(`backward: tensor of shape ${fmtShape(root.shape)} does not require grad and has no grad_fn`);
  }
  let seed: Tensor;
  if (grad === undefined) {
    if (root.size !== 1) {
      throw new GraftStateError(`backward: grad can be implicitly created only for scalar outputs, got shape ${fmtShape(root.shape)}`);
    }
    seed = ones(root);
  } else {
    if (grad.shape.length !== root.shape.length || grad.shape.some((d, i) => d !== root.shape[i])) {
      throw new GraftShapeError(`backward: gradient shape ${fmtShape(grad.shape)} does not match tensor shape ${fmtShape(root.shape)}`);
    }
    seed = grad;
  }
  noGrad(() => {
    if (!root.gradFn) {
      root.accumulateGrad(seed);
      return;
    }
    const nodes = topoOrder(root);
    const grads = new Map<Node, Tensor>([[root.gradFn, seed]]);
    for (const node of nodes) {
      const g = grads.get(node);
      grads.delete(node);
      if (!g) continue;
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
        } else x.accumulateGrad(gi);
      });
      if (!opts.retainGraph) node.release();
    }
  });
}
