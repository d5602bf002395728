/** @file tfjs layers models: model.json topology plus weight shards (float32, int32, or uint8/uint16/float16 quantized). */
import { type Backend, GraftFormatError, type Tensor, tensor } from '../../index.js';
import { plainBytes } from './bytes.js';
import { f16ToF32 } from '../../core/half.js';
import { moduleExport } from './jsLiteral.js';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number };
}

/** The parts of model.json graft uses. */
export interface TfjsModelJson {
  modelTopology: { model_config?: KerasModelConfig; keras_version?: string } & Record<string, unknown>;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}
export interface KerasLayerConfig {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}
export interface KerasModelConfig {
  class_name: string;
  config: { name?: string; layers: KerasLayerConfig[]; input_layers: [string, number, number][]; output_layers: [string, number, number][] };
}

export interface LoadedTfjs {
  model: TfjsModelJson;
  /** Weights by manifest name, dequantized to f32, in the stored (Keras, channels-last) layout. */
  weights: Map<string, Tensor>;
}

function check(cond: unknown, file: string, msg: string): asserts cond {
  if (!cond) throw new GraftFormatError(`tfjs: ${file}: ${msg}`);
}

/** Decodes the weight bytes (all shards concatenated, in manifest order) against the manifest. */
export function loadTfjsLayers(model: TfjsModelJson, data: Uint8Array | ArrayBuffer, opts: { file?: string; backend?: Backend } = {}): LoadedTfjs {
  const file = opts.file ?? 'model.json';
  const weightData = plainBytes(data, `tfjs: ${file}`);
  check(model && typeof model === 'object' && Array.isArray(model.weightsManifest), file, 'no weightsManifest');
  const view = new DataView(weightData.buffer, weightData.byteOffset, weightData.byteLength);
  const weights = new Map<string, Tensor>();
  let at = 0;
  for (const group of model.weightsManifest) {
    check(Array.isArray(group?.weights), file, 'a weightsManifest group has no weights list');
    for (const w of group.weights) {
      check(typeof w?.name === 'string' && Array.isArray(w.shape) && w.shape.every((d) => Number.isSafeInteger(d) && d >= 0), file, `weight ${JSON.stringify(w?.name)} has a bad shape`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      // tfjs writes bool weights one byte each.
      const bytes = q ? (q.dtype === 'uint8' ? 1 : 2) : w.dtype === 'bool' ? 1 : 4;
      check(!q || ['uint8', 'uint16', 'float16'].includes(q.dtype), file, `weight '${w.name}' uses quantization ${JSON.stringify(q?.dtype)}`);
      check(!q || q.dtype === 'float16' || (Number.isFinite(q.min) && Number.isFinite(q.scale)), file, `weight '${w.name}' lacks quantization min/scale`);
      check(at + n * bytes <= weightData.length, file, `weight '${w.name}' needs bytes ${at}..${at + n * bytes}, the shards hold ${weightData.length}`);
      check(['float32', 'int32', 'bool'].includes(w.dtype), file, `weight '${w.name}' has dtype ${JSON.stringify(w.dtype)}`);
      check(!q || w.dtype === 'float32', file, `weight '${w.name}' is ${w.dtype} but quantized as ${q?.dtype}`);
      const isInt = w.dtype === 'int32';
      const isBool = w.dtype === 'bool';
      const out = isInt ? new Int32Array(n) : isBool ? new Uint8Array(n) : new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const o = at + i * bytes;
        if (isBool) out[i] = view.getUint8(o) ? 1 : 0;
        else if (!q) out[i] = isInt ? view.getInt32(o, true) : view.getFloat32(o, true);
        else if (q.dtype === 'float16') out[i] = f16ToF32(view.getUint16(o, true));
        else out[i] = (q.dtype === 'uint8' ? view.getUint8(o) : view.getUint16(o, true)) * q.scale! + q.min!;
      }
      at += n * bytes;
      check(!weights.has(w.name), file, `weight '${w.name}' appears twice`);
      weights.set(w.name, tensor(out, { shape: w.shape, dtype: isInt ? 'i32' : isBool ? 'bool' : 'f32', backend: opts.backend }));
    }
  }
  check(at === weightData.length, file, `the shards hold ${weightData.length} bytes, the manifest describes ${at}`);
  return { model, weights };
}

/**
 * The form some npm packages ship models in: model.json and each shard wrapped as a JavaScript
 * module. Their text is parsed as data (see jsLiteral.ts), never run.
 */
export function loadTfjsLayersFromModules(modelJs: string, shardJs: string[], opts: { file?: string; backend?: Backend } = {}): LoadedTfjs {
  const file = opts.file ?? 'model.min.js';
  const model = moduleExport(modelJs, file) as TfjsModelJson;
  const shards = shardJs.map((s, i) => {
    const b64 = moduleExport(s, `${file} shard ${i + 1}`);
    check(typeof b64 === 'string' && /^[A-Za-z0-9+/=\s]*$/.test(b64), file, `shard ${i + 1} does not export a base64 string`);
    let text: string;
    try {
      text = atob(b64.replace(/\s/g, ''));
    } catch (e) {
      throw new GraftFormatError(`tfjs: ${file}: shard ${i + 1} is not valid base64 (${(e as Error).message})`);
    }
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  });
  const all = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of shards) {
    all.set(s, at);
    at += s.length;
  }
  return loadTfjsLayers(model, all, opts);
}
