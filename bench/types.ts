/** @file What a benchmark implementation provides and what a result records. */

/** A prepared workload on one implementation: `run` does the work and resolves once results are readable. */
export interface Prepared {
  run: () => Promise<void>;
  /** The output after one run, for the correctness gate. */
  output: () => Promise<Float32Array | number[]>;
  dispose?: () => void | Promise<void>;
}

export interface MatmulParams {
  m: number;
  n: number;
  k: number;
  dtype: 'f32';
}
export interface MlpParams {
  batch: number;
  sizes: number[];
}

/** One implementation (graft on a backend, or a peer library). Missing methods mean "not offered". */
export interface Impl {
  name: string;
  /** null when usable, else why not (the library is missing, no adapter, ...). */
  available: () => Promise<string | null>;
  matmul?: (p: MatmulParams, a: Float32Array, b: Float32Array) => Promise<Prepared>;
  /** One SGD step (lr 0.1) of an MLP with ReLU, softmax cross-entropy; output: the loss and W1 after the step. */
  mlpStep?: (p: MlpParams, init: MlpInit) => Promise<Prepared>;
  close?: () => Promise<void>;
}

/** Shared initial weights and data so every implementation computes the same step. */
export interface MlpInit {
  x: Float32Array;
  labels: Int32Array;
  weights: Float32Array[]; // W_i stored [in, out]
  biases: Float32Array[];
}

export interface Result {
  workload: string;
  params: Record<string, number | string>;
  impl: string;
  median_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  samples: number;
  gflops?: number | null;
  ok: boolean;
  note?: string;
}
