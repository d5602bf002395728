/** @file ONNX's shape and layout operators (Reshape, Transpose, Slice, Gather, Concat, Shape, Expand, Pad, ...): views on tensors, and exact arithmetic on constant shapes. */
import { type Tensor, functional as F, fmtShape, where } from '../../index.js';
import { C, type Inputs, type OnnxOp, type OpContext, T, axis, consts, fail, need, optConst } from './context.js';
import { CONST_LIMIT, Const, type Value, asTensor, constMap } from './value.js';
import { protoValues } from './tensor.js';

const shapeOf = (v: Value): readonly number[] => v.shape;

function reshapeTo(ctx: OpContext, shape: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? (shape[i] ?? fail(ctx, `shape [${target.join(',')}] copies dimension ${i}, which ${fmtShape(shape)} lacks`)) : d));
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1) fail(ctx, `shape [${target.join(',')}] has more than one -1`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (unknown) {
    const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (known === 0 || size % known) fail(ctx, `cannot reshape ${fmtShape(shape)} to [${target.join(',')}]`);
    out[out.indexOf(-1)] = size / known;
  }
  if (out.some((d) => d < 0) || out.reduce((a, b) => a * b, 1) !== size) fail(ctx, `cannot reshape ${fmtShape(shape)} (${size} elements) to [${target.join(',')}]`);
  return out;
}

function constReshape(c: Const, shape: readonly number[]): Const {
  return new Const(c.dtype, shape, c.data);
}

/** Slices of every kind of value along several axes (ONNX Slice: negative indices, clamping, negative steps). */
function sliceRanges(ctx: OpContext, shape: readonly number[], starts: readonly number[], ends: readonly number[], axesIn: readonly number[] | undefined, stepsIn: readonly number[] | undefined): { axis: number; start: number; end: number; step: number }[] {
  const axes = axesIn ?? starts.map((_, i) => i);
  const steps = stepsIn ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) fail(ctx, 'starts, ends, axes and steps differ in length');
  return starts.map((s, i) => {
    const a = axis(ctx, axes[i]!, shape.length);
    const dim = shape[a]!;
    const step = steps[i]!;
    if (step === 0) fail(ctx, 'a step of 0');
    const norm = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const start = step > 0 ? norm(s, 0, dim) : norm(s, -1, dim - 1);
    const end = step > 0 ? norm(ends[i]!, 0, dim) : norm(ends[i]!, -1, dim - 1);
    return { axis: a, start, end, step };
  });
}

function sliceConst(c: Const, ranges: ReturnType<typeof sliceRanges>): Const {
  let cur = c;
  for (const r of ranges) {
    const idx: number[] = [];
    for (let i = r.start; r.step > 0 ? i < r.end : i > r.end; i += r.step) idx.push(i);
    cur = takeConst(cur, r.axis, idx);
  }
  return cur;
}

/** Elements of `c` at positions `idx` along `axis`. */
function takeConst(c: Const, ax: number, idx: readonly number[]): Const {
  const outer = c.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const inner = c.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const dim = c.shape[ax]!;
  const data: number[] = [];
  for (let o = 0; o < outer; o++) for (const i of idx) for (let k = 0; k < inner; k++) data.push(c.data[(o * dim + i) * inner + k]!);
  return new Const(c.dtype, [...c.shape.slice(0, ax), idx.length, ...c.shape.slice(ax + 1)], data);
}

function sliceTensor(x: Tensor, ranges: ReturnType<typeof sliceRanges>): Tensor {
  let y = x;
  for (const r of ranges) {
    if (r.step > 0) y = y.slice(r.axis, r.start, Math.max(r.start, r.end), r.step);
    else {
      // A negative step is a flip, then a positive-step slice from the mirrored start.
      const dim = y.shape[r.axis]!;
      y = y.flip([r.axis]).slice(r.axis, dim - 1 - r.start, Math.max(dim - 1 - r.start, dim - 1 - r.end), -r.step);
    }
  }
  return y;
}

