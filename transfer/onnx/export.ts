/** @file toOnnx: a graft Module written as an ONNX model (imported graphs with their current weights, and the common layers) that onnxruntime runs. */
import { type DType, GraftValueError, type Tensor, nn } from '../../index.js';
import { OnnxModule } from './module.js';
import { type AttributeProto, ATTR, type NodeProto, type TensorProto, type ValueInfoProto, encodeModel } from './proto.js';
import { ONNX_TYPE, toProto } from './tensor.js';

export interface ToOnnxOptions {
  /** Input shape for a module that is not an imported graph (its first dimension is written as the dynamic `batch`). */
  inputShape?: readonly number[];
  /** Operator set to declare for such a module (default 17). An imported graph keeps its own. */
  opset?: number;
}

const int = (name: string, i: number): AttributeProto => ({ name, type: ATTR.INT, i });
const ints = (name: string, v: readonly number[]): AttributeProto => ({ name, type: ATTR.INTS, ints: [...v] });
const float = (name: string, f: number): AttributeProto => ({ name, type: ATTR.FLOAT, f });

/** Collects nodes and initializers; every name it hands out is unique in the graph. */
class Emitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();
  private readonly pending: [string, Tensor][] = [];
  constructor(readonly opset: number) {}

  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }
  node(opType: string, inputs: string[], attrs: AttributeProto[] = [], name = opType): string {
    const out = this.fresh(`${name}_output`);
    this.nodes.push({ opType, input: inputs, output: [out], name: this.fresh(name), attribute: attrs });
    return out;
  }
  /** An initializer from a tensor; its values are read when the model is written. */
  tensor(name: string, t: Tensor): string {
    const n = this.fresh(name);
    this.pending.push([n, t]);
    return n;
  }
  constant(name: string, dtype: DType, shape: readonly number[], values: readonly number[]): string {
    const n = this.fresh(name);
    this.initializers.push(toProto(n, dtype, shape, values));
    return n;
  }
  async finish(): Promise<void> {
    for (const [name, t] of this.pending) this.initializers.push(toProto(name, t.dtype, t.shape, await t.detach().contiguous().data()));
  }
}

const EXPORTABLE = 'OnnxModule, Sequential, Linear, Conv2d, BatchNorm1d/2d, LayerNorm, ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, Dropout, Flatten(1, -1), Identity';

