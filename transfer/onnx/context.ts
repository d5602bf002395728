/** @file What every ONNX operator in graft sees: a node's attributes with their defaults, its context, and its inputs as tensors or as constants known while the graph runs. */
import { type Backend, GraftValueError, type Tensor, fmtShape } from '../../index.js';
import { attrValue } from '../import/onnx.js';
import type { AttributeProto } from './proto.js';
import { CONST_LIMIT, Const, type Value, asTensor } from './value.js';

/** One node's attributes, read with their ONNX defaults. */
export class Attrs {
  private readonly map = new Map<string, AttributeProto>();
  constructor(
    list: readonly AttributeProto[],
    private readonly where: string,
  ) {
    for (const a of list) this.map.set(a.name ?? '', a);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  private value(name: string): number | string | number[] | undefined {
    const a = this.map.get(name);
    return a ? attrValue(a) : undefined;
  }
  int(name: string, dflt: number): number {
    const v = this.value(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be an integer, got ${JSON.stringify(v)}`);
    return v;
  }
  float(name: string, dflt: number): number {
    const v = this.value(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'number') throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  ints(name: string): number[] | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be a list of integers, got ${JSON.stringify(v)}`);
    return v;
  }
  string(name: string, dflt: string): string {
    const v = this.value(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'string') throw new GraftValueError(`onnx: ${this.where}: attribute ${name} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  raw(name: string): AttributeProto | undefined {
    return this.map.get(name);
  }
}

export interface OpContext {
  /** The node as errors name it: `Conv node '/conv1/Conv'`. */
  where: string;
  attrs: Attrs;
  training: boolean;
  opset: number;
  backend: Backend | undefined;
  file: string;
  /** How many outputs the node names (Split without sizes divides into that many). */
  outputs: number;
}

export type Inputs = readonly (Value | undefined)[];

export type OnnxOp = (inputs: Inputs, ctx: OpContext) => Value | (Value | undefined)[];

export function fail(ctx: OpContext, msg: string): never {
  throw new GraftValueError(`onnx: ${ctx.where}: ${msg}`);
}

export function need(ctx: OpContext, inputs: Inputs, i: number): Value {
  return inputs[i] ?? fail(ctx, `input ${i} is missing`);
}

export function T(ctx: OpContext, inputs: Inputs, i: number): Tensor {
  return asTensor(need(ctx, inputs, i), ctx.backend, ctx.where);
}

/** An input that must be known while building (a shape, axes, pads): computed values are refused by name. */
export function C(ctx: OpContext, inputs: Inputs, i: number, what: string): Const {
  const v = need(ctx, inputs, i);
  if (v instanceof Const) return v;
  // A small value fed as a graph input (as onnxruntime allows) is read where reading is synchronous: on the CPU.
  const small = v.dtype === 'f32' ? v.size <= 16 : v.size <= CONST_LIMIT;
  if (small && v.storage.backend.readSync) return new Const(v.dtype, v.shape, Array.from(v.dataSync()));
  return fail(ctx, `${what} (input ${i}) must be a constant, computed from shapes and initializers, or a small tensor on the CPU; here it is computed data ${fmtShape(v.shape)} on ${v.storage.backend.name}`);
}

export function optConst(ctx: OpContext, inputs: Inputs, i: number, what: string): Const | undefined {
  return inputs[i] === undefined ? undefined : C(ctx, inputs, i, what);
}

/** Inputs that are all small constants, or null (then the op runs on tensors). */
export function consts(inputs: Inputs): Const[] | null {
  if (!inputs.length || inputs.some((v) => !(v instanceof Const) || v.size > CONST_LIMIT)) return null;
  return inputs as Const[];
}

export function axis(ctx: OpContext, a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank) fail(ctx, `axis ${a} is out of range for rank ${rank}`);
  return r;
}
