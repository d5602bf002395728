/** @file PyTorch `torch.save` files (the zip format): tensors rebuilt from storages, nothing executed. */
import { type Backend, type DType, GraftFormatError, type Tensor, tensor } from '../../index.js';
import { bf16ToF32, f16ToF32 } from './halfFloat.js';
import { PyTuple, StorageRef, TensorRef, unpickle } from './pickle.js';
import type { LoadedStateDict } from './safetensors.js';
import { ZipArchive } from './zip.js';

const ELEMENT: Record<string, { bytes: number; dtype: DType; read: (v: DataView, at: number) => number }> = {
  FloatStorage: { bytes: 4, dtype: 'f32', read: (v, at) => v.getFloat32(at, true) },
  DoubleStorage: { bytes: 8, dtype: 'f32', read: (v, at) => v.getFloat64(at, true) },
  HalfStorage: { bytes: 2, dtype: 'f32', read: (v, at) => f16ToF32(v.getUint16(at, true)) },
  BFloat16Storage: { bytes: 2, dtype: 'f32', read: (v, at) => bf16ToF32(v.getUint16(at, true)) },
  IntStorage: { bytes: 4, dtype: 'i32', read: (v, at) => v.getInt32(at, true) },
  ShortStorage: { bytes: 2, dtype: 'i32', read: (v, at) => v.getInt16(at, true) },
  CharStorage: { bytes: 1, dtype: 'i32', read: (v, at) => v.getInt8(at) },
  ByteStorage: { bytes: 1, dtype: 'i32', read: (v, at) => v.getUint8(at) },
  BoolStorage: { bytes: 1, dtype: 'bool', read: (v, at) => (v.getUint8(at) ? 1 : 0) },
  LongStorage: {
    bytes: 8,
    dtype: 'i32',
    read: (v, at) => {
      const x = v.getBigInt64(at, true);
      if (x > 2147483647n || x < -2147483648n) throw new RangeError(`int64 value ${x} does not fit i32`);
      return Number(x);
    },
  },
};

/**
 * Reads a `torch.save` zip archive: the pickled object's tensors, flattened to dotted names
 * (a nested {'state_dict': {...}} gives 'state_dict.fc.weight'), and its plain scalars as metadata.
 * Half and bfloat16 widen to f32, integers become i32 (int64 checked for range).
 */
export async function loadPytorch(bytes: Uint8Array, opts: { file?: string; backend?: Backend } = {}): Promise<LoadedStateDict> {
  const file = opts.file ?? '<bytes>';
  const zip = new ZipArchive(bytes, file);
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    const legacy = bytes.length >= 2 && bytes[0] === 0x80;
    throw new GraftFormatError(`pytorch: ${file}: no <name>/data.pkl entry${legacy ? ' (this is the legacy non-zip format; re-save it with a PyTorch of 1.6 or later)' : ''}`);
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(await zip.read(`${prefix}byteorder`));
    if (order !== 'little') throw new GraftFormatError(`pytorch: ${file}: byte order '${order}' is not supported`);
  }
  const root = unpickle(await zip.read(pkl), `${file}:${pkl}`);
  const storages = new Map<string, DataView>();
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};

  const build = async (ref: TensorRef, name: string): Promise<Tensor> => {
    const el = ELEMENT[ref.storage.type]!;
    let data = storages.get(ref.storage.key);
    if (!data) {
      const raw = await zip.read(`${prefix}data/${ref.storage.key}`);
      if (raw.length !== ref.storage.numel * el.bytes) {
        throw new GraftFormatError(`pytorch: ${file}: storage ${ref.storage.key} holds ${raw.length} bytes, ${ref.storage.numel} ${ref.storage.type} elements need ${ref.storage.numel * el.bytes}`);
      }
      const copy = raw.slice();
      data = new DataView(copy.buffer);
      storages.set(ref.storage.key, data);
    }
    const { shape, stride, offset } = ref;
    if (shape.length !== stride.length) throw new GraftFormatError(`pytorch: ${file}: tensor '${name}' has ${shape.length} sizes and ${stride.length} strides`);
    const n = shape.reduce((a, b) => a * b, 1);
    const last = n === 0 ? offset : offset + shape.reduce((s, d, i) => s + (d - 1) * stride[i]!, 0);
    if (last >= ref.storage.numel && n > 0) {
      throw new GraftFormatError(`pytorch: ${file}: tensor '${name}' reads element ${last} of storage ${ref.storage.key}, which has ${ref.storage.numel}`);
    }
    // Overlapping strides could describe far more elements than the file holds; refuse such blow-ups.
    if (n > 64 * ref.storage.numel + 1024) {
      throw new GraftFormatError(`pytorch: ${file}: tensor '${name}' of shape [${shape.join(',')}] would expand storage ${ref.storage.key} of ${ref.storage.numel} elements to ${n}`);
    }
    const values = el.dtype === 'f32' ? new Float32Array(n) : el.dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
    const idx = new Array<number>(shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let at = offset;
      for (let d = 0; d < shape.length; d++) at += idx[d]! * stride[d]!;
      try {
        values[i] = el.read(data, at * el.bytes);
      } catch (e) {
        throw new GraftFormatError(`pytorch: ${file}: tensor '${name}': ${(e as Error).message}`);
      }
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d]! < shape[d]!) break;
        idx[d] = 0;
      }
    }
    return tensor(values, { shape, dtype: el.dtype, backend: opts.backend });
  };

  const walk = async (v: unknown, name: string): Promise<void> => {
    if (v instanceof TensorRef) tensors.set(name, await build(v, name));
    else if (v instanceof Map) {
      for (const [k, x] of v) await walk(x, name ? `${name}.${String(k)}` : String(k));
    } else if (Array.isArray(v) || v instanceof PyTuple) {
      const items = Array.isArray(v) ? v : v.items;
      for (let i = 0; i < items.length; i++) await walk(items[i], name ? `${name}.${i}` : String(i));
    } else if (v instanceof StorageRef) {
      throw new GraftFormatError(`pytorch: ${file}: '${name}' is a bare storage, not a tensor`);
    } else if (name && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')) metadata[name] = String(v);
  };
  await walk(root, '');
  return { tensors, metadata };
}
