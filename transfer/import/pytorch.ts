/** @file PyTorch `torch.save` files, zip and legacy formats: tensors rebuilt from storages as views, nothing executed, work bounded by the file. */
import { type Backend, type DType, GraftFormatError, Tensor, tensor } from '../../index.js';
import { plainBytes } from './bytes.js';
import { bf16ToF32, f16ToF32 } from '../../core/half.js';
import { PyTuple, StorageRef, TensorRef, unpickle, unpickleAt } from './pickle.js';
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

export interface PytorchOptions {
  /** Name used in error messages. */
  file?: string;
  backend?: Backend;
  /**
   * Most bytes a load may decompress and allocate for storages (default 64 MiB plus 8 times the
   * file's size): a small file cannot make a large load unless the caller allows it.
   */
  maxBytes?: number;
  /** Half tensors as f16 ('f16', as torch.load keeps them) or widened to f32 (the default: f32 weights to fine-tune). */
  halfAs?: 'f32' | 'f16';
}

/** Containers and values visited while flattening, per byte of pickle (plus a floor): bounds shared-container blow-ups. */
const VISITS_PER_BYTE = 4;
const MAX_NESTING = 10_000;

/** The legacy (non-zip) format starts with a protocol-2 pickle of this magic number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Where a load finds its pickle and its storages' raw bytes. */
interface Archive {
  /** The unpickled object, and the size of its pickle (the walk's budget is set by it). */
  root: unknown;
  pickleBytes: number;
  storage(key: string): Promise<Uint8Array>;
}

/** Whether the bytes start like a legacy `torch.save` file (a pickle of the magic number). */
export function isLegacyPytorch(bytes: Uint8Array): boolean {
  return bytes.length >= 13 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a && bytes[4] === 0x6c && bytes[5] === 0xfc;
}

/**
 * Reads a `torch.save` file (the zip format, or the legacy format of `_use_new_zipfile_serialization=False`):
 * the pickled object's tensors flattened to dotted names (a nested {'state_dict': {...}} gives
 * 'state_dict.fc.weight'), and its plain scalars as metadata. Tensors over one storage share it as
 * views. Half (unless halfAs is 'f16') and bfloat16 widen to f32, integers become i32 (int64 checked for range).
 */
export async function loadPytorch(input: Uint8Array | ArrayBuffer, opts: PytorchOptions = {}): Promise<LoadedStateDict> {
  const file = opts.file ?? '<bytes>';
  const bytes = plainBytes(input, `pytorch: ${file}`);
  const fail = (msg: string): never => {
    throw new GraftFormatError(`pytorch: ${file}: ${msg}`);
  };
  const maxBytes = opts.maxBytes ?? 64 * 2 ** 20 + 8 * bytes.length;
  const archive = isLegacyPytorch(bytes) ? legacyArchive(bytes, file, fail) : await zipArchive(bytes, file, maxBytes, fail);
  const { root } = archive;

  let allocated = 0;
  const bases = new Map<string, { ref: StorageRef; base: Tensor }>();
  const storageOf = async (ref: StorageRef, name: string): Promise<Tensor> => {
    const el = ELEMENT[ref.type]!;
    const known = bases.get(ref.key);
    if (known) {
      // One key is one storage: a second claim of another size or type would skip the checks below.
      if (known.ref.type !== ref.type || known.ref.numel !== ref.numel) {
        fail(`tensor '${name}' claims storage ${ref.key} as ${ref.numel} ${ref.type} elements, an earlier tensor as ${known.ref.numel} ${known.ref.type}`);
      }
      return known.base;
    }
    allocated += ref.numel * el.bytes;
    if (allocated > maxBytes) fail(`storages need more than ${maxBytes} bytes (pass a larger maxBytes to allow it)`);
    const raw = await archive.storage(ref.key);
    if (raw.length !== ref.numel * el.bytes) {
      fail(`storage ${ref.key} holds ${raw.length} bytes, ${ref.numel} ${ref.type} elements need ${ref.numel * el.bytes}`);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = el.dtype === 'f32' ? new Float32Array(ref.numel) : el.dtype === 'i32' ? new Int32Array(ref.numel) : new Uint8Array(ref.numel);
    for (let i = 0; i < ref.numel; i++) {
      try {
        values[i] = el.read(view, i * el.bytes);
      } catch (e) {
        fail(`tensor '${name}': storage ${ref.key} element ${i}: ${(e as Error).message}`);
      }
    }
    const dtype = ref.type === 'HalfStorage' && opts.halfAs === 'f16' ? 'f16' : el.dtype;
    const base = tensor(values, { shape: [ref.numel], dtype, backend: opts.backend });
    bases.set(ref.key, { ref, base });
    return base;
  };

  const build = async (ref: TensorRef, name: string): Promise<Tensor> => {
    const { shape, stride, offset } = ref;
    if (shape.length !== stride.length) fail(`tensor '${name}' has ${shape.length} sizes and ${stride.length} strides`);
    const n = shape.reduce((a, b) => a * b, 1);
    const last = offset + shape.reduce((s, d, i) => s + (d - 1) * stride[i]!, 0);
    if (n > 0 && last >= ref.storage.numel) fail(`tensor '${name}' reads element ${last} of storage ${ref.storage.key}, which has ${ref.storage.numel}`);
    if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) fail(`tensor '${name}' of shape [${shape.join(',')}] has more elements than a tensor can hold`);
    const base = await storageOf(ref.storage, name);
    // A view: overlapping strides or many names for one storage cost no memory.
    return Tensor.viewOf(base, [...shape], [...stride], offset);
  };

  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  const seen = new Set<string>();
  const claim = (name: string) => {
    if (seen.has(name)) fail(`two entries flatten to the name '${name}' (keys that contain dots collide with nesting)`);
    seen.add(name);
  };
  // Depth-first with an explicit stack: deep nesting cannot overflow the call stack, a container
  // holding itself is refused, and shared containers cannot expand the work past the file's size.
  const budget = VISITS_PER_BYTE * archive.pickleBytes + 10_000;
  let visits = 0;
  const open = new Set<object>();
  type Frame = { value: unknown; name: string; depth: number } | { leave: object };
  const stack: Frame[] = [{ value: root, name: '', depth: 0 }];
  while (stack.length) {
    const f = stack.pop()!;
    if ('leave' in f) {
      open.delete(f.leave);
      continue;
    }
    if (++visits > budget) fail(`the pickle expands to more than ${budget} entries (shared containers nested too often)`);
    const { value: v, name, depth } = f;
    if (depth > MAX_NESTING) fail(`containers nest deeper than ${MAX_NESTING} levels at '${name.slice(0, 80)}...'`);
    if (v instanceof TensorRef) {
      claim(name);
      tensors.set(name, await build(v, name));
    } else if (v instanceof Map || Array.isArray(v) || v instanceof PyTuple) {
      if (open.has(v)) fail(`'${name || '<root>'}' contains itself`);
      open.add(v);
      stack.push({ leave: v });
      const kids: [string, unknown][] = v instanceof Map ? [...v].map(([k, x]) => [String(k), x]) : (Array.isArray(v) ? v : v.items).map((x, i) => [String(i), x]);
      for (let i = kids.length - 1; i >= 0; i--) {
        const [k, x] = kids[i]!;
        stack.push({ value: x, name: name ? `${name}.${k}` : k, depth: depth + 1 });
      }
    } else if (v instanceof StorageRef) {
      fail(`'${name}' is a bare storage, not a tensor`);
    } else if (name && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint')) {
      claim(name);
      metadata[name] = String(v);
    }
  }
  // The views hold the storages; the 1-D bases were only for building them.
  for (const { base } of bases.values()) base.dispose();
  return { tensors, metadata };
}

