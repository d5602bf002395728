/** @file Containers: Sequential (which runs a Conv2d and the BatchNorm after it as one folded convolution in eval mode), ModuleList and ModuleDict. */
import { GraftStateError, GraftValueError } from '../../core/errors.js';
import type { Tensor } from '../tensor.js';
import { convBatchNorm } from './fold.js';
import { Conv2d } from './layers.js';
import { Module } from './module.js';
import { BatchNorm } from './norm.js';

/** A conv whose forward is its plain convolution, followed by a BatchNorm that only normalises: the pair convBatchNorm folds. */
function foldable(conv: Module | undefined, bn: Module | undefined): [Conv2d, BatchNorm] | null {
  return conv instanceof Conv2d && conv.forward === Conv2d.prototype.forward && bn instanceof BatchNorm && bn.forward === BatchNorm.prototype.forward ? [conv, bn] : null;
}

/** Runs its children in order; children are named '0', '1', ... */
export class Sequential extends Module {
  [index: number]: Module;
  readonly length: number;
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => (this[i] = m));
    this.length = modules.length;
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.length; i++) {
      const pair = foldable(this[i], this[i + 1]);
      if (pair) {
        y = convBatchNorm(pair[0], pair[1], y);
        i++;
      } else y = this[i]!.forward(y);
    }
    return y;
  }
}

/** Holds submodules in a list, named '0', '1', ...; it has no forward of its own. */
export class ModuleList extends Module {
  [index: number]: Module;
  length = 0;
  constructor(modules: Module[] = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: Module): this {
    this[this.length++] = m;
    return this;
  }
  *[Symbol.iterator](): Iterator<Module> {
    for (let i = 0; i < this.length; i++) yield this[i]!;
  }
  forward(): Tensor {
    throw new GraftStateError('ModuleList has no forward; iterate over it instead');
  }
}

/** Holds submodules by name (torch.nn.ModuleDict): each name is its state-dict prefix; it has no forward of its own. */
export class ModuleDict extends Module {
  private readonly _names: string[] = [];
  constructor(modules: Record<string, Module> | Iterable<[string, Module]> = {}) {
    super();
    for (const [k, m] of Symbol.iterator in modules ? (modules as Iterable<[string, Module]>) : Object.entries(modules)) this.set(k, m);
  }
  /** Adds or replaces `name`; a name that would shadow a property of the module, or that holds a dot, is refused, as PyTorch refuses it. */
  set(name: string, m: Module): this {
    if (!(m instanceof Module)) throw new GraftValueError(`ModuleDict.set: '${name}' must be a Module, got ${typeof m}`);
    if (name === '' || name.includes('.') || name.startsWith('_')) throw new GraftValueError(`ModuleDict.set: '${name}' is not a valid module name (no dots, not empty, not starting with _)`);
    const own = this as unknown as Record<string, unknown>;
    if (!this._names.includes(name) && name in this) throw new GraftValueError(`ModuleDict.set: '${name}' would shadow an attribute of the module`);
    if (!this._names.includes(name)) this._names.push(name);
    own[name] = m;
    return this;
  }
  get(name: string): Module | undefined {
    return this._names.includes(name) ? ((this as unknown as Record<string, Module>)[name]) : undefined;
  }
  has(name: string): boolean {
    return this._names.includes(name);
  }
  delete(name: string): boolean {
    const at = this._names.indexOf(name);
    if (at < 0) return false;
    this._names.splice(at, 1);
    delete (this as unknown as Record<string, unknown>)[name];
    return true;
  }
  keys(): string[] {
    return [...this._names];
  }
  entries(): [string, Module][] {
    return this._names.map((k) => [k, this.get(k)!]);
  }
  get size(): number {
    return this._names.length;
  }
  forward(): Tensor {
    throw new GraftStateError('ModuleDict has no forward; call its modules instead');
  }
}