function gather(inputs: Inputs, ctx: OpContext): Value {
  const data = need(ctx, inputs, 0);
  const idx = need(ctx, inputs, 1);
  const ax = axis(ctx, ctx.attrs.int('axis', 0), data.shape.length);
  const dim = data.shape[ax]!;
  if (idx instanceof Const) {
    const bad = idx.data.find((i) => i < -dim || i >= dim);
    if (bad !== undefined) fail(ctx, `index ${bad} is out of range for axis ${ax} of size ${dim}`);
    const flat = idx.data.map((i) => (i < 0 ? i + dim : i));
    const outShape = [...data.shape.slice(0, ax), ...idx.shape, ...data.shape.slice(ax + 1)];
    if (data instanceof Const) return constReshape(takeConst(data, ax, flat), outShape);
    if (idx.shape.length === 0) return data.select(ax, flat[0]!);
    return data.indexSelect(ax, asTensor(Const.vector(flat), ctx.backend, ctx.where)).reshape(outShape);
  }
  // Indices computed from data (token ids): an embedding lookup along the axis.
  const x = asTensor(data, ctx.backend, ctx.where);
  const i = idx.cast('i32');
  const wrapped = where(i.lt(0), i.add(dim), i);
  const outShape = [...x.shape.slice(0, ax), ...i.shape, ...x.shape.slice(ax + 1)];
  return x.indexSelect(ax, wrapped.reshape([i.size])).reshape(outShape);
}

function concat(inputs: Inputs, ctx: OpContext): Value {
  const present = inputs.filter((v): v is Value => v !== undefined);
  const rank = present[0]?.shape.length ?? fail(ctx, 'no inputs');
  const ax = axis(ctx, ctx.attrs.int('axis', 0), rank);
  const cs = consts(present);
  if (cs) {
    const outer = cs[0]!.shape.slice(0, ax).reduce((a, b) => a * b, 1);
    const data: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const c of cs) {
        const chunk = c.shape.slice(ax).reduce((a, b) => a * b, 1);
        for (let k = 0; k < chunk; k++) data.push(c.data[o * chunk + k]!);
      }
    }
    const shape = [...cs[0]!.shape];
    shape[ax] = cs.reduce((s, c) => s + c.shape[ax]!, 0);
    return new Const(cs[0]!.dtype, shape, data);
  }
  return F.concat(present.map((v) => asTensor(v, ctx.backend, ctx.where)), ax);
}

function unsqueezeShape(ctx: OpContext, shape: readonly number[], axes: readonly number[]): number[] {
  const rank = shape.length + axes.length;
  const at = new Set(axes.map((a) => axis(ctx, a, rank)));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : shape[k++]!);
  return out;
}

function reshapeValue(v: Value, shape: number[]): Value {
  return v instanceof Const ? constReshape(v, shape) : v.reshape(shape);
}

function axesOf(ctx: OpContext, inputs: Inputs): number[] | undefined {
  // Squeeze and Unsqueeze take axes as an input from opset 13.
  return ctx.opset >= 13 ? optConst(ctx, inputs, 1, 'axes')?.data.slice() : ctx.attrs.ints('axes');
}

function split(inputs: Inputs, ctx: OpContext): Value[] {
  const x = T(ctx, inputs, 0);
  const ax = axis(ctx, ctx.attrs.int('axis', 0), x.ndim);
  const sizes = (ctx.opset >= 13 ? optConst(ctx, inputs, 1, 'split')?.data.slice() : ctx.attrs.ints('split')) ?? null;
  const outputs = ctx.attrs.int('num_outputs', 0);
  const dim = x.shape[ax]!;
  let parts: number[];
  if (sizes) parts = sizes;
  else {
    // Without sizes, equal parts: num_outputs (opset 18) or the node's output count, the last part smaller.
    const n = outputs || ctx.outputs;
    const k = Math.ceil(dim / n);
    parts = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(k, dim - i * k)));
  }
  if (parts.reduce((a, b) => a + b, 0) !== dim) fail(ctx, `split sizes [${parts.join(',')}] do not add up to ${dim}`);
  let start = 0;
  return parts.map((p) => {
    const part = x.narrow(ax, start, p);
    start += p;
    return part;
  });
}

