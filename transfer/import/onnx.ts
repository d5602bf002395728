/** @file ONNX initializers: a bounded protobuf walk over ModelProto.graph.initializer into graft tensors. */
import { type Backend, type DType, GraftFormatError, type Tensor, tensor } from '../../index.js';
import { plainBytes } from './bytes.js';
import { bf16ToF32, f16ToF32 } from './halfFloat.js';
import type { LoadedStateDict } from './safetensors.js';

/** Wire-level protobuf reader: varints, fixed widths and length-delimited fields, all bounds-checked. */
class ProtoReader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }
  fail(msg: string): never {
    throw new GraftFormatError(`onnx: ${this.file}: ${msg} (at byte ${this.pos})`);
  }
  done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) this.fail('varint runs past the end');
      const b = this.bytes[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        // int64 fields arrive as 64-bit two's complement.
        const s = BigInt.asIntN(64, v);
        if (s > BigInt(Number.MAX_SAFE_INTEGER) || s < BigInt(Number.MIN_SAFE_INTEGER)) this.fail(`integer ${s} is out of range`);
        return Number(s);
      }
    }
    return this.fail('varint is longer than 10 bytes');
  }
  /** [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }
  bytesField(): Uint8Array {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) this.fail(`field of ${n} bytes runs past the end`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytesField();
    else if (wire === 5) this.pos += 4;
    else this.fail(`unsupported wire type ${wire}`);
    if (this.pos > this.end) this.fail('field runs past the end');
  }
  /** A little-endian float32 (wire type 5), bounds-checked. */
  f32(): number {
    if (this.pos + 4 > this.end) this.fail('a 4-byte float runs past the end');
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  sub(b: Uint8Array): ProtoReader {
    return new ProtoReader(b, this.file);
  }
}

interface RawTensor {
  name: string;
  dims: number[];
  dataType: number;
  raw: Uint8Array | null;
  floats: number[];
  ints: number[];
  doubles: number[];
  external: boolean;
}

function readTensorProto(r: ProtoReader): RawTensor {
  const t: RawTensor = { name: '', dims: [], dataType: 0, raw: null, floats: [], ints: [], doubles: [], external: false };
  const packedOrOne = (wire: number, one: () => number, into: number[]) => {
    if (wire === 2) {
      const p = r.sub(r.bytesField());
      while (!p.done()) into.push(one.call(p));
    } else into.push(one.call(r));
  };
  // Fixed-width repeated fields arrive packed (one length-delimited run) or one value at a time.
  const fixed = (wire: number, width: number, read: (v: DataView, at: number) => number, into: number[], what: string) => {
    if (wire === 2) {
      const b = r.bytesField();
      if (b.length % width) r.fail(`${what} of ${b.length} bytes is not a multiple of ${width}`);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < b.length; i += width) into.push(read(v, i));
    } else {
      if (r.pos + width > r.end) r.fail(`${what} runs past the end`);
      into.push(read(new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength), r.pos));
      r.pos += width;
    }
  };
  while (!r.done()) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1: packedOrOne(wire, ProtoReader.prototype.varint, t.dims); break;
      case 2: t.dataType = r.varint(); break;
      case 4: fixed(wire, 4, (v, at) => v.getFloat32(at, true), t.floats, 'float_data'); break;
      case 5:
      case 7:
        packedOrOne(wire, ProtoReader.prototype.varint, t.ints);
        break;
      case 8: t.name = new TextDecoder().decode(r.bytesField()); break;
      case 9: t.raw = r.bytesField(); break;
      case 10: fixed(wire, 8, (v, at) => v.getFloat64(at, true), t.doubles, 'double_data'); break;
      case 14: t.external = r.varint() === 1; break;
      default: r.skip(wire);
    }
  }
  return t;
}

