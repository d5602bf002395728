/** @file ONNX's elementwise operators (arithmetic, comparisons, activations, Clip, Cast, Constant): tensor ops, and JavaScript for constants. */
import { type DType, type Tensor, functional as F, where } from '../../index.js';
import { protoValues } from './tensor.js';
import { type Inputs, type OnnxOp, type OpContext, T, consts, fail, need, optConst } from './context.js';
import { Const, type Value, constMap } from './value.js';

/** Elementwise ops of two or more inputs: a JavaScript form for constants and a tensor form. */
function binary(js: (a: number, b: number) => number, op: (a: Tensor, b: Tensor) => Tensor, out?: DType): OnnxOp {
  return (inputs, ctx) => {
    const cs = consts(inputs);
    if (cs) return cs.slice(1).reduce((acc, c) => constMap([acc, c], out ?? acc.dtype, js, ctx.where), cs[0]!);
    let acc = T(ctx, inputs, 0);
    for (let i = 1; i < inputs.length; i++) acc = op(acc, T(ctx, inputs, i));
    return acc;
  };
}

function unary(js: ((x: number) => number) | null, op: (x: Tensor, ctx: OpContext) => Tensor): OnnxOp {
  return (inputs, ctx) => {
    const cs = js ? consts(inputs.slice(0, 1)) : null;
    if (cs) return constMap(cs, cs[0]!.dtype, js!, ctx.where);
    return op(T(ctx, inputs, 0), ctx);
  };
}

const truncDiv = (a: number, b: number) => Math.trunc(a / b);

/**
 * floor() from graft's truncating cast: trunc(x), one less where that rounded up (negative
 * non-integers). Values from 2^23 up are integers already, and NaN and infinities pass through.
 */
function floor(x: Tensor): Tensor {
  const t = x.cast('i32').cast('f32');
  const f = t.sub(x.lt(t).cast('f32'));
  return where(x.abs().ge(2 ** 23).logicalOr(x.ne(x)), x, f).detach();
}

function castTo(ctx: OpContext, to: number): DType {
  // FLOAT, DOUBLE, FLOAT16, BFLOAT16 -> f32; the integer types -> i32; BOOL -> bool.
  if ([1, 10, 11, 16].includes(to)) return 'f32';
  if ([2, 3, 4, 5, 6, 7, 12, 13].includes(to)) return 'i32';
  if (to === 9) return 'bool';
  return fail(ctx, `Cast to ONNX type ${to} is not supported`);
}

const castValue = (x: number, d: DType) => (d === 'i32' ? Math.trunc(x) : d === 'bool' ? (x ? 1 : 0) : Math.fround(x));

function clip(inputs: Inputs, ctx: OpContext): Value {
  // Opset 11 moved min and max from attributes to optional inputs.
  const lo = ctx.opset >= 11 ? optConst(ctx, inputs, 1, 'min')?.data[0] : ctx.attrs.float('min', -Infinity);
  const hi = ctx.opset >= 11 ? optConst(ctx, inputs, 2, 'max')?.data[0] : ctx.attrs.float('max', Infinity);
  const cs = consts(inputs.slice(0, 1));
  if (cs) return constMap(cs, cs[0]!.dtype, (v) => Math.min(Math.max(v, lo ?? -Infinity), hi ?? Infinity), ctx.where);
  const x = T(ctx, inputs, 0);
  if (lo === 0 && hi === undefined) return x.relu();
  if (lo === 0 && hi === 6) return F.relu6(x);
  return x.clamp(lo ?? null, hi ?? null);
}

const sum = binary((a, b) => a + b, (a, b) => a.add(b));