function pad(inputs: Inputs, ctx: OpContext): Tensor {
  const x = T(ctx, inputs, 0);
  const mode = ctx.attrs.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') fail(ctx, `pad mode '${mode}' is not one of constant, reflect, edge`);
  const pads = ctx.opset >= 11 ? C(ctx, inputs, 1, 'pads').data : (ctx.attrs.ints('pads') ?? fail(ctx, 'attribute pads is required'));
  const value = ctx.opset >= 11 ? (optConst(ctx, inputs, 2, 'constant_value')?.data[0] ?? 0) : ctx.attrs.float('value', 0);
  const r = x.ndim;
  const axes = ctx.opset >= 18 && inputs[3] ? C(ctx, inputs, 3, 'axes').data.map((a) => axis(ctx, a, r)) : x.shape.map((_, i) => i);
  if (pads.length !== 2 * axes.length) fail(ctx, `pads has ${pads.length} values, expected ${2 * axes.length}`);
  const spec: [number, number][] = x.shape.map(() => [0, 0]);
  axes.forEach((a, i) => (spec[a] = [pads[i]!, pads[i + axes.length]!]));
  // Negative pads crop.
  let y = x;
  spec.forEach(([b, e], d) => {
    if (b < 0 || e < 0) y = y.slice(d, Math.max(0, -b), y.shape[d]! - Math.max(0, -e));
  });
  if (mode === 'constant') return y.pad(spec.map(([b, e]) => [Math.max(0, b), Math.max(0, e)]), value);
  // reflect mirrors without repeating the border element, edge repeats it; both as concatenated slices.
  spec.forEach(([b, e], d) => {
    const n = y.shape[d]!;
    const [before, after] = [Math.max(0, b), Math.max(0, e)];
    if (!before && !after) return;
    if (mode === 'reflect' && (before >= n || after >= n)) fail(ctx, `reflect padding of ${Math.max(before, after)} needs an axis longer than that, axis ${d} has ${n}`);
    const side = (count: number, atStart: boolean): Tensor => {
      if (mode === 'edge') {
        const edge = y.narrow(d, atStart ? 0 : n - 1, 1);
        return edge.expand(edge.shape.map((s, i) => (i === d ? count : s)));
      }
      return y.narrow(d, atStart ? 1 : n - 1 - count, count).flip([d]);
    };
    y = F.concat([...(before ? [side(before, true)] : []), y, ...(after ? [side(after, false)] : [])], d);
  });
  return y;
}

