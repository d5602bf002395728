/** @file fromOnnx: an ONNX graph as a trainable graft Module, its initializers as parameters and buffers named as in the file. */
import { type Backend, GraftError, GraftFormatError, GraftValueError, Tensor, nn } from '../../index.js';
import { plainBytes } from '../import/bytes.js';
import { Attrs, ONNX_OPS, type OpContext } from './ops.js';
import { type GraphProto, type ModelProto, type NodeProto, type ValueInfoProto, decodeModel } from './proto.js';
import { protoTensor, protoValues } from './tensor.js';
import { Const, type Value } from './value.js';

export interface FromOnnxOptions {
  /** Named in errors (default '<bytes>'). */
  file?: string;
  /** Where parameters and buffers live (default: the current backend). */
  backend?: Backend;
}

/** Inputs BatchNormalization takes as running statistics: buffers, not parameters. */
const STATISTICS: Record<string, number[]> = { BatchNormalization: [3, 4] };

/**
 * An ONNX graph run by graft ops, so autograd trains it: float initializers of rank >= 1 are
 * Parameters, BatchNormalization statistics and scalars are buffers, integer initializers and
 * Constant nodes are constants, all under their initializer names (torch.onnx.export keeps
 * PyTorch's names: `layer1.0.conv1.weight`). `train()` and `eval()` switch BatchNormalization to
 * batch statistics and Dropout on, as in the PyTorch module the graph came from.
 */
export class OnnxModule extends nn.Module {
  private _nodes: NodeProto[];
  private readonly _consts = new Map<string, Const>();
  private readonly _inputs: ValueInfoProto[];
  private _outputs: string[];
  private readonly _opset: number;
  private readonly _file: string;
  private readonly _backend: Backend | undefined;
  private readonly _model: ModelProto;
  /** Names of this module's parameters and buffers (its own properties and buffer slots). */
  private readonly _tensorNames = new Set<string>();
  /** Where a replaced head takes its input, once replaceHead ran. */
  private _headInput: string | null = null;
  head?: nn.Module;

  constructor(model: ModelProto, opts: FromOnnxOptions = {}) {
    super();
    this._file = opts.file ?? '<bytes>';
    this._backend = opts.backend;
    this._model = model;
    const g = model.graph as GraphProto;
    const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
    this._opset = opset?.version ?? 1;
    const foreign = (model.graph?.node ?? []).filter((n) => n.domain && n.domain !== 'ai.onnx');
    if (foreign.length) this.fail(`operators of domain '${foreign[0]!.domain}' (${foreign[0]!.opType}) are not standard ONNX operators graft runs`);
    const unsupported = new Map<string, number>();
    for (const n of g.node ?? []) if (!Object.hasOwn(ONNX_OPS, n.opType ?? '')) unsupported.set(n.opType ?? '', (unsupported.get(n.opType ?? '') ?? 0) + 1);
    if (unsupported.size) this.fail(`unsupported operator${unsupported.size > 1 ? 's' : ''}: ${[...unsupported].map(([op, k]) => `${op} (${k} node${k > 1 ? 's' : ''})`).join(', ')}`);

    const stats = new Set<string>();
    for (const n of g.node ?? []) for (const i of STATISTICS[n.opType ?? ''] ?? []) if (n.input?.[i]) stats.add(n.input[i]!);
    const init = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
    // torch.onnx.export stores equal initializers once and names the copies through Identity nodes: each copy becomes its own tensor.
    const aliases = new Map<string, string>();
    this._nodes = (g.node ?? []).filter((n) => {
      if (n.opType === 'Identity' && init.has(n.input?.[0] ?? '') && n.output?.[0] && !init.has(n.output[0])) {
        aliases.set(n.output[0], n.input![0]!);
        return false;
      }
      return true;
    });
    for (const n of this._nodes) for (const i of STATISTICS[n.opType ?? ''] ?? []) if (aliases.has(n.input?.[i] ?? '')) stats.add(n.input![i]!);
    const used = new Set(this._nodes.flatMap((n) => n.input ?? []));
    for (const o of g.output ?? []) used.add(o.name ?? '');
    const addTensor = (name: string, source: string) => {
      const p = protoValues(init.get(source)!, this._file, `initializer '${source}'`);
      if (p.dtype !== 'f32') {
        this._consts.set(name, new Const(p.dtype, p.shape, Array.from(p.values)));
        return;
      }
      if (name.startsWith('_') || name in this) this.fail(`initializer '${name}' cannot name a module tensor (it starts with '_' or is a property of Module)`);
      const t = protoTensor(p, this._file, this._backend, `initializer '${source}'`);
      this._tensorNames.add(name);
      if (stats.has(name) || p.shape.length === 0) this.registerBuffer(name, t);
      else (this as unknown as Record<string, unknown>)[name] = new nn.Parameter(t);
    };
    for (const [name] of init) if (used.has(name)) addTensor(name, name);
    for (const [name, source] of aliases) if (used.has(name)) addTensor(name, source);
    this._inputs = (g.input ?? []).filter((i) => !init.has(i.name ?? ''));
    this._outputs = (g.output ?? []).map((o) => o.name ?? '');
    this.checkOrder();
  }