/** ONNX data types graft reads, with their byte width in raw_data and their graft dtype. */
const TYPES: Record<number, { name: string; bytes: number; dtype: DType; read: (v: DataView, at: number) => number }> = {
  1: { name: 'FLOAT', bytes: 4, dtype: 'f32', read: (v, at) => v.getFloat32(at, true) },
  2: { name: 'UINT8', bytes: 1, dtype: 'i32', read: (v, at) => v.getUint8(at) },
  3: { name: 'INT8', bytes: 1, dtype: 'i32', read: (v, at) => v.getInt8(at) },
  4: { name: 'UINT16', bytes: 2, dtype: 'i32', read: (v, at) => v.getUint16(at, true) },
  5: { name: 'INT16', bytes: 2, dtype: 'i32', read: (v, at) => v.getInt16(at, true) },
  6: { name: 'INT32', bytes: 4, dtype: 'i32', read: (v, at) => v.getInt32(at, true) },
  7: {
    name: 'INT64', bytes: 8, dtype: 'i32',
    read: (v, at) => {
      const x = v.getBigInt64(at, true);
      if (x > 2147483647n || x < -2147483648n) throw new RangeError(`INT64 value ${x} does not fit i32`);
      return Number(x);
    },
  },
  9: { name: 'BOOL', bytes: 1, dtype: 'bool', read: (v, at) => (v.getUint8(at) ? 1 : 0) },
  10: { name: 'FLOAT16', bytes: 2, dtype: 'f32', read: (v, at) => f16ToF32(v.getUint16(at, true)) },
  11: { name: 'DOUBLE', bytes: 8, dtype: 'f32', read: (v, at) => v.getFloat64(at, true) },
  16: { name: 'BFLOAT16', bytes: 2, dtype: 'f32', read: (v, at) => bf16ToF32(v.getUint16(at, true)) },
};

/** Every integer type's range (INT64's is graft's i32). */
const INT_RANGE: Record<string, [number, number]> = {
  UINT8: [0, 255], INT8: [-128, 127], UINT16: [0, 65535], INT16: [-32768, 32767], BOOL: [0, 1],
  INT32: [-(2 ** 31), 2 ** 31 - 1], INT64: [-(2 ** 31), 2 ** 31 - 1],
};

function toTensor(t: RawTensor, r: ProtoReader, backend?: Backend): Tensor {
  const type = TYPES[t.dataType];
  const what = `initializer '${t.name}'`;
  if (!type) r.fail(`${what} has data type ${t.dataType}, which graft does not read`);
  if (t.external) r.fail(`${what} keeps its data in an external file, which graft does not follow`);
  if (t.dims.some((d) => d < 0)) r.fail(`${what} has negative dimensions [${t.dims.join(',')}]`);
  const n = t.dims.reduce((a, b) => a * b, 1);
  let values: ArrayLike<number>;
  if (t.raw) {
    if (t.raw.length !== n * type!.bytes) r.fail(`${what}: shape [${t.dims.join(',')}] of ${type!.name} needs ${n * type!.bytes} bytes, raw_data has ${t.raw.length}`);
    const v = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
    const out = type!.dtype === 'f32' ? new Float32Array(n) : type!.dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
    try {
      for (let i = 0; i < n; i++) out[i] = type!.read(v, i * type!.bytes);
    } catch (e) {
      r.fail(`${what}: ${(e as Error).message}`);
    }
    values = out;
  } else {
    // Typed fields: floats for FLOAT, int32_data for the small integer types and FLOAT16 bits, int64_data for INT64.
    const list = t.dataType === 1 ? t.floats : t.dataType === 11 ? t.doubles : t.ints;
    if (list.length !== n) r.fail(`${what}: shape [${t.dims.join(',')}] needs ${n} values, the typed field has ${list.length}`);
    if (type!.dtype !== 'f32') {
      // int64_data and int32_data carry any integer; one outside its type (or outside i32, graft's integer) is refused, not wrapped.
      const [lo, hi] = INT_RANGE[type!.name]!;
      const bad = list.findIndex((x) => x < lo || x > hi);
      if (bad >= 0) r.fail(`${what}: ${type!.name} value ${list[bad]} at element ${bad} is outside [${lo}, ${hi}]${type!.name === 'INT64' ? ' (graft holds integers as i32)' : ''}`);
    }
    values = t.dataType === 10 ? list.map(f16ToF32) : t.dataType === 16 ? list.map(bf16ToF32) : list;
  }
  return tensor(values as Float32Array, { shape: t.dims, dtype: type!.dtype, backend });
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Integer, float, string and list attributes (strides, pads, group, epsilon, ...). */
  attrs: Record<string, number | string | number[]>;
}