/** Shape and layout operators by ONNX name. */
export const SHAPE_OPS: Record<string, OnnxOp> = {
  Flatten: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const a = ctx.attrs.int('axis', 1);
    const ax = a < 0 ? a + v.shape.length : a;
    if (ax < 0 || ax > v.shape.length) fail(ctx, `axis ${a} is out of range for rank ${v.shape.length}`);
    const rows = v.shape.slice(0, ax).reduce((p, q) => p * q, 1);
    return reshapeValue(v, [rows, v.shape.slice(ax).reduce((p, q) => p * q, 1)]);
  },
  Reshape: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const target = ctx.opset >= 5 ? C(ctx, inputs, 1, 'shape').data : (ctx.attrs.ints('shape') ?? fail(ctx, 'attribute shape is required'));
    return reshapeValue(v, reshapeTo(ctx, shapeOf(v), target, ctx.attrs.int('allowzero', 0) === 1));
  },
  Transpose: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const r = v.shape.length;
    const perm = ctx.attrs.ints('perm') ?? [...Array(r).keys()].reverse();
    if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) fail(ctx, `perm [${perm.join(',')}] is not a permutation of ${r} axes`);
    if (v instanceof Const) {
      let c = v;
      const shape = perm.map((p) => v.shape[p]!);
      const strides = v.shape.map((_, i) => v.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const data = new Array<number>(v.size);
      for (let i = 0; i < v.size; i++) {
        let rem = i;
        let src = 0;
        for (let d = r - 1; d >= 0; d--) {
          const cd = rem % shape[d]!;
          rem = Math.floor(rem / shape[d]!);
          src += cd * strides[perm[d]!]!;
        }
        data[i] = v.data[src]!;
      }
      c = new Const(v.dtype, shape, data);
      return c;
    }
    return v.permute(perm);
  },
  Squeeze: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const axes = axesOf(ctx, inputs)?.map((a) => axis(ctx, a, v.shape.length));
    if (axes?.some((a) => v.shape[a] !== 1)) fail(ctx, `cannot squeeze axes [${axes.join(',')}] of ${fmtShape(v.shape)}: not all of size 1`);
    return reshapeValue(v, v.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)));
  },
  Unsqueeze: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const axes = axesOf(ctx, inputs) ?? fail(ctx, 'axes are required');
    return reshapeValue(v, unsqueezeShape(ctx, v.shape, axes));
  },
  Concat: concat,
  Split: split,
  Slice: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const [starts, ends, axes, steps] = ctx.opset >= 10
      ? [C(ctx, inputs, 1, 'starts').data, C(ctx, inputs, 2, 'ends').data, optConst(ctx, inputs, 3, 'axes')?.data, optConst(ctx, inputs, 4, 'steps')?.data]
      : [ctx.attrs.ints('starts') ?? [], ctx.attrs.ints('ends') ?? [], ctx.attrs.ints('axes'), undefined];
    const ranges = sliceRanges(ctx, v.shape, starts, ends, axes, steps);
    return v instanceof Const ? sliceConst(v, ranges) : sliceTensor(v, ranges);
  },
  Gather: gather,
  Shape: (inputs, ctx) => {
    const s = need(ctx, inputs, 0).shape;
    const r = s.length;
    const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    return Const.vector(s.slice(clampAxis(ctx.attrs.int('start', 0)), clampAxis(ctx.attrs.int('end', r))));
  },
  Size: (inputs, ctx) => Const.scalar(need(ctx, inputs, 0).shape.reduce((a, b) => a * b, 1)),
  ConstantOfShape: (inputs, ctx) => {
    const shape = C(ctx, inputs, 0, 'shape').data;
    const t = ctx.attrs.raw('value')?.t;
    const p = t ? protoValues(t, ctx.file, `${ctx.where} value`) : null;
    const dtype = p?.dtype ?? 'f32';
    const value = p ? p.values[0]! : 0;
    const n = shape.reduce((a, b) => a * b, 1);
    if (n <= CONST_LIMIT) return new Const(dtype, shape, new Array<number>(n).fill(value));
    return asTensor(Const.scalar(value, dtype), ctx.backend, ctx.where).expand(shape).contiguous();
  },
  Range: (inputs, ctx) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => C(ctx, inputs, i, ['start', 'limit', 'delta'][i]!));
    const d = delta!.data[0]!;
    if (d === 0) fail(ctx, 'delta is 0');
    const n = Math.max(0, Math.ceil((limit!.data[0]! - start!.data[0]!) / d));
    if (n > CONST_LIMIT) fail(ctx, `a range of ${n} values is larger than graft computes while building (${CONST_LIMIT})`);
    return Const.vector(Array.from({ length: n }, (_, i) => start!.data[0]! + i * d), start!.dtype);
  },
  Expand: (inputs, ctx) => {
    const v = need(ctx, inputs, 0);
    const target = C(ctx, inputs, 1, 'shape').data;
    // ONNX Expand broadcasts both ways (a 1 in the target keeps the input's size).
    const n = Math.max(target.length, v.shape.length);
    const shape = Array.from({ length: n }, (_, i) => {
      const a = v.shape[v.shape.length - n + i] ?? 1;
      const b = target[target.length - n + i] ?? 1;
      if (a !== b && a !== 1 && b !== 1) fail(ctx, `cannot expand ${fmtShape(v.shape)} to [${target.join(',')}]`);
      return a === 1 ? b : a;
    });
    if (v instanceof Const) return constMap([v, new Const(v.dtype, shape, new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0))], v.dtype, (x) => x, ctx.where);
    return v.reshape([...new Array<number>(n - v.shape.length).fill(1), ...v.shape]).expand(shape);
  },
  Tile: (inputs, ctx) => {
    const x = T(ctx, inputs, 0);
    const reps = C(ctx, inputs, 1, 'repeats').data;
    if (reps.length !== x.ndim) fail(ctx, `repeats has ${reps.length} values for a rank-${x.ndim} input`);
    let y = x;
    reps.forEach((r, d) => {
      if (r !== 1) y = F.concat(new Array<Tensor>(r).fill(y), d);
    });
    return y;
  },
  Pad: pad,
};
