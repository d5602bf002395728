/** @file Conformance cases: at least one per primitive of the op table (a missing one fails to compile). */
import { type OpName, type Tensor, apply, functional as F } from '../../index.js';

/** How an input is generated: its values and the layout it is handed to the op in. */
export interface InputSpec {
  shape: number[];
  /** Values: uniform in [-1, 1] ('float'), in [0.5, 2] ('positive'), |x| in [0.2, 1] ('nonzero'), small integers, bools, or i32 indices below `high`. */
  kind?: 'float' | 'positive' | 'nonzero' | 'int' | 'bool' | 'index';
  high?: number;
  /** 'transposed': a transposed view of the last two dims; 'strided': every other element of a larger tensor. */
  layout?: 'contiguous' | 'transposed' | 'strided';
}

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  run: (...xs: Tensor[]) => Tensor;
  /** false where the output is integer or boolean, or the op has no gradient. */
  grad?: boolean;
}

const f = (shape: number[], layout: InputSpec['layout'] = 'contiguous', kind: InputSpec['kind'] = 'float'): InputSpec => ({ shape, layout, kind });
const layouts = ['contiguous', 'transposed', 'strided'] as const;

/** The same unary case on a matrix in every layout, and on a 0-d tensor. */
function unaryCases(op: OpName, kind: InputSpec['kind'] = 'float', run = (x: Tensor) => apply(op, [x], {} as never)): OpCase[] {
  return [
    ...layouts.map((l) => ({ name: `${op} ${l}`, inputs: [f([3, 4], l, kind)], run })),
    { name: `${op} scalar`, inputs: [f([], 'contiguous', kind)], run },
  ];
}
function binaryCases(op: OpName, kinds: [InputSpec['kind'], InputSpec['kind']] = ['float', 'float'], grad = true): OpCase[] {
  const run = (a: Tensor, b: Tensor) => apply(op, [a, b], {} as never);
  return [
    { name: `${op} same shape`, inputs: [f([3, 4], 'contiguous', kinds[0]), f([3, 4], 'contiguous', kinds[1])], run, grad },
    { name: `${op} broadcast`, inputs: [f([3, 1], 'contiguous', kinds[0]), f([1, 4], 'contiguous', kinds[1])], run, grad },
    { name: `${op} broadcast rank`, inputs: [f([2, 3, 4], 'strided', kinds[0]), f([4], 'contiguous', kinds[1])], run, grad },
    { name: `${op} transposed`, inputs: [f([4, 3], 'transposed', kinds[0]), f([4, 3], 'strided', kinds[1])], run, grad },
  ];
}
function reduceCases(op: 'sum' | 'mean' | 'max' | 'argmax', grad = true): OpCase[] {
  const r = (dims: number[], keepdim: boolean) => (x: Tensor) => apply(op, [x], { dims, keepdim });
  return [
    { name: `${op} all`, inputs: [f([2, 3, 4])], run: r([0, 1, 2], false), grad },
    { name: `${op} last keepdim`, inputs: [f([2, 3, 4], 'transposed')], run: r([2], true), grad },
    { name: `${op} middle`, inputs: [f([2, 3, 4], 'strided')], run: r([1], false), grad },
    { name: `${op} outer two`, inputs: [f([2, 3, 4])], run: r([0, 2], true), grad },
  ];
}
const conv = (stride: [number, number], padding: [number, number], dilation: [number, number], groups: number) => (x: Tensor, w: Tensor) =>
  apply('conv2d', [x, w], { stride, padding, dilation, groups });
/** With the bias input and a clamp epilogue (bounds chosen so some outputs are clamped, none sits near a bound). */
const convEpilogue = (stride: [number, number], padding: [number, number], groups: number, clamp?: [number, number]) => (x: Tensor, w: Tensor, b: Tensor) =>
  apply('conv2d', [x, w, b], { stride, padding, dilation: [1, 1], groups, ...(clamp ? { clamp } : {}) });

