/** @file The models torch.onnx.export wrote for the fromOnnx tests (scripts/make_onnx_models.py), built once per machine into .cache/. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const DIR = fileURLToPath(new URL('../../.cache/onnx-models/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../scripts/make_onnx_models.py', import.meta.url));
export const MODELS = ['resnet18', 'mobilenet_v2', 'bert_tiny'] as const;

/** The exported model's bytes; the export runs first when the cache lacks it (python3-torch and python3-torchvision from apt). */
export function onnxModel(name: (typeof MODELS)[number]): Uint8Array {
  const file = `${DIR}${name}.onnx`;
  if (!existsSync(file)) {
    try {
      execFileSync('/usr/bin/python3', [SCRIPT], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new Error(`cannot export the ONNX test models with ${SCRIPT} (needs apt install python3-torch python3-torchvision): ${(e as { stderr?: Buffer }).stderr?.toString().slice(-400) ?? e}`);
    }
  }
  return new Uint8Array(readFileSync(file));
}

/** onnxruntime-node's outputs for float32 or int64 inputs. */
export async function ortRun(bytes: Uint8Array, inputs: Record<string, { data: ArrayLike<number>; shape: number[]; type: 'float32' | 'int64' }>): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) {
    feeds[k] = v.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(Array.from(v.data, (x) => BigInt(x))), v.shape) : new ort.Tensor('float32', Float32Array.from(v.data), v.shape);
  }
  const out = await session.run(feeds);
  return session.outputNames.map((n) => out[n]!.data as Float32Array);
}
