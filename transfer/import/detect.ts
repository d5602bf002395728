/** @file Weight-file formats told apart by their first bytes, never by the file's name, and one loader over all of them. */
import { GraftFormatError } from '../../index.js';
import { type Source, readBytes } from '../io.js';
import { plainBytes } from './bytes.js';
import { loadOnnxInitializers } from './onnx.js';
import { isLegacyPytorch, loadPytorch } from './pytorch.js';
import { type LoadedStateDict, MAX_HEADER_BYTES, loadSafetensors } from './safetensors.js';
import { type TfjsModelJson, loadTfjsLayers } from './tfjsLayers.js';

export type WeightFormat = 'safetensors' | 'pytorch' | 'pytorch-legacy' | 'onnx' | 'json' | 'unknown';

/**
 * The format the bytes are in: a zip (`PK\3\4`, torch.save's archive), the legacy torch.save pickle,
 * a safetensors header (an 8-byte length that fits the file, then `{`), an ONNX ModelProto (field 1,
 * ir_version, as a varint first), or JSON text (a tfjs model.json).
 */
export function detectFormat(input: Uint8Array | ArrayBuffer): WeightFormat {
  const b = plainBytes(input, 'detectFormat');
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'pytorch';
  if (isLegacyPytorch(b)) return 'pytorch-legacy';
  if (b.length >= 10) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = Number(view.getBigUint64(0, true));
    if (n >= 2 && n <= MAX_HEADER_BYTES && 8 + n <= b.length && b[8] === 0x7b) return 'safetensors';
  }
  // ir_version is a small positive varint; no other format here starts with tag 0x08.
  if (b.length >= 2 && b[0] === 0x08 && b[1]! > 0 && b[1]! < 0x80) return 'onnx';
  let i = 0;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  if (b[i] === 0x7b) return 'json';
  return 'unknown';
}

/**
 * A state dict from a .safetensors, .pt/.pth/.bin (zip or legacy torch.save), .onnx file (its
 * initializers) or tfjs model.json (with its weight shards beside it, by manifest name), whichever the
 * bytes are; the name is only used in messages.
 */
export async function loadStateDictFile(src: Source, opts: { file?: string } = {}): Promise<LoadedStateDict & { format: WeightFormat }> {
  const { bytes, name: read } = await readBytes(src);
  const file = opts.file ?? read;
  const format = detectFormat(bytes);
  switch (format) {
    case 'safetensors':
      return { ...loadSafetensors(bytes, { file }), format };
    case 'pytorch':
    case 'pytorch-legacy':
      return { ...(await loadPytorch(bytes, { file })), format };
    case 'onnx':
      return { ...loadOnnxInitializers(bytes, { file }), format };
    case 'json':
      return { ...(await tfjsWeights(bytes, src, file)), format };
    default: {
      const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new GraftFormatError(`${file}: not a safetensors, PyTorch (.pt, zip or legacy) or ONNX file (first bytes: ${head || 'none, the file is empty'})`);
    }
  }
}

/** A tfjs model.json's weights: its shards are read from the folder (or URL) the model.json came from. */
async function tfjsWeights(bytes: Uint8Array, src: Source, file: string): Promise<LoadedStateDict> {
  let model: TfjsModelJson;
  try {
    model = JSON.parse(new TextDecoder().decode(bytes)) as TfjsModelJson;
  } catch (e) {
    throw new GraftFormatError(`${file}: JSON text that does not parse: ${(e as Error).message}`);
  }
  if (!model || !Array.isArray(model.weightsManifest)) throw new GraftFormatError(`${file}: JSON without a weightsManifest, not a tfjs model.json`);
  if (src instanceof Uint8Array || src instanceof ArrayBuffer) throw new GraftFormatError(`${file}: a tfjs model.json given as bytes has no folder to read its weight shards from; pass its path or URL`);
  const base = String(src);
  const dir = base.slice(0, base.lastIndexOf('/') + 1);
  const shards: Uint8Array[] = [];
  for (const g of model.weightsManifest) {
    for (const p of g.paths ?? []) {
      if (typeof p !== 'string' || p.includes('..') || p.startsWith('/')) throw new GraftFormatError(`${file}: weight shard path ${JSON.stringify(p)} leaves the model's folder`);
      shards.push((await readBytes(`${dir}${p}`)).bytes);
    }
  }
  const all = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of shards) {
    all.set(s, at);
    at += s.length;
  }
  return { tensors: loadTfjsLayers(model, all, { file }).weights, metadata: {} };
}
