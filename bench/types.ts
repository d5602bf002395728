/** @file What a benchmark implementation provides and what a result records. */

/** A prepared workload on one implementation: `run` does the work and resolves once results are readable. */
export interface Prepared {
  run: () => Promise<void>;
  /** The output after one run, for the correctness gate. */
  output: () => Promise<Float32Array | number[]>;
  dispose?: () => void | Promise<void>;
}

/** Attention over [batch, heads, length, features] queries, keys and values (self-attention: one length). */
export interface AttentionParams {
  batch: number;
  heads: number;
  length: number;
  features: number;
  causal: boolean;
}

export interface MatmulParams {
  m: number;
  n: number;
  k: number;
  dtype: 'f32' | 'f16';
}
export interface MlpParams {
  batch: number;
  sizes: number[];
}

/** NCHW input [n, c, h, w], weight [o, c / groups, k, k]; output compared in NCHW. */
export interface ConvParams {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  k: number;
  stride: number;
  pad: number;
  groups: number;
}

/** One implementation (graft on a backend, or a peer library). Missing methods mean "not offered". */
export interface Impl {
  name: string;
  /** null when usable, else why not (the library is missing, no adapter, ...). */
  available: () => Promise<string | null>;
  matmul?: (p: MatmulParams, a: Float32Array, b: Float32Array) => Promise<Prepared>;
  /** The matmul on f16 tensors (inputs already f16 values), output read back as numbers. */
  matmulF16?: (p: MatmulParams, a: Float32Array, b: Float32Array) => Promise<Prepared>;
  /** One SGD step (lr 0.1) of an MLP with ReLU, softmax cross-entropy; output: the loss and W1 after the step. */
  mlpStep?: (p: MlpParams, init: MlpInit) => Promise<Prepared>;
  /** mlpStep in mixed precision: the forward under autocast (f16 matmuls), the loss through a gradient scaler. */
  mlpStepMixed?: (p: MlpParams, init: MlpInit) => Promise<Prepared>;
  conv2d?: (p: ConvParams, x: Float32Array, w: Float32Array) => Promise<Prepared>;
  /** softmax over the last dim of [rows, cols] (kind 'softmax'), or layer norm over it without affine ('layernorm'). */
  rowwise?: (kind: 'softmax' | 'layernorm', rows: number, cols: number, x: Float32Array) => Promise<Prepared>;
  /** softmax(q k^T / sqrt(features) [+ causal mask]) v; output [batch, heads, length, features]. */
  attention?: (p: AttentionParams, q: Float32Array, k: Float32Array, v: Float32Array) => Promise<Prepared>;
  /** The same attention as separate ops that form the [length, length] scores (graft's composite path, to set against its fused kernel). */
  attentionUnfused?: (p: AttentionParams, q: Float32Array, k: Float32Array, v: Float32Array) => Promise<Prepared>;
  /** y = exp(log(x * 1.01 + 0.5) ...): a chain of `ops` elementwise ops over x. */
  elementwise?: (ops: number, x: Float32Array) => Promise<Prepared>;
  /** One SGD step (lr 0.1) of a small CNN: conv3x3(1->8)-relu-maxpool2-conv3x3(8->16)-relu-maxpool2-linear(784->10) on 28x28 (PyTorch runs the same step in bench/peers/pytorch.ts). */
  cnnStep?: (batch: number, init: CnnInit) => Promise<Prepared>;
  /** One SGD step (lr 0.01, momentum 0.9) of torchvision's ResNet-18 with 10 classes, in train mode; output: the loss and fc.weight after the step. */
  resnetStep?: (init: ResnetInit) => Promise<Prepared>;
  /** resnetStep in mixed precision (autocast and a gradient scaler). */
  resnetStepMixed?: (init: ResnetInit) => Promise<Prepared>;
  /** MobileNetV2 (the nsfwjs weights) on a batch of NCHW images, to the layer `until` (the classifier's probabilities at 224 when absent, else out_relu). */
  mobilenet?: (size: number, batch: number, x: Float32Array, until?: string) => Promise<Prepared>;
  close?: () => Promise<void>;
}

/** Shared initial weights and data so every implementation computes the same step. */
export interface MlpInit {
  x: Float32Array;
  labels: Int32Array;
  weights: Float32Array[]; // W_i stored [in, out]
  biases: Float32Array[];
}

/** Shared CNN weights (conv weights [out, in, 3, 3], linear [784, 10]) and data (NCHW). */
export interface CnnInit {
  x: Float32Array;
  labels: Int32Array;
  conv1: Float32Array;
  conv2: Float32Array;
  fc: Float32Array;
}

/** A ResNet-18 state dict with torchvision's names (integers: num_batches_tracked) and a batch of NCHW images. */
export interface ResnetInit {
  batch: number;
  size: number;
  x: Float32Array;
  labels: Int32Array;
  state: [name: string, shape: number[], values: Float32Array | Int32Array][];
}

export interface Result {
  workload: string;
  params: Record<string, number | string>;
  impl: string;
  median_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  /** Interquartile range of the samples (runs since the report page; older runs have min/max only). */
  p25_ms?: number | null;
  p75_ms?: number | null;
  samples: number;
  gflops?: number | null;
  /** gflops as a percentage of the machine's stated peak. */
  pct_of_peak?: number;
  /** Bytes read and written per second (reductions), in GB/s. */
  gbps?: number | null;
  ok: boolean;
  note?: string;
}