export const OP_CASES: { [K in OpName]: OpCase[] } = {
  neg: unaryCases('neg'),
  exp: unaryCases('exp'),
  log: unaryCases('log', 'positive'),
  sqrt: unaryCases('sqrt', 'positive'),
  abs: unaryCases('abs', 'nonzero'),
  sin: unaryCases('sin'),
  cos: unaryCases('cos'),
  tanh: unaryCases('tanh'),
  sigmoid: unaryCases('sigmoid'),
  erf: unaryCases('erf'),
  relu: unaryCases('relu', 'nonzero'),
  clamp: unaryCases('clamp', 'nonzero', (x) => apply('clamp', [x], { min: -0.5, max: 0.55 })),
  cast: [
    ...unaryCases('cast', 'float', (x) => apply('cast', [x], { dtype: x.dtype })),
    { name: 'cast to i32', inputs: [f([3, 4], 'strided', 'int')], run: (x) => x.cast('i32'), grad: false },
    { name: 'cast to bool', inputs: [f([3, 4], 'contiguous', 'int')], run: (x) => x.cast('bool'), grad: false },
  ],
  contiguous: unaryCases('contiguous'),
  add: binaryCases('add'),
  sub: binaryCases('sub'),
  mul: binaryCases('mul'),
  div: binaryCases('div', ['float', 'nonzero']),
  pow: binaryCases('pow', ['positive', 'float']),
  maximum: binaryCases('maximum'),
  minimum: binaryCases('minimum'),
  lt: binaryCases('lt', ['int', 'int'], false),
  gt: binaryCases('gt', ['int', 'int'], false),
  eq: binaryCases('eq', ['int', 'int'], false),
  where: [
    { name: 'where', inputs: [f([3, 4], 'contiguous', 'bool'), f([3, 4]), f([3, 4], 'transposed')], run: (c, a, b) => apply('where', [c!, a!, b!], {}) },
    { name: 'where broadcast', inputs: [f([3, 1], 'contiguous', 'bool'), f([1, 4]), f([2, 3, 4], 'strided')], run: (c, a, b) => apply('where', [c!, a!, b!], {}) },
  ],
  sum: reduceCases('sum'),
  mean: reduceCases('mean'),
  max: reduceCases('max'),
  argmax: reduceCases('argmax', false),
  reshape: [
    { name: 'reshape view', inputs: [f([3, 4])], run: (x) => x.reshape([2, 6]) },
    { name: 'reshape copies a transposed input', inputs: [f([3, 4], 'transposed')], run: (x) => x.reshape([12]) },
    { name: 'reshape strided', inputs: [f([2, 3, 4], 'strided')], run: (x) => x.reshape([6, 2, 2]) },
  ],
  permute: [
    { name: 'permute', inputs: [f([2, 3, 4])], run: (x) => x.permute([2, 0, 1]) },
    { name: 'permute strided', inputs: [f([2, 3, 4], 'strided')], run: (x) => x.permute([1, 2, 0]).mul(1) },
  ],
  expand: [
    { name: 'expand', inputs: [f([3, 1])], run: (x) => x.expand([2, 3, 4]) },
    { name: 'expand transposed', inputs: [f([1, 3], 'transposed')], run: (x) => x.expand([2, 3, 3]).mul(1) },
  ],
  slice: [
    { name: 'slice step', inputs: [f([3, 8])], run: (x) => x.slice(1, 1, 7, 2) },
    { name: 'slice rows', inputs: [f([5, 3], 'transposed')], run: (x) => x.slice(0, 1, 5, 3) },
    { name: 'slice both', inputs: [f([6, 7], 'strided')], run: (x) => x.slice(0, 1, null, 2).slice(1, -5, -1, 3) },
  ],
  unfold: [
    { name: 'unfold overlapping', inputs: [f([2, 7])], run: (x) => x.unfold(1, 3, 1).mul(1) },
    { name: 'unfold strided, twice', inputs: [f([3, 8, 6], 'strided')], run: (x) => x.unfold(1, 3, 2).unfold(2, 2, 3).mul(2) },
    { name: 'unfold transposed, gaps between windows', inputs: [f([9, 4], 'transposed')], run: (x) => x.unfold(0, 2, 3).exp() },
  ],
  flip: [
    { name: 'flip', inputs: [f([3, 4])], run: (x) => x.flip([0, 1]) },
    { name: 'flip strided', inputs: [f([2, 3, 4], 'strided')], run: (x) => x.flip(1).mul(2) },
  ],
  matmul: [
    { name: 'matmul', inputs: [f([3, 4]), f([4, 5])], run: (a, b) => a!.matmul(b!) },
    { name: 'matmul transposed', inputs: [f([3, 4], 'transposed'), f([4, 5], 'transposed')], run: (a, b) => a!.matmul(b!) },
    { name: 'matmul batched', inputs: [f([2, 3, 4], 'strided'), f([4, 2])], run: (a, b) => a!.matmul(b!) },
    { name: 'matmul broadcast batch', inputs: [f([2, 1, 3, 4]), f([3, 4, 2])], run: (a, b) => a!.matmul(b!) },
    { name: 'matmul vectors', inputs: [f([4]), f([4, 3])], run: (a, b) => a!.matmul(b!) },
    // N a multiple of 4 with dense B: the shapes the register-blocked GPU kernel takes.
    { name: 'matmul vec4 columns', inputs: [f([5, 6], 'strided'), f([6, 8])], run: (a, b) => a!.matmul(b!) },
    { name: 'matmul vec4 batched', inputs: [f([2, 7, 3]), f([2, 3, 12])], run: (a, b) => a!.matmul(b!) },
    // A Linear layer's x @ W^T with K a multiple of 4: the GPU's transposed-B register kernel.
    { name: 'matmul linear', inputs: [f([5, 8]), f([6, 8])], run: (x, w) => x!.matmul(w!.transpose(0, 1)) },
    { name: 'matmul linear batched', inputs: [f([2, 3, 4]), f([2, 5, 4])], run: (x, w) => x!.matmul(w!.transpose(1, 2)) },
  ],
  conv2d: [
    { name: 'conv2d padded', inputs: [f([2, 3, 5, 5]), f([4, 3, 3, 3])], run: conv([1, 1], [1, 1], [1, 1], 1) },
    { name: 'conv2d stride dilation', inputs: [f([1, 2, 8, 7]), f([3, 2, 3, 2])], run: conv([2, 1], [1, 2], [2, 1], 1) },
    { name: 'conv2d groups', inputs: [f([2, 4, 5, 5], 'strided'), f([6, 2, 2, 3])], run: conv([1, 2], [0, 1], [1, 1], 2) },
    { name: 'conv2d depthwise unit stride', inputs: [f([2, 3, 5, 9]), f([3, 1, 3, 3])], run: conv([1, 1], [1, 1], [1, 1], 3) },
    { name: 'conv2d depthwise', inputs: [f([1, 3, 6, 6]), f([3, 1, 3, 3], 'transposed')], run: conv([2, 2], [1, 1], [1, 1], 3) },
    { name: 'conv2d pointwise', inputs: [f([2, 4, 3, 3], 'transposed'), f([5, 4, 1, 1])], run: conv([1, 1], [0, 0], [1, 1], 1) },
    // Strided layers whose windows stop short of the padded input's end (ResNet's downsamples).
    { name: 'conv2d pointwise stride 2', inputs: [f([2, 3, 6, 6]), f([4, 3, 1, 1])], run: conv([2, 2], [0, 0], [1, 1], 1) },
    { name: 'conv2d stride 2 even size', inputs: [f([2, 3, 6, 6]), f([4, 3, 3, 3])], run: conv([2, 2], [1, 1], [1, 1], 1) },
    // More than 256 output positions: the weight gradient as a correlation (conv2d), not a product of windows.
    { name: 'conv2d many positions', inputs: [f([2, 3, 12, 12]), f([4, 3, 3, 3])], run: conv([1, 1], [1, 1], [1, 1], 1) },
    { name: 'conv2d many positions stride 2 dilated', inputs: [f([2, 2, 27, 26]), f([3, 2, 3, 2])], run: conv([2, 2], [1, 0], [2, 1], 1) },
    // Eight or more outputs per group: the GPU's implicit-GEMM kernel rather than the direct one.
    { name: 'conv2d wide', inputs: [f([2, 3, 5, 5]), f([9, 3, 3, 3])], run: conv([1, 1], [1, 1], [1, 1], 1) },
    { name: 'conv2d wide im2col', inputs: [f([2, 2, 8, 8]), f([8, 2, 3, 3])], run: conv([1, 1], [1, 1], [1, 1], 1) },
    { name: 'conv2d pointwise wide', inputs: [f([2, 6, 3, 4]), f([9, 6, 1, 1])], run: conv([1, 1], [0, 0], [1, 1], 1) },
    { name: 'conv2d pointwise wide odd', inputs: [f([1, 5, 3, 3], 'strided'), f([8, 5, 1, 1], 'transposed')], run: conv([1, 1], [0, 0], [1, 1], 1) },
    { name: 'conv2d wide dilated', inputs: [f([3, 2, 7, 6]), f([10, 2, 2, 3], 'strided')], run: conv([1, 2], [2, 1], [2, 1], 1) },
    { name: 'conv2d wide groups', inputs: [f([1, 4, 6, 5], 'strided'), f([16, 2, 2, 2])], run: conv([2, 1], [1, 0], [1, 1], 2) },
    // Each kernel family with the bias and clamp epilogue: depthwise, direct, implicit GEMM, im2col GEMM, pointwise.
    { name: 'conv2d depthwise bias clamp', inputs: [f([2, 3, 5, 9]), f([3, 1, 3, 3]), f([3])], run: convEpilogue([1, 1], [1, 1], 3, [-0.9, 0.8]) },
    { name: 'conv2d depthwise strided bias', inputs: [f([1, 3, 6, 6]), f([3, 1, 3, 3]), f([3], 'strided')], run: convEpilogue([2, 2], [1, 1], 3) },
    { name: 'conv2d bias clamp', inputs: [f([2, 3, 5, 5]), f([4, 3, 3, 3]), f([4])], run: convEpilogue([1, 1], [1, 1], 1, [-1.2, 1.1]) },
    { name: 'conv2d wide bias relu', inputs: [f([2, 3, 5, 5]), f([9, 3, 3, 3]), f([9])], run: convEpilogue([1, 1], [1, 1], 1, [0, Infinity]) },
    { name: 'conv2d wide im2col bias clamp', inputs: [f([2, 2, 8, 8]), f([8, 2, 3, 3]), f([8])], run: convEpilogue([1, 1], [1, 1], 1, [-1, 1]) },
    { name: 'conv2d pointwise wide bias', inputs: [f([2, 6, 3, 4]), f([9, 6, 1, 1]), f([9])], run: convEpilogue([1, 1], [0, 0], 1) },
    // Outputs of 1 KiB or more live in the CPU's wasm heap: its in-place bias fills, row passes and copies.
    { name: 'conv2d pointwise heap bias', inputs: [f([2, 6, 8, 8]), f([9, 6, 1, 1]), f([9])], run: convEpilogue([1, 1], [0, 0], 1, [-0.5, 0.5]) },
    { name: 'conv2d deep images together bias clamp', inputs: [f([4, 3, 4, 4]), f([16, 3, 3, 3]), f([16])], run: convEpilogue([1, 1], [1, 1], 1, [-1, 1]) },
    { name: 'conv2d depthwise heap bias relu', inputs: [f([2, 4, 7, 10]), f([4, 1, 3, 3]), f([4])], run: convEpilogue([1, 1], [1, 1], 4, [0, Infinity]) },
  ],
  avgPool2d: [
    { name: 'avgPool2d', inputs: [f([2, 2, 6, 6])], run: (x) => F.avgPool2d(x, 2) },
    { name: 'avgPool2d padded', inputs: [f([1, 2, 7, 6], 'strided')], run: (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1 }) },
    { name: 'avgPool2d exclude pad', inputs: [f([1, 2, 5, 5])], run: (x) => F.avgPool2d(x, [3, 2], { stride: [2, 1], padding: [1, 1], countIncludePad: false }) },
  ],
  maxPool2dIndices: [
    { name: 'maxPool2d', inputs: [f([2, 2, 6, 6])], run: (x) => F.maxPool2d(x, 2) },
    { name: 'maxPool2d padded', inputs: [f([1, 2, 7, 7], 'transposed')], run: (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }) },
    { name: 'maxPool2d dilated', inputs: [f([1, 1, 6, 6])], run: (x) => F.maxPool2d(x, 2, { stride: 1, dilation: 2 }) },
    { name: 'maxPool2d indices', inputs: [f([1, 2, 5, 5])], run: (x) => F.maxPool2dWithIndices(x, 2, { stride: 1 })[1], grad: false },
  ],
  cumsum: [
    { name: 'cumsum last dim', inputs: [f([3, 5])], run: (x) => x!.cumsum(1) },
    { name: 'cumsum dim 0 transposed', inputs: [f([4, 3], 'transposed')], run: (x) => x!.cumsum(0) },
    { name: 'cumsum middle dim strided', inputs: [f([2, 3, 4], 'strided')], run: (x) => x!.cumsum(1) },
    { name: 'cumsum i32', inputs: [{ shape: [2, 6], kind: 'int' }], run: (x) => x!.cumsum(1), grad: false },
  ],
  attention: [
    { name: 'attention', inputs: [f([2, 2, 5, 4]), f([2, 2, 6, 4]), f([2, 2, 6, 3])], run: (q, k, v) => apply('attention', [q!, k!, v!], { scale: 0.5, causal: false }) },
    { name: 'attention causal, transposed keys', inputs: [f([1, 3, 6, 4]), f([1, 3, 4, 6], 'transposed'), f([1, 3, 6, 5])], run: (q, k, v) => apply('attention', [q!, k!.transpose(2, 3), v!], { scale: 0.7, causal: true }) },
    { name: 'attention additive mask broadcast over heads', inputs: [f([2, 2, 3, 4]), f([2, 2, 5, 4], 'strided'), f([2, 2, 5, 2]), f([2, 1, 3, 5])], run: (q, k, v, m) => apply('attention', [q!, k!, v!, m!.expand([2, 2, 3, 5])], { scale: 0.5, causal: false }) },
    { name: 'attention causal, four features at a time, transposed keys and more keys than queries', inputs: [f([1, 2, 5, 8]), f([1, 2, 8, 7], 'transposed'), f([1, 2, 7, 4], 'strided')], run: (q, k, v) => apply('attention', [q!, k!.transpose(2, 3), v!], { scale: 0.3, causal: true }) },
    { name: 'scaledDotProductAttention bool padding mask, 3-d', inputs: [f([2, 4, 8]), f([2, 5, 8]), f([2, 5, 8])], run: (q, k, v) => F.scaledDotProductAttention(q!, k!, v!, { attnMask: q!.newTensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 1, 5], 'bool') }) },
  ],
  softmax: [
    { name: 'softmax last dim, vectors and a tail', inputs: [f([3, 37])], run: (x) => x!.softmax(-1) },
    { name: 'softmax dim 0 transposed', inputs: [f([5, 4], 'transposed')], run: (x) => x!.softmax(0) },
    { name: 'softmax middle dim strided', inputs: [f([2, 6, 3], 'strided')], run: (x) => x!.softmax(1) },
  ],
  logSoftmax: [
    { name: 'logSoftmax last dim, vectors and a tail', inputs: [f([4, 21])], run: (x) => x!.logSoftmax(1) },
    { name: 'logSoftmax dim 0 strided', inputs: [f([6, 3], 'strided')], run: (x) => x!.logSoftmax(0) },
    { name: 'crossEntropy', inputs: [f([5, 7]), { shape: [5], kind: 'index', high: 7 }], run: (x, y) => F.crossEntropy(x!, y!) },
  ],
  argsort: [
    { name: 'argsort last dim, ties and duplicates', inputs: [{ shape: [3, 7], kind: 'int' }], run: (x) => x!.argsort(1), grad: false },
    { name: 'argsort dim 0 descending transposed', inputs: [f([5, 3], 'transposed')], run: (x) => x!.argsort(0, true), grad: false },
    { name: 'sort values strided (gradient through the gather)', inputs: [f([2, 3, 6], 'strided')], run: (x) => x!.sort(2).values },
  ],
  gather: [
    { name: 'gather dim 1', inputs: [f([3, 5]), { shape: [3, 4], kind: 'index', high: 5 }], run: (x, i) => x!.gather(1, i!) },
    { name: 'gather dim 0 strided', inputs: [f([4, 3], 'strided'), { shape: [6, 2], kind: 'index', high: 4 }], run: (x, i) => x!.gather(0, i!) },
    { name: 'indexSelect', inputs: [f([5, 3], 'transposed'), { shape: [7], kind: 'index', high: 5 }], run: (x, i) => x!.indexSelect(0, i!) },
  ],
  scatterAdd: [
    { name: 'scatterAdd', inputs: [f([3, 5]), { shape: [3, 4], kind: 'index', high: 5 }, f([3, 4])], run: (b, i, s) => b!.scatterAdd(1, i!, s!) },
    { name: 'scatterAdd dim 0', inputs: [f([4, 2], 'transposed'), { shape: [5, 2], kind: 'index', high: 4 }, f([5, 2], 'strided')], run: (b, i, s) => b!.scatterAdd(0, i!, s!) },
  ],
  concat: [
    { name: 'concat dim 1', inputs: [f([2, 3]), f([2, 1], 'transposed'), f([2, 4], 'strided')], run: (...xs) => F.concat(xs, 1) },
    { name: 'concat dim 0', inputs: [f([1, 3]), f([2, 3])], run: (...xs) => F.concat(xs, 0) },
    { name: 'stack', inputs: [f([2, 3]), f([2, 3], 'transposed')], run: (...xs) => F.stack(xs, 1) },
  ],
  pad: [
    { name: 'pad', inputs: [f([2, 3])], run: (x) => x.pad([[1, 2], [0, 1]], 0.5) },
    { name: 'pad crops', inputs: [f([3, 4, 5], 'strided')], run: (x) => x.pad([[0, 0], [-1, 2], [2, -2]]) },
  ],
};