  private fail(msg: string): never {
    throw new GraftFormatError(`onnx: ${this._file}: ${msg}`);
  }

  /** Nodes must come in an order where every input exists before it is read (ONNX requires it). */
  private checkOrder(): void {
    const known = new Set<string>([...this._tensorNames, ...this._consts.keys(), ...this._inputs.map((i) => i.name ?? ''), '']);
    for (const n of this._nodes) {
      const missing = (n.input ?? []).find((i) => !known.has(i));
      if (missing !== undefined) this.fail(`node '${n.name || n.opType}' (${n.opType}) reads '${missing}', which no earlier node, input or initializer produces`);
      for (const o of n.output ?? []) known.add(o);
    }
    for (const o of this._outputs) if (!known.has(o)) this.fail(`graph output '${o}' is never produced`);
  }

  get inputNames(): string[] {
    return this._inputs.map((i) => i.name ?? '');
  }
  get outputNames(): string[] {
    return this._headInput ? ['output'] : [...this._outputs];
  }
  get opset(): number {
    return this._opset;
  }

  /** The first output for the inputs in graph order (PyTorch's module(x)). */
  forward(...inputs: Tensor[]): Tensor {
    return this.run(inputs).values().next().value!;
  }

  /** Every output by name, for inputs in graph order or by name. */
  run(inputs: readonly Tensor[] | Record<string, Tensor>): Map<string, Tensor> {
    const names = this.inputNames;
    const given = Array.isArray(inputs) ? inputs : names.map((n) => (inputs as Record<string, Tensor>)[n]);
    if (given.length !== names.length || given.some((t) => !(t instanceof Tensor))) {
      throw new GraftValueError(`onnx: ${this._file}: expected ${names.length} input tensor(s) (${names.join(', ')}), got ${Array.isArray(inputs) ? inputs.length : Object.keys(inputs).join(', ') || 'none'}`);
    }
    const env = new Map<string, Value>();
    for (const [k, v] of this._consts) env.set(k, v);
    for (const [k, p] of this.namedParameters()) env.set(k, p);
    for (const [k, b] of this.namedBuffers()) env.set(k, b);
    names.forEach((n, i) => env.set(n, given[i]!));
    for (const n of this._nodes) {
      const where = `${n.opType} node '${n.name || n.output?.[0] || ''}'`;
      const ctx: OpContext = { where, attrs: new Attrs(n.attribute ?? [], where), training: this.training, opset: this._opset, backend: this._backend, file: this._file, outputs: n.output?.length ?? 1 };
      let out: Value | (Value | undefined)[];
      try {
        out = ONNX_OPS[n.opType!]!((n.input ?? []).map((i) => (i ? env.get(i) : undefined)), ctx);
      } catch (e) {
        if (e instanceof GraftError && e.message.includes(where)) throw e;
        // An engine error (a shape mismatch) is re-raised with the node that caused it, keeping its class.
        const Cls = (e instanceof GraftError ? e.constructor : GraftError) as new (m: string) => Error;
        throw new Cls(`onnx: ${this._file}: ${where}: ${(e as Error).message}`);
      }
      const outs = Array.isArray(out) ? out : [out];
      (n.output ?? []).forEach((name, i) => {
        if (name && outs[i] !== undefined) env.set(name, outs[i]!);
      });
    }
    const tensorOf = (name: string): Tensor => {
      const v = env.get(name) ?? this.fail(`graph output '${name}' was not computed (its node returned fewer outputs than the graph names)`);
      return v instanceof Const ? protoTensor({ name, elem: 0, dtype: v.dtype, shape: [...v.shape], values: v.data }, this._file, this._backend) : v;
    };
    if (this._headInput) return new Map([['output', this.head!.forward(tensorOf(this._headInput))]]);
    return new Map(this._outputs.map((o) => [o, tensorOf(o)]));
  }

