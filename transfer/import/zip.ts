/** @file A bounded ZIP reader (stored and deflated entries, ZIP64 sizes) for PyTorch's archive format. */
import { GraftFormatError } from '../../index.js';
import { inflateRaw } from '../platform/node.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;
  /** Bytes inflated so far, against `maxInflated`. */
  private inflated = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    /** Most bytes all deflated entries may expand to together (a small archive must not claim gigabytes). */
    readonly maxInflated: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readDirectory();
  }

  private fail(msg: string): never {
    throw new GraftFormatError(`zip: ${this.file}: ${msg}`);
  }

  private u16(at: number): number {
    if (at + 2 > this.bytes.length) this.fail(`read past the end at offset ${at}`);
    return this.view.getUint16(at, true);
  }
  private u32(at: number): number {
    if (at + 4 > this.bytes.length) this.fail(`read past the end at offset ${at}`);
    return this.view.getUint32(at, true);
  }
  private u64(at: number): number {
    if (at + 8 > this.bytes.length) this.fail(`read past the end at offset ${at}`);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`64-bit size ${v} at offset ${at} is too large`);
    return Number(v);
  }

  private readDirectory(): void {
    const b = this.bytes;
    if (b.length < 22) this.fail(`${b.length} bytes is too short for a zip archive`);
    let eocd = -1;
    for (let at = b.length - 22; at >= Math.max(0, b.length - 22 - 65535); at--) {
      if (this.view.getUint32(at, true) === EOCD) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record (not a zip archive, or truncated)');
    let count = this.u16(eocd + 10);
    let dirSize = this.u32(eocd + 12);
    let dirOffset = this.u32(eocd + 16);
    if (eocd >= 20 && this.u32(eocd - 20) === EOCD64_LOCATOR) {
      const at64 = this.u64(eocd - 20 + 8);
      if (this.u32(at64) !== EOCD64) this.fail(`bad ZIP64 end record at offset ${at64}`);
      count = this.u64(at64 + 32);
      dirSize = this.u64(at64 + 40);
      dirOffset = this.u64(at64 + 48);
    }
    if (dirOffset + dirSize > b.length) this.fail(`central directory at offset ${dirOffset} (${dirSize} bytes) runs past the end`);
    if (count > dirSize / 46) this.fail(`${count} entries cannot fit a central directory of ${dirSize} bytes`);
    let at = dirOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(at) !== CENTRAL) this.fail(`bad central directory entry ${i} at offset ${at}`);
      const method = this.u16(at + 10);
      let compressedSize = this.u32(at + 20);
      let size = this.u32(at + 24);
      const nameLen = this.u16(at + 28);
      const extraLen = this.u16(at + 30);
      const commentLen = this.u16(at + 32);
      let headerOffset = this.u32(at + 42);
      if (at + 46 + nameLen > b.length) this.fail(`entry ${i} name at offset ${at + 46} runs past the end`);
      const name = new TextDecoder().decode(b.subarray(at + 46, at + 46 + nameLen));
      // ZIP64 extra field: the 64-bit values replace those stored as 0xffffffff, in this order.
      let ex = at + 46 + nameLen;
      const exEnd = ex + extraLen;
      while (ex + 4 <= exEnd) {
        const id = this.u16(ex);
        const len = this.u16(ex + 2);
        if (id === 1) {
          let p = ex + 4;
          if (size === 0xffffffff) (size = this.u64(p)), (p += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.u64(p)), (p += 8);
          if (headerOffset === 0xffffffff) headerOffset = this.u64(p);
        }
        ex += 4 + len;
      }
      if (method !== 0 && method !== 8) this.fail(`entry '${name}' uses compression method ${method} (only stored and deflate are read)`);
      if (headerOffset + 30 > b.length) this.fail(`entry '${name}' local header at offset ${headerOffset} is past the end`);
      this.entries.set(name, { name, method, compressedSize, size, headerOffset });
      at += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** The entry's uncompressed bytes (a view into the archive for stored entries). */
  async read(name: string): Promise<Uint8Array> {
    const e = this.entries.get(name);
    if (!e) this.fail(`no entry '${name}'`);
    const h = e.headerOffset;
    if (this.u32(h) !== LOCAL) this.fail(`bad local header for '${name}' at offset ${h}`);
    const start = h + 30 + this.u16(h + 26) + this.u16(h + 28);
    if (start + e.compressedSize > this.bytes.length) this.fail(`data of '${name}' at offset ${start} (${e.compressedSize} bytes) runs past the end`);
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    if (e.method === 0) {
      if (e.size !== e.compressedSize) this.fail(`stored entry '${name}' has sizes ${e.compressedSize} and ${e.size}`);
      return raw;
    }
    if (this.inflated + e.size > this.maxInflated) {
      this.fail(`entry '${name}' declares ${e.size} bytes; with the ${this.inflated} already inflated that passes the limit of ${this.maxInflated} (pass a larger maxBytes to allow it)`);
    }
    this.inflated += e.size;
    let out: Uint8Array;
    try {
      out = await inflateRaw(raw, e.size);
    } catch (err) {
      this.fail(`entry '${name}' at offset ${start} does not inflate: ${(err as Error).message}`);
    }
    if (out.length !== e.size) this.fail(`entry '${name}' inflated to ${out.length} bytes, expected ${e.size}`);
    return out;
  }
}
