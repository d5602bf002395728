/** @file Module and Parameter with PyTorch's semantics: dotted names, state dicts, train/eval. */
import { noGrad, zeroGrads } from '../autograd.js';
import { GraftError, GraftStateError, fmtShape } from '../../core/errors.js';
import { keep } from '../memory.js';
import { Tensor } from '../tensor.js';
import { type DType, isFloat } from '../../core/dtype.js';

/** A tensor that a Module owns and trains; requiresGrad defaults to true. */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage.retain(), data.shape, data.strides, data.offset, data.dtype);
    this.requiresGrad = requiresGrad;
    keep(this);
  }

  /** A parameter that takes over `t`'s storage; `t` is disposed (for freshly made tensors). */
  static own(t: Tensor, requiresGrad = true): Parameter {
    const p = new Parameter(t, requiresGrad);
    t.dispose();
    return p;
  }

  /** A parameter with fresh f32 storage, zeros until its layer initialises it. */
  static uninit(shape: readonly number[]): Parameter {
    return Parameter.own(Tensor.full(shape, 0, 'f32'));
  }
}

export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Base class of layers and models. Parameters and submodules are found from the instance's own
 * properties in assignment order, as PyTorch's __setattr__ registers them; buffers (running
 * statistics) are registered by name with registerBuffer so state-dict keys match PyTorch's.
 */
/** Called after a module's forward with its inputs and output; a returned tensor replaces the output. */
export type ForwardHook = (module: Module, inputs: Tensor[], output: Tensor) => Tensor | void;

export abstract class Module {
  training = true;
  private readonly _buffers = new Map<string, { tensor: Tensor | null; persistent: boolean }>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Same as forward (PyTorch's module(x)). */
  call(...inputs: Tensor[]): Tensor {
    return this.forward(...inputs);
  }

  private _forwardHooks: ForwardHook[] = [];

  /**
   * Calls `hook(module, inputs, output)` after every forward of this module (PyTorch's
   * register_forward_hook): feature extraction from a layer inside a model. A hook that returns a
   * tensor replaces the output. The hook wraps this instance's forward, so it runs however the
   * forward is reached, and a hooked Conv2d is not folded with the BatchNorm after it.
   */
  registerForwardHook(hook: ForwardHook): { remove(): void } {
    if (typeof hook !== 'function') throw new GraftStateError(`registerForwardHook: expected a function, got ${typeof hook}`);
    if (!this._forwardHooks.length) {
      const own = this.forward;
      Object.defineProperty(this, 'forward', {
        configurable: true,
        enumerable: false,
        writable: true,
        value: (...inputs: Tensor[]) => {
          let out = own.apply(this, inputs);
          for (const h of [...this._forwardHooks]) out = h(this, inputs, out) ?? out;
          return out;
        },
      });
    }
    this._forwardHooks.push(hook);
    return {
      remove: () => {
        const at = this._forwardHooks.indexOf(hook);
        if (at >= 0) this._forwardHooks.splice(at, 1);
        if (!this._forwardHooks.length) delete (this as { forward?: unknown }).forward;
      },
    };
  }

  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    this._buffers.set(name, { tensor: tensor && keep(tensor), persistent });
  }
  getBuffer(name: string): Tensor | null {
    const b = this._buffers.get(name);
    if (!b) throw new GraftStateError(`${this.constructor.name} has no buffer '${name}'`);
    return b.tensor;
  }
  setBuffer(name: string, tensor: Tensor): void {
    const b = this._buffers.get(name);
    if (!b) throw new GraftStateError(`${this.constructor.name} has no buffer '${name}'`);
    b.tensor = keep(tensor);
  }

  private ownEntries(): [string, unknown][] {
    return Object.entries(this).filter(([k]) => !k.startsWith('_'));
  }

