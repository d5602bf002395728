/** @file safetensors read and write: an 8-byte header length, a JSON header, then one flat byte buffer. */
import { type Backend, type DType, type Tensor, GraftFormatError, tensor } from '../../index.js';
import { alignedCopy, plainBytes } from './bytes.js';
import { bf16ToF32, f16ToF32, f32ToF16 } from '../../core/half.js';

/** The largest JSON header accepted (the reference implementation's cap). */
export const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
const BYTES: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range within the data buffer. */
  begin: number;
  end: number;
}

export interface LoadedStateDict {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export interface SafetensorsOptions {
  /** Name used in error messages. */
  file?: string;
  backend?: Backend;
  /** F16 tensors as f16 ('f16', PyTorch's load_file keeps them so) or widened to f32 (the default: f32 weights to fine-tune). */
  halfAs?: 'f32' | 'f16';
}

/** Parses and validates the header: every entry in range, sizes matching shapes, no overlap, no gap. */
export function parseSafetensorsHeader(input: Uint8Array | ArrayBuffer, file = '<bytes>'): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string>; dataStart: number } {
  const fail = (msg: string): never => {
    throw new GraftFormatError(`safetensors: ${file}: ${msg}`);
  };
  const bytes = plainBytes(input, `safetensors: ${file}`);
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for the 8-byte header length at offset 0`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} at offset 0 exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + n > bytes.length) fail(`header of ${n} bytes at offset 8 runs past the end of the file (${bytes.length} bytes)`);
  let header: unknown;
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (e) {
    fail(`header at offset 8 is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header at offset 8 is not a JSON object');
  const dup = duplicateKey(text);
  if (dup !== null) fail(`header names '${dup}' twice`);
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== 'string')) {
        fail('__metadata__ must map strings to strings');
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') fail(`tensor '${name}': entry is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in BYTES)) fail(`tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as SafetensorsDType;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor '${name}': shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((v) => !Number.isSafeInteger(v) || v < 0) || off[0] > off[1]) {
      fail(`tensor '${name}': data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = off as [number, number];
    if (end > dataLen) fail(`tensor '${name}': data_offsets [${begin}, ${end}] run past the data buffer of ${dataLen} bytes (file offset ${dataStart + end})`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count * BYTES[dtype] !== end - begin) fail(`tensor '${name}': shape [${shape.join(',')}] of ${dtype} needs ${count * BYTES[dtype]} bytes, data_offsets give ${end - begin}`);
    entries.set(name, { dtype, shape, begin, end });
  }
  const sorted = [...entries.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let at = 0;
  for (const [name, e] of sorted) {
    if (e.begin !== at) fail(`tensor '${name}' starts at byte ${e.begin} of the data buffer, expected ${at} (overlap or gap at file offset ${dataStart + at})`);
    at = e.end;
  }
  if (at !== dataLen) fail(`the data buffer has ${dataLen - at} bytes after the last tensor (file offset ${dataStart + at})`);
  return { entries, metadata, dataStart };
}

/** The first top-level key of a JSON object text that appears twice (JSON.parse keeps the last silently), or null. */
function duplicateKey(json: string): string | null {
  const keys = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return null;
}

function decode(bytes: Uint8Array, e: SafetensorsEntry, name: string, file: string): { values: ArrayLike<number>; dtype: DType } {
  const v = new DataView(alignedCopy(bytes, e.begin, e.end));
  const n = e.shape.reduce((a, b) => a * b, 1);
  const out = (dtype: DType, read: (i: number) => number): { values: ArrayLike<number>; dtype: DType } => {
    const arr = dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) arr[i] = read(i);
    return { values: arr, dtype };
  };
  switch (e.dtype) {
    case 'F32': return out('f32', (i) => v.getFloat32(i * 4, true));
    case 'F64': return out('f32', (i) => v.getFloat64(i * 8, true));
    case 'F16': return out('f32', (i) => f16ToF32(v.getUint16(i * 2, true)));
    case 'BF16': return out('f32', (i) => bf16ToF32(v.getUint16(i * 2, true)));
    case 'I32': return out('i32', (i) => v.getInt32(i * 4, true));
    case 'I16': return out('i32', (i) => v.getInt16(i * 2, true));
    case 'I8': return out('i32', (i) => v.getInt8(i));
    case 'U8': return out('i32', (i) => v.getUint8(i));
    case 'BOOL': return out('bool', (i) => (v.getUint8(i) ? 1 : 0));
    case 'I64':
      return out('i32', (i) => {
        const x = v.getBigInt64(i * 8, true);
        if (x > 2147483647n || x < -2147483648n) {
          throw new GraftFormatError(`safetensors: ${file}: tensor '${name}': I64 value ${x} at element ${i} does not fit i32`);
        }
        return Number(x);
      });
  }
}

/**
 * Reads a safetensors file's bytes into graft tensors: F32/F64/BF16 become f32, F16 f32 or (with
 * halfAs 'f16') f16, integer types i32 (I64 checked for range), BOOL bool.
 */
export function loadSafetensors(input: Uint8Array | ArrayBuffer, opts: SafetensorsOptions = {}): LoadedStateDict {
  const file = opts.file ?? '<bytes>';
  const bytes = plainBytes(input, `safetensors: ${file}`);
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, file);
  const data = bytes.subarray(dataStart);
  const tensors = new Map<string, Tensor>();
  for (const [name, e] of entries) {
    const { values, dtype } = decode(data, e, name, file);
    const kept = e.dtype === 'F16' && opts.halfAs === 'f16' ? 'f16' : dtype;
    tensors.set(name, tensor(values as Float32Array, { shape: e.shape, dtype: kept, backend: opts.backend }));
  }
  return { tensors, metadata };
}

const OUT_DTYPE: Record<DType, SafetensorsDType> = { f16: 'F16', f32: 'F32', f64: 'F64', i32: 'I32', bool: 'BOOL' };

/** Serialises tensors (any backend) into safetensors bytes, header padded to 8 bytes. */
export async function saveSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const parts: Uint8Array[] = [];
  // A null-prototype object: a tensor named '__proto__' is a key like any other.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let at = 0;
  const names = new Set<string>();
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new GraftFormatError("saveSafetensors: '__metadata__' is reserved by the format for metadata and cannot name a tensor");
    if (names.has(name)) throw new GraftFormatError(`saveSafetensors: two tensors are named '${name}'`);
    names.add(name);
    const read = await t.data();
    // f16 values arrive widened to f32; the file holds their 16-bit patterns.
    const data = t.dtype === 'f16' ? Uint16Array.from(read as Float32Array, f32ToF16) : read;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    header[name] = { dtype: OUT_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [at, at + bytes.length] };
    parts.push(bytes);
    at += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
