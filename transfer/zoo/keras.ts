/** @file A Keras functional model rebuilt as graft modules (NCHW), with its weights mapped from channels-last. */
import { GraftFormatError, type Tensor, functional as F, nn } from '../../index.js';
import type { KerasLayerConfig, LoadedTfjs } from '../import/tfjsLayers.js';

type Cfg = Record<string, unknown>;
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, v[1] as number] : [v as number, v as number]);

/** The clamp a ReLU-family activation is, which a convolution can apply in its kernel; undefined for others. */
function asClamp(name: unknown, maxValue?: number | null): [number, number] | undefined {
  if (name === 'relu') return [0, maxValue ?? Infinity];
  if (name === 'relu6') return [0, 6];
  return undefined;
}

function activate(x: Tensor, name: unknown): Tensor {
  switch (name ?? 'linear') {
    case 'linear': return x;
    case 'relu': return x.relu();
    case 'relu6': return x.clamp(0, 6);
    case 'sigmoid': return x.sigmoid();
    case 'tanh': return x.tanh();
    case 'softmax': return F.softmax(x, 1);
    default: throw new GraftFormatError(`keras: activation '${String(name)}' is not supported`);
  }
}

/** TensorFlow's 'same' padding per side, [top, bottom] and [left, right]: the total is split with the odd pixel at the bottom and right. */
function samePads(x: Tensor, kernel: [number, number], stride: [number, number], dilation: [number, number]): [[number, number], [number, number]] {
  const pads = [0, 1].map((i) => {
    const size = x.shape[2 + i]!;
    const out = Math.ceil(size / stride[i]!);
    const total = Math.max((out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)] as [number, number];
  });
  return [pads[0]!, pads[1]!];
}

/** Conv2D and DepthwiseConv2D with Keras padding and activation. */
export class KerasConv extends nn.Conv2d {
  constructor(inC: number, outC: number, readonly cfg: Cfg, groups: number) {
    super(inC, outC, pair(cfg.kernel_size), { stride: pair(cfg.strides ?? 1), dilation: pair(cfg.dilation_rate ?? 1), groups, bias: cfg.use_bias !== false });
  }
  override forward(x: Tensor): Tensor {
    const clamp = asClamp(this.cfg.activation);
    return clamp ? this.convForward(x, this.weight, this.bias, clamp) : activate(super.forward(x), this.cfg.activation);
  }
  override convForward(x: Tensor, weight: Tensor, bias: Tensor | null, clamp?: [number, number]): Tensor {
    if (this.cfg.padding !== 'same') return super.convForward(x, weight, bias, clamp);
    const [[top, bottom], [left, right]] = samePads(x, this.kernelSize, this.stride, this.dilation);
    // Even padding is the convolution's own (no padded copy of the input); only the odd pixel needs one.
    const input = bottom > top || right > left ? x.pad([[0, 0], [0, 0], [0, bottom - top], [0, right - left]]) : x;
    return F.conv2d(input, weight, bias, { stride: this.stride, padding: [top, left], dilation: this.dilation, groups: this.groups, clamp });
  }
  /** No activation: a BatchNorm after it folds into it. */
  get linear(): boolean {
    return (this.cfg.activation ?? 'linear') === 'linear';
  }
}

export class KerasDense extends nn.Linear {
  constructor(inF: number, outF: number, readonly activation: unknown, bias: boolean) {
    super(inF, outF, { bias });
  }
  override forward(x: Tensor): Tensor {
    return activate(super.forward(x), this.activation);
  }
}

class Lambda extends nn.Module {
  constructor(private readonly fn: (x: Tensor) => Tensor, private readonly label: string) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
  override extraRepr(): string {
    return this.label;
  }
}

interface GraphNode {
  name: string;
  className: string;
  inputs: string[];
  /** For ReLU-family activation layers: the clamp they apply (what a folded convolution can apply in its kernel). */
  clamp?: [number, number];
  /** The layer's property name on the model ('' for layers without a module: Input, Add). */
  key: string;
}

/**
 * A Keras functional model as graft modules, each Keras layer a child named after it (so state-dict
 * keys read `block_13_expand.weight`, `bn_Conv1.running_mean`). Inputs and activations are NCHW;
 * Flatten flattens in channels-last order, as Keras does, so Dense weights keep their meaning.
 */
export class KerasModel extends nn.Module {
  private readonly _graph: GraphNode[] = [];
  private readonly _outputs: string[];
  private _shapes = new Map<string, number[]>();
  /**
   * Linear convolutions whose only reader is a BatchNorm (and that BatchNorm's only reader a ReLU,
   * when it is): [conv, bn, relu?] by the conv's name, run as one folded convolution.
   */
  private readonly _chains = new Map<string, GraphNode[]>();