  namedChildren(): [string, Module][] {
    return this.ownEntries().filter((e): e is [string, Module] => e[1] instanceof Module);
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every submodule, with dotted names ('' for this one). */
  namedModules(prefix = '', seen = new Set<Module>()): [string, Module][] {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Parameters with dotted names such as `features.3.conv.weight`; shared ones appear once. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [k, v] of m.ownEntries()) {
        if (v instanceof Parameter && !seen.has(v)) {
          seen.add(v);
          out.push([path ? `${path}.${k}` : k, v]);
        }
      }
    }
    return out;
  }
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /**
   * Float parameters and buffers in f16 (PyTorch's module.half()); on WebGPU the adapter needs
   * shader-f16. The parameters are new tensors (the old ones are disposed): build optimizers after.
   */
  half(): this {
    return this.floatsTo('f16');
  }
  /** Float parameters and buffers in f32 (PyTorch's module.float()). */
  float(): this {
    return this.floatsTo('f32');
  }

  private floatsTo(dtype: DType): this {
    // A parameter shared between modules stays shared: each is cast once.
    const cast = new Map<Parameter, Parameter>();
    noGrad(() => {
      for (const m of this.modules()) {
        for (const [k, v] of m.ownEntries()) {
          if (!(v instanceof Parameter) || !isFloat(v.dtype) || v.dtype === dtype) continue;
          let next = cast.get(v);
          if (!next) cast.set(v, (next = new Parameter(v.cast(dtype), v.requiresGrad)));
          (m as unknown as Record<string, unknown>)[k] = next;
        }
        for (const b of m._buffers.values()) {
          if (!b.tensor || !isFloat(b.tensor.dtype) || b.tensor.dtype === dtype) continue;
          const old = b.tensor;
          b.tensor = keep(old.cast(dtype));
          old.dispose();
        }
      }
    });
    for (const old of cast.keys()) old.dispose();
    return this;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [k, b] of m._buffers) if (b.tensor) out.push([path ? `${path}.${k}` : k, b.tensor]);
    }
    return out;
  }

  /** Sets training mode here and below (dropout and batch statistics follow it). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient (PyTorch's default set_to_none). */
  /** As Optimizer.zeroGrad: frees the gradients (the default), or zeroes them in place with setToNone false. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    zeroGrads(this.parameters(), opts.setToNone ?? true);
  }

  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Calls fn on every submodule, children first, then on this one. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Parameters and persistent buffers by dotted name, in PyTorch's order (per module: parameters, buffers). */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [path, m] of this.namedModules()) {
      const key = (k: string) => (path ? `${path}.${k}` : k);
      for (const [k, v] of m.ownEntries()) if (v instanceof Parameter) sd.set(key(k), v.detach());
      for (const [k, b] of m._buffers) if (b.tensor && b.persistent) sd.set(key(k), b.tensor.detach());
    }
    return sd;
  }

  /**
   * Copies tensors from `stateDict` into this module's parameters and buffers. A shape mismatch
   * always throws; with strict (the default) missing or unexpected keys throw too.
   */
  loadStateDict(stateDict: StateDict | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const given = stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));
    const errors: string[] = [];
    for (const [k, target] of own) {
      const src = given.get(k);
      if (src && (src.ndim !== target.ndim || src.shape.some((d, i) => d !== target.shape[i]))) {
        errors.push(`size mismatch for ${k}: copying a param with shape ${fmtShape(src.shape)} from checkpoint, the shape in current model is ${fmtShape(target.shape)}.`);
      }
    }
    if (strict) {
      if (missingKeys.length) errors.unshift(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
      if (unexpectedKeys.length) errors.unshift(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    }
    if (errors.length) throw new GraftError(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`);
    noGrad(() => {
      for (const [k, target] of own) {
        const src = given.get(k);
        if (src) target.copy_(src.cast(target.dtype));
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Extra text shown in this module's line of toString(). */
  extraRepr(): string {
    return '';
  }

  toString(): string {
    const kids = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (!kids.length) return `${head})`;
    const lines = kids.map(([n, m]) => `  (${n}): ${m.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}
