/** @file The ONNX operators graft runs, by name: one table over the elementwise, layer and shape families. */
import type { OnnxOp } from './context.js';
import { ELEMENTWISE_OPS } from './elementwise.js';
import { NN_OPS } from './nn.js';
import { SHAPE_OPS } from './shape.js';

export { Attrs, type OnnxOp, type OpContext } from './context.js';

export const ONNX_OPS: Record<string, OnnxOp> = { ...ELEMENTWISE_OPS, ...NN_OPS, ...SHAPE_OPS };
