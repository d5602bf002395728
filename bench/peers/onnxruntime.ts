/** @file onnxruntime-node (native MLAS kernels) running a one-node ONNX MatMul model built here. */
import type { Impl, MatmulParams, Prepared } from '../types.js';

// A minimal protobuf writer: enough for a ModelProto with one node and typed inputs and outputs.
const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const field = (n: number, bytes: number[]): number[] => [...varint(n * 8 + 2), ...varint(bytes.length), ...bytes];
const int = (n: number, v: number): number[] => [...varint(n * 8), ...varint(v)];
const str = (n: number, s: string): number[] => field(n, [...new TextEncoder().encode(s)]);

function valueInfo(name: string, shape: number[]): number[] {
  const dims = shape.flatMap((d) => field(1, int(1, d)));
  return [...str(1, name), ...field(2, field(1, [...int(1, 1), ...field(2, dims)]))];
}

/** ModelProto bytes for Y = MatMul(A[m,k], B[k,n]), opset 13, f32. */
export function matmulModel(m: number, n: number, k: number): Uint8Array {
  const node = [...str(1, 'A'), ...str(1, 'B'), ...str(2, 'Y'), ...str(4, 'MatMul')];
  const graph = [...field(1, node), ...str(2, 'matmul'), ...field(11, valueInfo('A', [m, k])), ...field(11, valueInfo('B', [k, n])), ...field(12, valueInfo('Y', [m, n]))];
  return Uint8Array.from([...int(1, 8), ...str(2, 'graft-bench'), ...field(7, graph), ...field(8, int(2, 13))]);
}

export const onnxruntime: Impl = {
  name: 'onnxruntime-node',
  async available() {
    try {
      await import('onnxruntime-node');
      return null;
    } catch (e) {
      return `onnxruntime-node: ${(e as Error).message.split('\n')[0]}`;
    }
  },
  async matmul(p: MatmulParams, a: Float32Array, b: Float32Array): Promise<Prepared> {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(matmulModel(p.m, p.n, p.k));
    const feeds = { A: new ort.Tensor('float32', a, [p.m, p.k]), B: new ort.Tensor('float32', b, [p.k, p.n]) };
    let out: Float32Array | null = null;
    return {
      run: async () => {
        const r = await session.run(feeds);
        out = r.Y!.data as Float32Array;
      },
      output: async () => out!,
      dispose: () => session.release(),
    };
  },
};