/** Elementwise operators by ONNX name. */
export const ELEMENTWISE_OPS: Record<string, OnnxOp> = {
  Identity: (inputs, ctx) => need(ctx, inputs, 0),
  Constant: (_inputs, ctx) => {
    const a = ctx.attrs;
    const t = a.raw('value')?.t;
    if (t) {
      const p = protoValues(t, ctx.file, `${ctx.where} value`);
      return new Const(p.dtype, p.shape, Array.from(p.values));
    }
    if (a.has('value_float')) return Const.scalar(a.float('value_float', 0), 'f32');
    if (a.has('value_int')) return Const.scalar(a.int('value_int', 0));
    if (a.has('value_floats')) return Const.vector(a.raw('value_floats')!.floats ?? [], 'f32');
    if (a.has('value_ints')) return Const.vector(a.ints('value_ints')!);
    return fail(ctx, 'a Constant without a value, value_float(s) or value_int(s) attribute');
  },
  Add: binary((a, b) => a + b, (a, b) => a.add(b)),
  Sub: binary((a, b) => a - b, (a, b) => a.sub(b)),
  Mul: binary((a, b) => a * b, (a, b) => a.mul(b)),
  Div: (inputs, ctx) => {
    const cs = consts(inputs);
    if (cs) return constMap(cs, cs[0]!.dtype, cs[0]!.dtype === 'i32' ? truncDiv : (a, b) => a / b, ctx.where);
    const [a, b] = [T(ctx, inputs, 0), T(ctx, inputs, 1)];
    if (a.dtype !== 'f32') fail(ctx, `integer division of computed ${a.dtype} values is not supported`);
    return a.div(b);
  },
  Pow: binary((a, b) => a ** b, (a, b) => a.pow(b)),
  Max: binary(Math.max, (a, b) => a.maximum(b)),
  Min: binary(Math.min, (a, b) => a.minimum(b)),
  Sum: sum,
  Mean: (inputs, ctx) => {
    const s = sum(inputs, ctx) as Value;
    return s instanceof Const ? constMap([s], s.dtype, (v) => v / inputs.length, ctx.where) : s.div(inputs.length);
  },
  Equal: binary((a, b) => +(a === b), (a, b) => a.eq(b), 'bool'),
  Less: binary((a, b) => +(a < b), (a, b) => a.lt(b), 'bool'),
  LessOrEqual: binary((a, b) => +(a <= b), (a, b) => a.le(b), 'bool'),
  Greater: binary((a, b) => +(a > b), (a, b) => a.gt(b), 'bool'),
  GreaterOrEqual: binary((a, b) => +(a >= b), (a, b) => a.ge(b), 'bool'),
  And: binary((a, b) => +(a && b), (a, b) => a.logicalAnd(b), 'bool'),
  Or: binary((a, b) => +(a || b), (a, b) => a.logicalOr(b), 'bool'),
  Not: unary((x) => +!x, (x) => x.logicalNot()),
  Where: (inputs, ctx) => {
    const cs = consts(inputs);
    if (cs) return constMap(cs, cs[1]!.dtype, (c, a, b) => (c ? a : b), ctx.where);
    return T(ctx, inputs, 1).where(T(ctx, inputs, 0).cast('bool'), T(ctx, inputs, 2));
  },
  Neg: unary((x) => -x, (x) => x.neg()),
  Abs: unary(Math.abs, (x) => x.abs()),
  Relu: unary((x) => Math.max(0, x), (x) => x.relu()),
  Sigmoid: unary(null, (x) => x.sigmoid()),
  Tanh: unary(null, (x) => x.tanh()),
  Exp: unary(null, (x) => x.exp()),
  Log: unary(null, (x) => x.log()),
  Sqrt: unary(Math.sqrt, (x) => x.sqrt()),
  Reciprocal: unary(null, (x) => x.reciprocal()),
  Erf: unary(null, (x) => x.erf()),
  Sin: unary(null, (x) => x.sin()),
  Cos: unary(null, (x) => x.cos()),
  Floor: unary(Math.floor, (x) => floor(x)),
  Ceil: unary(Math.ceil, (x) => floor(x.neg()).neg()),
  // log(1 + e^x) as relu(x) + log(1 + e^-|x|), which does not overflow.
  Softplus: unary(null, (x) => x.relu().add(x.abs().neg().exp().add(1).log())),
  LeakyRelu: unary(null, (x, ctx) => F.leakyRelu(x, ctx.attrs.float('alpha', 0.01))),
  Elu: unary(null, (x, ctx) => {
    const alpha = ctx.attrs.float('alpha', 1);
    return where(x.gt(0), x, x.exp().sub(1).mul(alpha));
  }),
  HardSigmoid: unary(null, (x, ctx) => x.mul(ctx.attrs.float('alpha', 0.2)).add(ctx.attrs.float('beta', 0.5)).clamp(0, 1)),
  HardSwish: unary(null, (x) => x.mul(x.add(3).clamp(0, 6)).div(6)),
  Clip: clip,
  Cast: (inputs, ctx) => {
    const to = castTo(ctx, ctx.attrs.int('to', 0));
    const v = need(ctx, inputs, 0);
    return v instanceof Const ? new Const(to, v.shape, v.data.map((x) => castValue(x, to))) : v.cast(to);
  },
};