  constructor(loaded: LoadedTfjs) {
    super();
    const cfg = loaded.model.modelTopology.model_config;
    if (!cfg || !Array.isArray(cfg.config?.layers)) throw new GraftFormatError('keras: model.json has no model_config.config.layers');
    if (cfg.class_name !== 'Model' && cfg.class_name !== 'Functional') throw new GraftFormatError(`keras: model class '${cfg.class_name}' is not a functional Model`);
    this._outputs = cfg.config.output_layers.map((o) => o[0]);
    const channels = new Map<string, number>();
    for (const layer of cfg.config.layers) this.addLayer(layer, channels, loaded.weights);
    const readers = new Map<string, GraphNode[]>();
    for (const n of this._graph) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
    const only = (n: GraphNode) => (readers.get(n.name)?.length === 1 && !this._outputs.includes(n.name) ? readers.get(n.name)![0]! : undefined);
    for (const n of this._graph) {
      const conv = this.module(n);
      const bn = only(n);
      if (!(conv instanceof KerasConv && conv.linear && bn?.className === 'BatchNormalization')) continue;
      const relu = only(bn);
      this._chains.set(n.name, relu?.clamp ? [n, bn, relu] : [n, bn]);
    }
  }

  private module(node: GraphNode): nn.Module | undefined {
    return node.key ? (this as unknown as Record<string, nn.Module>)[node.key] : undefined;
  }

  private addLayer(layer: KerasLayerConfig, channels: Map<string, number>, weights: Map<string, Tensor>): void {
    const c = layer.config;
    const inputs = (layer.inbound_nodes[0] ?? []).map((n) => n[0]);
    for (const i of inputs) {
      if (!channels.has(i)) throw new GraftFormatError(`keras: layer '${layer.name}' takes its input from layer '${i}', which is not an earlier layer`);
    }
    const inC = channels.get(inputs[0] ?? '') ?? 0;
    // Sizes in the topology are checked against the weights before anything is allocated from them.
    const w = (suffix: string, shape?: (number | null)[]): Tensor => {
      const t = weights.get(`${layer.name}/${suffix}`);
      if (!t) throw new GraftFormatError(`keras: layer '${layer.name}' has no weight '${layer.name}/${suffix}'`);
      if (shape && (t.ndim !== shape.length || shape.some((d, i) => d !== null && d !== t.shape[i]))) {
        throw new GraftFormatError(`keras: layer '${layer.name}': weight '${suffix}' has shape [${t.shape.join(',')}], the layer's config needs [${shape.map((d) => d ?? '?').join(',')}]`);
      }
      return t;
    };
    let module: nn.Module | null = null;
    let clamp: [number, number] | undefined;
    let out = inC;
    const sd = new Map<string, Tensor>();
    switch (layer.class_name) {
      case 'InputLayer': {
        const shape = c.batch_input_shape as (number | null)[];
        out = shape[shape.length - 1] as number;
        this._shapes.set(layer.name, shape.slice(1) as number[]);
        break;
      }
      case 'ZeroPadding2D': {
        const p = c.padding as number | [number, number] | [[number, number], [number, number]];
        const [ph, pw] = typeof p === 'number' ? [[p, p], [p, p]] : typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : (p as [[number, number], [number, number]]);
        module = new Lambda((x) => x.pad([[0, 0], [0, 0], ph as [number, number], pw as [number, number]]), `padding=${JSON.stringify(p)}`);
        break;
      }
      case 'Conv2D': {
        out = c.filters as number;
        const k = w('kernel', [null, null, inC, out]);
        const bias = c.use_bias !== false ? w('bias', [out]) : null;
        module = new KerasConv(inC, out, c, 1);
        sd.set('weight', k.permute([3, 2, 0, 1]));
        if (bias) sd.set('bias', bias);
        break;
      }
      case 'DepthwiseConv2D': {
        const mult = (c.depth_multiplier as number | undefined) ?? 1;
        out = inC * mult;
        const k = w('depthwise_kernel', [null, null, inC, mult]); // [kh, kw, in, mult] -> [in * mult, 1, kh, kw]
        const bias = c.use_bias !== false ? w('bias', [out]) : null;
        module = new KerasConv(inC, out, c, inC);
        sd.set('weight', k.permute([2, 3, 0, 1]).reshape([out, 1, k.shape[0]!, k.shape[1]!]));
        if (bias) sd.set('bias', bias);
        break;
      }
      case 'BatchNormalization': {
        module = new nn.BatchNorm2d(inC, { eps: (c.epsilon as number) ?? 1e-3, momentum: 1 - ((c.momentum as number) ?? 0.99) });
        sd.set('weight', c.scale === false ? w('moving_mean').mul(0).add(1) : w('gamma'));
        sd.set('bias', c.center === false ? w('moving_mean').mul(0) : w('beta'));
        sd.set('running_mean', w('moving_mean'));
        sd.set('running_var', w('moving_variance'));
        sd.set('num_batches_tracked', (module as nn.BatchNorm).getBuffer('num_batches_tracked')!);
        break;
      }
      case 'ReLU': {
        const max = c.max_value as number | null | undefined;
        // Keras ReLU's negative_slope and threshold default to 0: otherwise it is not a clamp.
        if (!c.negative_slope && !c.threshold) clamp = asClamp('relu', max);
        module = new Lambda((x) => (max == null ? x.relu() : x.clamp(0, max)), `max_value=${max ?? 'none'}`);
        break;
      }
      case 'Activation':
        module = new Lambda((x) => activate(x, c.activation), String(c.activation));
        clamp = asClamp(c.activation);
        break;
      case 'Add':
      case 'Concatenate':
        out = layer.class_name === 'Add' ? inC : inputs.reduce((s, i) => s + (channels.get(i) ?? 0), 0);
        break;
      case 'AveragePooling2D':
      case 'MaxPooling2D': {
        if (c.padding === 'same') throw new GraftFormatError(`keras: layer '${layer.name}': 'same' pooling is not supported`);
        const k = pair(c.pool_size);
        const opts = { stride: pair(c.strides ?? k) };
        module = layer.class_name === 'AveragePooling2D' ? new nn.AvgPool2d(k, opts) : new nn.MaxPool2d(k, opts);
        break;
      }
      case 'GlobalAveragePooling2D':
        module = new Lambda((x) => x.mean([2, 3]), 'mean over H, W');
        break;
      case 'Flatten':
        module = new Lambda((x) => (x.ndim === 4 ? x.permute([0, 2, 3, 1]).flatten(1) : x.flatten(1)), 'channels-last order');
        break;
      case 'Dense': {
        out = c.units as number;
        const k = w('kernel', [null, out]); // [in, out]
        const bias = c.use_bias !== false ? w('bias', [out]) : null;
        module = new KerasDense(k.shape[0]!, out, c.activation, c.use_bias !== false);
        sd.set('weight', k.transpose(0, 1).contiguous());
        if (bias) sd.set('bias', bias);
        break;
      }
      case 'Dropout':
        module = new nn.Dropout(c.rate as number);
        break;
      default:
        throw new GraftFormatError(`keras: layer '${layer.name}' of class ${layer.class_name} is not supported`);
    }
    channels.set(layer.name, out);
    let key = '';
    if (module) {
      key = layer.name in this || layer.name.startsWith('_') ? `${layer.name}_layer` : layer.name;
      (this as unknown as Record<string, nn.Module>)[key] = module;
      if (sd.size) module.loadStateDict(sd);
    }
    this._graph.push({ name: layer.name, className: layer.class_name, inputs, key, clamp });
  }

