/** @file Weight-file formats told apart by their first bytes, never by the file's name, and one loader over all of them. */
import { GraftFormatError } from '../../index.js';
import { type Source, readBytes } from '../io.js';
import { plainBytes } from './bytes.js';
import { loadOnnxInitializers } from './onnx.js';
import { isLegacyPytorch, loadPytorch } from './pytorch.js';
import { type LoadedStateDict, MAX_HEADER_BYTES, loadSafetensors } from './safetensors.js';

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
 * A state dict from a .safetensors, .pt/.pth/.bin (zip or legacy torch.save) or .onnx file (its
 * initializers), whichever the bytes are; the name is only used in messages.
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
      throw new GraftFormatError(`${file}: JSON text, not a weight file (a tfjs model.json is read with loadTfjsLayers, with its weight shards)`);
    default: {
      const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new GraftFormatError(`${file}: not a safetensors, PyTorch (.pt, zip or legacy) or ONNX file (first bytes: ${head || 'none, the file is empty'})`);
    }
  }
}
