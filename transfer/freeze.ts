/** @file Freezing by name pattern or depth (BatchNorm statistics frozen with the layer), per-block learning rates, gradual unfreezing. */
import { GraftError, type Tensor, nn } from '../index.js';

/**
 * Which parameters a freeze, unfreeze or group takes. A glob over dotted names ('*' within one
 * segment, '**' across segments) selects a parameter when it matches its full name or the name of a
 * module that contains it, so 'features.0' and 'features.*' both select 'features.0.conv.weight'. A
 * RegExp is tested against full parameter names only (as `re.match(p, name)` over
 * named_parameters() is in PyTorch code), so /^(?!1\.)/ leaves '1.weight' alone. A function gets
 * each parameter's name and the parameter.
 */
export type Pattern = string | RegExp | ((name: string, param: nn.Parameter) => boolean);

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^.]*';
    } else if (c === '?') re += '[^.]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether a parameter (its dotted name, and the parameter where there is one) is selected. */
type Matcher = (name: string, param?: nn.Parameter) => boolean;

function matcher(patterns: readonly Pattern[]): Matcher {
  const globs = patterns.filter((p): p is string => typeof p === 'string').map(globToRegExp);
  const res = patterns.filter((p): p is RegExp => p instanceof RegExp);
  const fns = patterns.filter((p): p is (name: string, param: nn.Parameter) => boolean => typeof p === 'function');
  return (name, param) => {
    if (res.some((r) => r.test(name)) || (param && fns.some((f) => f(name, param)))) return true;
    const parts = name.split('.');
    for (let k = parts.length; k >= 1; k--) {
      const prefix = parts.slice(0, k).join('.');
      if (globs.some((r) => r.test(prefix))) return true;
    }
    return false;
  };
}

function setTrainable(model: nn.Module, patterns: readonly Pattern[], trainable: boolean): string[] {
  const hit = patterns.length ? matcher(patterns) : () => true;
  const changed: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (hit(name, p)) {
      p.requiresGrad = trainable;
      changed.push(name);
    }
  }
  // A BatchNorm whose parameters are all frozen (or that has none and is selected) keeps its statistics.
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof nn.BatchNorm)) continue;
    const own = m.parameters();
    const first = own[0] as nn.Parameter | undefined;
    const selected = own.length ? own.every((p) => p.requiresGrad === trainable) && hit(`${name ? `${name}.` : ''}weight`, first) : hit(name || '');
    if (selected) m.statsFrozen = !trainable;
  }
  if (patterns.length && changed.length === 0) {
    throw new GraftError(`freeze: no parameter matches ${patterns.map(String).join(', ')} (names look like '${model.namedParameters()[0]?.[0] ?? ''}')`);
  }
  return changed;
}

/**
 * Freezes the parameters the patterns select (all, when none are given): they get no gradient, no
 * optimizer state, and no backward work runs through a frozen prefix. BatchNorm layers inside keep
 * their running statistics, also after a later train(). Returns the frozen names.
 */
export function freeze(model: nn.Module, ...patterns: Pattern[]): string[] {
  return setTrainable(model, patterns, false);
}

/** Undoes freeze for the selected parameters and their BatchNorm statistics. */
export function unfreeze(model: nn.Module, ...patterns: Pattern[]): string[] {
  return setTrainable(model, patterns, true);
}

/** The ordered blocks of a model: the children of the module at `path` ('' for the model itself). */
export function blocksOf(model: nn.Module, path = ''): [string, nn.Module][] {
  let m: nn.Module | undefined = model;
  for (const part of path ? path.split('.') : []) m = m?.namedChildren().find(([n]) => n === part)?.[1];
  if (!m) throw new GraftError(`blocksOf: the model has no module '${path}'`);
  return m.namedChildren().map(([n, c]) => [path ? `${path}.${n}` : n, c]);
}

/** Freezes everything except the last `trainable` blocks of `path` and everything outside it. */
export function freezeAllBut(model: nn.Module, trainable: number, path = ''): string[] {
  const blocks = blocksOf(model, path);
  if (trainable < 0 || trainable > blocks.length) throw new GraftError(`freezeAllBut: ${trainable} trainable blocks requested, '${path || 'model'}' has ${blocks.length}`);
  const frozen = blocks.slice(0, blocks.length - trainable).map(([n]) => n);
  unfreeze(model);
  return frozen.length ? freeze(model, ...frozen) : [];
}

export interface GroupSpec {
  pattern: Pattern | Pattern[];
  lr: number;
  weightDecay?: number;
}

/**
 * Optimizer parameter groups for discriminative fine-tuning: each trainable parameter joins the
 * first group whose pattern selects it, else a last group with the optimizer's defaults.
 */
export function paramGroups(model: nn.Module, specs: GroupSpec[]): { params: Tensor[]; lr?: number; weightDecay?: number }[] {
  const hits = specs.map((s) => matcher(Array.isArray(s.pattern) ? s.pattern : [s.pattern]));
  const groups: { params: Tensor[]; lr?: number; weightDecay?: number }[] = specs.map((s) => ({ params: [], lr: s.lr, ...(s.weightDecay !== undefined ? { weightDecay: s.weightDecay } : {}) }));
  const rest: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    const i = hits.findIndex((h) => h(name, p as nn.Parameter));
    (i >= 0 ? groups[i]!.params : rest).push(p);
  }
  if (rest.length) groups.push({ params: rest });
  return groups.filter((g) => g.params.length);
}

/** Layer-wise learning-rate decay: the last block of `path` gets baseLr, each earlier one `decay` times less. */
export function layerwiseLr(model: nn.Module, baseLr: number, decay: number, path = ''): GroupSpec[] {
  const blocks = blocksOf(model, path);
  return blocks.map(([name], i) => ({ pattern: name, lr: baseLr * decay ** (blocks.length - 1 - i) }));
}

/**
 * Gradual unfreezing (ULMFiT): starts with only the blocks after `path`'s last `initial` trainable
 * and unfreezes one more block, from the top down, every `every` epochs.
 */
export class GradualUnfreezer {
  private readonly blocks: string[];
  constructor(
    private readonly model: nn.Module,
    readonly path = '',
    readonly every = 1,
    readonly initial = 0,
  ) {
    this.blocks = blocksOf(model, path).map(([n]) => n);
    freezeAllBut(model, initial, path);
  }

  /** Call at the start of each epoch; returns the names of the blocks now trainable. */
  epoch(e: number): string[] {
    const open = Math.min(this.blocks.length, this.initial + Math.floor(e / this.every));
    const trainable = this.blocks.slice(this.blocks.length - open);
    for (const b of trainable) unfreeze(this.model, b);
    return trainable;
  }
}