async function zipArchive(bytes: Uint8Array, file: string, maxBytes: number, fail: (m: string) => never): Promise<Archive> {
  const zip = new ZipArchive(bytes, file, maxBytes);
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) fail(`no <name>/data.pkl entry: not a torch.save file`);
  const prefix = pkl!.slice(0, -'data.pkl'.length);
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(await zip.read(`${prefix}byteorder`));
    if (order !== 'little') fail(`byte order '${order}' is not supported`);
  }
  const pickle = await zip.read(pkl!);
  return { root: unpickle(pickle, `${file}:${pkl}`), pickleBytes: pickle.length, storage: (key) => zip.read(`${prefix}data/${key}`) };
}

/**
 * The legacy layout: pickles of the magic number, the protocol version, the system info, the
 * object, the sorted storage keys; then per key an int64 element count and the raw bytes.
 */
function legacyArchive(bytes: Uint8Array, file: string, fail: (m: string) => never): Archive {
  const at = (start: number, what: string) => {
    if (start >= bytes.length) fail(`ends before the ${what} (offset ${start})`);
    return unpickleAt(bytes, start, `${file}: ${what}`);
  };
  const magic = at(0, 'magic number');
  if (magic.value !== LEGACY_MAGIC) fail('does not start with the legacy magic number');
  const version = at(magic.end, 'protocol version');
  if (version.value !== 1001) fail(`legacy protocol version ${String(version.value)} is not supported (expected 1001)`);
  const info = at(version.end, 'system info');
  if (info.value instanceof Map && info.value.get('little_endian') === false) fail('was saved on a big-endian machine; it is not supported');
  const objStart = info.end;
  const obj = at(objStart, 'object');
  const keys = at(obj.end, 'storage keys');
  if (!Array.isArray(keys.value) || keys.value.some((k) => typeof k !== 'string')) fail(`the storage key list at offset ${obj.end} is not a list of strings`);
  const storages = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Each record's length is its count times the element size of the type the object names for it.
  const sizes = new Map(obj.storages.map((r) => [r.key, ELEMENT[r.type]!.bytes]));
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    if (pos + 8 > bytes.length) fail(`storage ${key}: its size at offset ${pos} runs past the end`);
    const count = view.getBigInt64(pos, true);
    const el = sizes.get(key);
    if (el === undefined) fail(`storage ${key} is listed but no tensor uses it`);
    const len = Number(count) * el!;
    if (count < 0n || pos + 8 + len > bytes.length) fail(`storage ${key}: ${count} elements at offset ${pos} run past the end of the file`);
    storages.set(key, bytes.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
  }
  return {
    root: obj.value,
    pickleBytes: obj.end - objStart,
    storage: async (key) => storages.get(key) ?? fail(`storage ${key} is not among the file's storages`),
  };
}