function readNode(r: ProtoReader): OnnxNode {
  const node: OnnxNode = { opType: '', inputs: [], outputs: [], attrs: {} };
  const str = () => new TextDecoder().decode(r.bytesField());
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === 2) node.inputs.push(str());
    else if (field === 2 && wire === 2) node.outputs.push(str());
    else if (field === 4 && wire === 2) node.opType = str();
    else if (field === 5 && wire === 2) {
      const a = r.sub(r.bytesField());
      let name = '';
      let value: number | string | number[] | undefined;
      const ints: number[] = [];
      const floats: number[] = [];
      while (!a.done()) {
        const [af, aw] = a.tag();
        if (af === 1 && aw === 2) name = new TextDecoder().decode(a.bytesField());
        else if (af === 2 && aw === 5) value = a.f32();
        else if (af === 3 && aw === 0) value = a.varint();
        else if (af === 4 && aw === 2) value = new TextDecoder().decode(a.bytesField());
        else if (af === 8) {
          if (aw === 2) {
            const p = a.sub(a.bytesField());
            while (!p.done()) ints.push(p.varint());
          } else ints.push(a.varint());
        } else if (af === 7 && aw === 5) floats.push(a.f32());
        else if (af === 7 && aw === 2) {
          const p = a.sub(a.bytesField());
          while (!p.done()) floats.push(p.f32());
        } else a.skip(aw);
      }
      node.attrs[name] = value ?? (ints.length ? ints : floats);
    } else r.skip(wire);
  }
  return node;
}

/** The graph's nodes in order, with their attributes (no execution; for mapping weights onto layers). */
export function loadOnnxNodes(bytes: Uint8Array | ArrayBuffer, opts: { file?: string } = {}): OnnxNode[] {
  const model = new ProtoReader(plainBytes(bytes, 'onnx'), opts.file ?? '<bytes>');
  const nodes: OnnxNode[] = [];
  while (!model.done()) {
    const [field, wire] = model.tag();
    if (field === 7 && wire === 2) {
      const graph = model.sub(model.bytesField());
      while (!graph.done()) {
        const [gf, gw] = graph.tag();
        if (gf === 1 && gw === 2) nodes.push(readNode(graph.sub(graph.bytesField())));
        else graph.skip(gw);
      }
    } else model.skip(wire);
  }
  return nodes;
}

/** One serialized TensorProto (the test data's input_0.pb and output_0.pb). */
export function loadOnnxTensor(bytes: Uint8Array | ArrayBuffer, opts: { file?: string; backend?: Backend } = {}): { name: string; tensor: Tensor } {
  const r = new ProtoReader(plainBytes(bytes, 'onnx'), opts.file ?? '<bytes>');
  const raw = readTensorProto(r);
  return { name: raw.name, tensor: toTensor(raw, r, opts.backend) };
}

/** The weights (graph initializers) of an .onnx model, by initializer name. */
export function loadOnnxInitializers(bytes: Uint8Array | ArrayBuffer, opts: { file?: string; backend?: Backend } = {}): LoadedStateDict {
  const file = opts.file ?? '<bytes>';
  const model = new ProtoReader(plainBytes(bytes, `onnx: ${file}`), file);
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  let sawGraph = false;
  while (!model.done()) {
    const [field, wire] = model.tag();
    if (field === 2 && wire === 2) metadata.producer_name = new TextDecoder().decode(model.bytesField());
    else if (field === 7 && wire === 2) {
      sawGraph = true;
      const graph = model.sub(model.bytesField());
      while (!graph.done()) {
        const [gf, gw] = graph.tag();
        if (gf === 5 && gw === 2) {
          const t = readTensorProto(graph.sub(graph.bytesField()));
          if (tensors.has(t.name)) graph.fail(`initializer '${t.name}' appears twice`);
          tensors.set(t.name, toTensor(t, graph, opts.backend));
        } else graph.skip(gw);
      }
    } else model.skip(wire);
  }
  if (!sawGraph) throw new GraftFormatError(`onnx: ${file}: no graph in the model (not an ONNX ModelProto?)`);
  return { tensors, metadata };
}