  /** Keras layer names in graph order. */
  layerNames(): string[] {
    return this._graph.map((n) => n.name);
  }

  /** The input shape Keras declared, channels-last without the batch: [H, W, C]. */
  inputShape(): number[] {
    return this._shapes.values().next().value ?? [];
  }

  /** Runs the graph on an NCHW batch; with `until`, stops at that layer and returns its output. */
  forward(x: Tensor, until?: string | Tensor): Tensor {
    const stop = typeof until === 'string' ? until : undefined;
    return stop ? this.outputsOf(x, [stop]).get(stop)! : this.outputsOf(x, []).get(this._outputs[0]!)!;
  }

  /** The outputs of the named layers in one pass (the model's output when `names` is empty). */
  outputsOf(x: Tensor, names: readonly string[]): Map<string, Tensor> {
    for (const n of names) if (!this._graph.some((g) => g.name === n)) throw new GraftFormatError(`keras: no layer named '${n}'`);
    const wanted = new Set(names.length ? names : [this._outputs[0]!]);
    const last = Math.max(...this._graph.map((g, i) => (wanted.has(g.name) ? i : -1)));
    const values = new Map<string, Tensor>();
    // A chain runs as one folded convolution at its last layer; it ends early at a layer asked for by name.
    const runAt = new Map<string, GraphNode[]>();
    const skipped = new Set<string>();
    for (const chain of this._chains.values()) {
      const cut = chain.findIndex((n) => wanted.has(n.name));
      const used = cut < 0 ? chain : chain.slice(0, cut + 1);
      if (used.length < 2) continue;
      for (const n of used.slice(0, -1)) skipped.add(n.name);
      runAt.set(used[used.length - 1]!.name, used);
    }
    for (const node of this._graph) {
      if (skipped.has(node.name)) continue;
      let y: Tensor;
      const chain = runAt.get(node.name);
      if (node.className === 'InputLayer') y = x;
      else if (chain) {
        const [conv, bn, relu] = chain as [GraphNode, GraphNode, GraphNode?];
        y = nn.convBatchNorm(this.module(conv) as KerasConv, this.module(bn) as nn.BatchNorm, values.get(conv.inputs[0]!)!, relu?.clamp);
      } else {
        const ins = node.inputs.map((i) => values.get(i)!);
        if (node.className === 'Add') y = ins.slice(1).reduce((a, b) => a.add(b), ins[0]!);
        else if (node.className === 'Concatenate') y = F.concat(ins, 1);
        else y = this.module(node)!.forward(ins[0]!);
      }
      values.set(node.name, y);
      if (this._graph.indexOf(node) === last) break;
    }
    return new Map([...wanted].map((n) => [n, values.get(n)!]));
  }
}