  /**
   * Cuts the graph and feeds `head` instead: `at` names a node (the head takes that node's first
   * input, so `replaceHead('/fc/Gemm', new nn.Linear(512, 3))` replaces ResNet's fc) or a value.
   * Nodes, parameters and buffers only the old head used are dropped.
   */
  replaceHead(at: string, head: nn.Module): this {
    const node = this._nodes.find((n) => n.name === at);
    const value = node ? node.input?.[0] : at;
    const produced = new Set([...this._nodes.flatMap((n) => n.output ?? []), ...this.inputNames]);
    if (!value || !produced.has(value)) {
      const names = this._nodes.slice(-5).map((n) => `'${n.name}' (${n.opType})`).join(', ');
      throw new GraftValueError(`replaceHead: '${at}' is neither a node nor a value of the graph (its last nodes: ${names})`);
    }
    // Keep only what computes the head's input.
    const needed = new Set([value]);
    const kept: NodeProto[] = [];
    for (let i = this._nodes.length - 1; i >= 0; i--) {
      const n = this._nodes[i]!;
      if (!(n.output ?? []).some((o) => needed.has(o))) continue;
      kept.unshift(n);
      for (const inp of n.input ?? []) if (inp) needed.add(inp);
    }
    this._nodes = kept;
    for (const name of [...this._tensorNames]) {
      if (needed.has(name)) continue;
      this._tensorNames.delete(name);
      if (Object.hasOwn(this, name)) delete (this as unknown as Record<string, unknown>)[name];
      else this.registerBuffer(name, null);
    }
    for (const name of [...this._consts.keys()]) if (!needed.has(name)) this._consts.delete(name);
    this._headInput = value;
    this.head = head;
    return this;
  }

  /** What toOnnx writes: the nodes, constants and inputs as they stand now, and where a head attaches. */
  graphParts(): { nodes: readonly NodeProto[]; consts: ReadonlyMap<string, Const>; inputs: readonly ValueInfoProto[]; outputs: readonly string[]; headInput: string | null; opset: number; model: ModelProto } {
    return { nodes: this._nodes, consts: this._consts, inputs: this._inputs, outputs: this._outputs, headInput: this._headInput, opset: this._opset, model: this._model };
  }

  override extraRepr(): string {
    return `${this._nodes.length} nodes, opset ${this._opset}, inputs ${this.inputNames.join(', ')}`;
  }
}

/** Builds a trainable Module from the bytes of an .onnx model (opset as the file declares it). */
export function fromOnnx(bytes: Uint8Array | ArrayBuffer, opts: FromOnnxOptions = {}): OnnxModule {
  const file = opts.file ?? '<bytes>';
  return new OnnxModule(decodeModel(plainBytes(bytes, `onnx: ${file}`), file), opts);
}