/** Writes `m`'s computation from value `x` into `e`, naming its tensors `prefix` + their state-dict names; returns the output value. */
function emit(m: nn.Module, x: string, prefix: string, e: Emitter): string {
  const p = (k: string) => `${prefix}${k}`;
  if (m instanceof OnnxModule) return emitGraph(m, x, prefix, e)[0]!;
  if (m instanceof nn.Sequential) {
    let y = x;
    for (let i = 0; i < m.length; i++) y = emit(m[i]!, y, p(`${i}.`), e);
    return y;
  }
  if (m instanceof nn.Linear) {
    // MatMul against the transposed [out, in] weight works at any input rank; the weight keeps PyTorch's layout and name.
    const wt = e.node('Transpose', [e.tensor(p('weight'), m.weight)], [ints('perm', [1, 0])], p('Transpose'));
    const y = e.node('MatMul', [x, wt], [], p('MatMul'));
    return m.bias ? e.node('Add', [y, e.tensor(p('bias'), m.bias)], [], p('Add')) : y;
  }
  if (m instanceof nn.Conv2d) {
    if (typeof m.padding === 'string') throw new GraftValueError(`toOnnx: Conv2d '${prefix.slice(0, -1)}' has padding '${m.padding}'; only numeric padding is exported`);
    const [ph, pw] = m.padding;
    const inputs = [x, e.tensor(p('weight'), m.weight), ...(m.bias ? [e.tensor(p('bias'), m.bias)] : [])];
    return e.node('Conv', inputs, [ints('kernel_shape', m.kernelSize), ints('strides', m.stride), ints('pads', [ph, pw, ph, pw]), ints('dilations', m.dilation), int('group', m.groups)], p('Conv'));
  }
  if (m instanceof nn.BatchNorm) {
    const mean = m.getBuffer('running_mean');
    const variance = m.getBuffer('running_var');
    if (!mean || !variance) throw new GraftValueError(`toOnnx: BatchNorm '${prefix.slice(0, -1)}' tracks no running statistics`);
    const c = m.numFeatures;
    const scale = m.weight ? e.tensor(p('weight'), m.weight) : e.constant(p('weight'), 'f32', [c], new Array<number>(c).fill(1));
    const bias = m.bias ? e.tensor(p('bias'), m.bias) : e.constant(p('bias'), 'f32', [c], new Array<number>(c).fill(0));
    return e.node('BatchNormalization', [x, scale, bias, e.tensor(p('running_mean'), mean), e.tensor(p('running_var'), variance)], [float('epsilon', m.eps)], p('BatchNormalization'));
  }
  if (m instanceof nn.LayerNorm) {
    if (e.opset < 17) throw new GraftValueError(`toOnnx: LayerNorm '${prefix.slice(0, -1)}' needs opset 17 (LayerNormalization); the graph declares ${e.opset}`);
    const shape = m.normalizedShape;
    const size = shape.reduce((a, b) => a * b, 1);
    const scale = m.weight ? e.tensor(p('weight'), m.weight) : e.constant(p('weight'), 'f32', shape, new Array<number>(size).fill(1));
    const inputs = [x, scale, ...(m.bias ? [e.tensor(p('bias'), m.bias)] : [])];
    return e.node('LayerNormalization', inputs, [int('axis', -shape.length), float('epsilon', m.opts.eps ?? 1e-5)], p('LayerNormalization'));
  }
  if (m instanceof nn.ReLU) return e.node('Relu', [x], [], p('Relu'));
  if (m instanceof nn.ReLU6) return e.node('Clip', [x, e.constant(p('min'), 'f32', [], [0]), e.constant(p('max'), 'f32', [], [6])], [], p('Clip'));
  if (m instanceof nn.LeakyReLU) return e.node('LeakyRelu', [x], [float('alpha', m.negativeSlope)], p('LeakyRelu'));
  if (m instanceof nn.Sigmoid) return e.node('Sigmoid', [x], [], p('Sigmoid'));
  if (m instanceof nn.Tanh) return e.node('Tanh', [x], [], p('Tanh'));
  if (m instanceof nn.SiLU) return e.node('Mul', [x, e.node('Sigmoid', [x], [], p('Sigmoid'))], [], p('Mul'));
  if (m instanceof nn.GELU) {
    if (m.approximate === 'tanh') {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      const cube = e.node('Mul', [e.node('Mul', [x, x], [], p('Mul')), x], [], p('Mul'));
      const inner = e.node('Mul', [e.node('Add', [x, e.node('Mul', [cube, e.constant(p('c'), 'f32', [], [0.044715])], [], p('Mul'))], [], p('Add')), e.constant(p('k'), 'f32', [], [Math.sqrt(2 / Math.PI)])], [], p('Mul'));
      const t = e.node('Add', [e.node('Tanh', [inner], [], p('Tanh')), e.constant(p('one'), 'f32', [], [1])], [], p('Add'));
      return e.node('Mul', [e.node('Mul', [x, t], [], p('Mul')), e.constant(p('half'), 'f32', [], [0.5])], [], p('Mul'));
    }
    // 0.5 x (1 + erf(x / sqrt 2))
    const erf = e.node('Erf', [e.node('Div', [x, e.constant(p('sqrt2'), 'f32', [], [Math.SQRT2])], [], p('Div'))], [], p('Erf'));
    const t = e.node('Add', [erf, e.constant(p('one'), 'f32', [], [1])], [], p('Add'));
    return e.node('Mul', [e.node('Mul', [x, t], [], p('Mul')), e.constant(p('half'), 'f32', [], [0.5])], [], p('Mul'));
  }
  if (m instanceof nn.Softmax) {
    if (e.opset < 13) throw new GraftValueError(`toOnnx: Softmax '${prefix.slice(0, -1)}' needs opset 13 (per-axis Softmax); the graph declares ${e.opset}`);
    return e.node('Softmax', [x], [int('axis', m.dim)], p('Softmax'));
  }
  if (m instanceof nn.Dropout || m instanceof nn.Identity) return e.node('Identity', [x], [], p('Identity'));
  if (m instanceof nn.Flatten) {
    if (m.startDim !== 1 || m.endDim !== -1) throw new GraftValueError(`toOnnx: Flatten '${prefix.slice(0, -1)}' (${m.startDim}, ${m.endDim}) is not ONNX's Flatten; only Flatten(1, -1) is exported`);
    return e.node('Flatten', [x], [int('axis', 1)], p('Flatten'));
  }
  throw new GraftValueError(`toOnnx: cannot write ${m.constructor.name}${prefix ? ` at '${prefix.slice(0, -1)}'` : ''} as ONNX; exportable modules: ${EXPORTABLE}`);
}

