/** @file ONNX weights and node lists without running the graph: initializers as a state dict, nodes with their attributes, single TensorProtos. */
import { type Backend, GraftFormatError, type Tensor } from '../../index.js';
import { type AttributeProto, ATTR, decodeModel, decodeTensor } from '../onnx/proto.js';
import { protoTensor, protoValues } from '../onnx/tensor.js';
import { plainBytes } from './bytes.js';
import type { LoadedStateDict } from './safetensors.js';

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Integer, float, string and list attributes (strides, pads, group, epsilon, ...). */
  attrs: Record<string, number | string | number[]>;
}

/** An attribute as a plain value: a number, a string, or a list of numbers (tensor and graph attributes are left out). */
export function attrValue(a: AttributeProto): number | string | number[] | undefined {
  switch (a.type) {
    case ATTR.FLOAT: return a.f ?? 0;
    case ATTR.INT: return a.i ?? 0;
    case ATTR.STRING: return new TextDecoder().decode(a.s ?? new Uint8Array());
    case ATTR.FLOATS: return a.floats ?? [];
    case ATTR.INTS: return a.ints ?? [];
    default: return undefined;
  }
}

/** The graph's nodes in order, with their attributes (no execution; for mapping weights onto layers). */
export function loadOnnxNodes(bytes: Uint8Array | ArrayBuffer, opts: { file?: string } = {}): OnnxNode[] {
  const file = opts.file ?? '<bytes>';
  const m = decodeModel(plainBytes(bytes, `onnx: ${file}`), file);
  return (m.graph!.node ?? []).map((n) => {
    const attrs: OnnxNode['attrs'] = {};
    for (const a of n.attribute ?? []) {
      const v = attrValue(a);
      if (v !== undefined) attrs[a.name ?? ''] = v;
    }
    return { opType: n.opType ?? '', inputs: n.input ?? [], outputs: n.output ?? [], attrs };
  });
}

/** One serialized TensorProto (the test data's input_0.pb and output_0.pb). */
export function loadOnnxTensor(bytes: Uint8Array | ArrayBuffer, opts: { file?: string; backend?: Backend } = {}): { name: string; tensor: Tensor } {
  const file = opts.file ?? '<bytes>';
  const p = protoValues(decodeTensor(plainBytes(bytes, `onnx: ${file}`), file), file);
  return { name: p.name, tensor: protoTensor(p, file, opts.backend) };
}

/** The weights (graph initializers) of an .onnx model, by initializer name. */
export function loadOnnxInitializers(bytes: Uint8Array | ArrayBuffer, opts: { file?: string; backend?: Backend } = {}): LoadedStateDict {
  const file = opts.file ?? '<bytes>';
  const m = decodeModel(plainBytes(bytes, `onnx: ${file}`), file);
  const tensors = new Map<string, Tensor>();
  for (const t of m.graph!.initializer ?? []) {
    const name = t.name ?? '';
    if (tensors.has(name)) throw new GraftFormatError(`onnx: ${file}: initializer '${name}' appears twice`);
    const what = `initializer '${name}'`;
    tensors.set(name, protoTensor(protoValues(t, file, what), file, opts.backend, what));
  }
  return { tensors, metadata: m.producerName ? { producer_name: m.producerName } : {} };
}
