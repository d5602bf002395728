/** @file Test helpers that write hostile .pt files by hand: pickle opcodes and a minimal zip writer. */
import { deflateRawSync } from 'node:zlib';
import { contiguousStrides } from '../../core/shape.js';

export type Part = number | number[] | Uint8Array;

export function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const b of p) out.push(b);
  }
  return Uint8Array.from(out);
}

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
export const str = (s: string): number[] => [0x8c, utf8(s).length, ...utf8(s)];
export const int = (n: number): number[] => [0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
export const global = (mod: string, name: string): number[] => [0x63, ...utf8(`${mod}\n${name}\n`)];
export const put = (k: number): number[] => [0x71, k];
export const get = (k: number): number[] => [0x68, k];
export const PROTO = [0x80, 2];
export const STOP = 0x2e;
export const MARK = 0x28;
export const TUPLE = 0x74;
export const TUPLE2 = 0x86;
export const EMPTY_LIST = 0x5d;
export const EMPTY_DICT = 0x7d;
export const EMPTY_TUPLE = 0x29;
export const APPEND = 0x61;
export const POP = 0x30;
export const SETITEM = 0x73;
export const REDUCE = 0x52;

/** A tensor over storage `key` (claiming `numel` elements, FloatStorage unless told): shape, strides and offset as given. */
export function tensorOp(key: string, numel: number, shape: number[], stride: number[], offset = 0, storage = 'FloatStorage'): number[] {
  const tuple = (xs: number[]) => [MARK, ...xs.flatMap(int), TUPLE];
  return [
    ...global('torch._utils', '_rebuild_tensor_v2'),
    MARK, MARK, ...str('storage'), ...global('torch', storage), ...str(key), ...str('cpu'), ...int(numel), TUPLE, 0x51,
    ...int(offset), ...tuple(shape), ...tuple(stride), TUPLE, REDUCE,
  ];
}

/** A zip archive of the given entries (stored, or deflated with a declared size of the caller's choosing). */
export function zip(entries: { name: string; data: Uint8Array; deflate?: boolean; declaredSize?: number }[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const size = e.declaredSize ?? e.data.length;
    const name = new TextEncoder().encode(e.name);
    const local = new Uint8Array(30 + name.length + body.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, e.deflate ? 8 : 0, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(body, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, e.deflate ? 8 : 0, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const dirSize = centrals.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, dirSize, true);
  ev.setUint32(16, offset, true);
  return bytes(...locals, ...centrals, end);
}

/** A torch.save-shaped archive: `pickle` as archive/data.pkl and each storage as archive/data/KEY. */
export function ptFile(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}, deflate: { declaredSize?: number } | null = null): Uint8Array {
  return zip([
    { name: 'archive/data.pkl', data: pickle },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data, deflate: deflate !== null, declaredSize: deflate?.declaredSize })),
  ]);
}

/** A torch.save zip of a flat {name: tensor} dict (f32 as FloatStorage, integers as LongStorage), each contiguous over a storage of its own. */
export function stateDictPt(tensors: [string, Float32Array | Int32Array, number[]][]): Uint8Array {
  const storage = (d: Float32Array | Int32Array) => (d instanceof Int32Array ? 'LongStorage' : 'FloatStorage');
  const pickle = bytes(PROTO, EMPTY_DICT, MARK, ...tensors.flatMap(([name, d, shape], i) => [str(name), tensorOp(String(i), d.length, shape, contiguousStrides(shape), 0, storage(d))]), 0x75, STOP);
  const raw = (d: Float32Array | Int32Array) => new Uint8Array(d instanceof Int32Array ? BigInt64Array.from(d, BigInt).buffer : d.slice().buffer);
  return ptFile(pickle, Object.fromEntries(tensors.map(([, d], i) => [String(i), raw(d)])));
}