/** An imported graph's nodes as they stand (after replaceHead), its tensors with their current values, then its head; returns its outputs. */
function emitGraph(m: OnnxModule, x: string | null, prefix: string, e: Emitter): string[] {
  const g = m.graphParts();
  const rename = new Map<string, string>();
  const input = g.inputs[0]?.name ?? '';
  if (g.inputs.length !== 1 && x !== null) throw new GraftValueError(`toOnnx: an imported graph inside another module must take one input, '${prefix.slice(0, -1)}' takes ${g.inputs.length}`);
  if (x !== null) rename.set(input, x);
  else for (const i of g.inputs) rename.set(i.name ?? '', e.fresh(i.name ?? ''));
  const name = (v: string) => {
    if (!v) return '';
    let r = rename.get(v);
    if (r === undefined) {
      r = e.fresh(`${prefix}${v}`);
      rename.set(v, r);
    }
    return r;
  };
  for (const [k, c] of g.consts) rename.set(k, e.constant(`${prefix}${k}`, c.dtype, c.shape, c.data));
  const own = new Map<string, Tensor>([...m.namedParameters(), ...m.namedBuffers()].filter(([k]) => !k.startsWith('head.')));
  for (const [k, t] of own) rename.set(k, e.tensor(`${prefix}${k}`, t));
  for (const n of g.nodes) e.nodes.push({ ...n, name: e.fresh(`${prefix}${n.name || n.opType}`), input: (n.input ?? []).map(name), output: (n.output ?? []).map(name) });
  if (g.headInput) return [emit(m.head!, name(g.headInput), `${prefix}head.`, e)];
  return g.outputs.map(name);
}

function valueInfo(name: string, elem: number, shape: readonly (number | string)[] | null): ValueInfoProto {
  return { name, type: { tensorType: { elemType: elem, ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}) } } };
}

/**
 * The bytes of an ONNX model computing `module`'s forward in eval mode, with its current weights
 * under their state-dict names: an imported graph (fine-tuned, with a replaced head) or a model of
 * the layers listed in the error for anything else.
 */
export async function toOnnx(module: nn.Module, opts: ToOnnxOptions = {}): Promise<Uint8Array> {
  let inputs: ValueInfoProto[];
  let outputs: string[];
  let e: Emitter;
  let imported: OnnxModule | null = null;
  if (module instanceof OnnxModule) {
    imported = module;
    const g = module.graphParts();
    e = new Emitter(g.opset);
    const outs = emitGraph(module, null, '', e);
    inputs = g.inputs.map((i) => ({ ...i }));
    if (g.headInput) {
      outputs = [e.fresh('output')];
      e.nodes.push({ opType: 'Identity', input: outs, output: outputs, name: e.fresh('output_Identity') });
    } else outputs = outs;
  } else {
    const shape = opts.inputShape ?? (() => {
      throw new GraftValueError(`toOnnx: ${module.constructor.name} is not an imported graph; pass { inputShape } (for example [1, 3, 224, 224])`);
    })();
    e = new Emitter(opts.opset ?? 17);
    const x = e.fresh('input');
    const y = emit(module, x, '', e);
    outputs = [e.fresh('output')];
    e.nodes.push({ opType: 'Identity', input: [y], output: outputs, name: e.fresh('output_Identity') });
    inputs = [valueInfo(x, ONNX_TYPE.f32, ['batch', ...shape.slice(1)])];
  }
  await e.finish();
  const model = imported?.graphParts().model;
  return encodeModel({
    irVersion: model?.irVersion ?? 8,
    producerName: 'graft',
    opsetImport: [{ domain: '', version: e.opset }],
    graph: {
      name: 'graft',
      node: e.nodes,
      initializer: e.initializers,
      input: inputs,
      output: outputs.map((o) => valueInfo(o, ONNX_TYPE.f32, null)),
    },
  });
}
