/** @file A small WebAssembly binary writer: LEB128, the few sections graft's kernels need, and a body builder with the opcodes they use. */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(byte & 0x40)) || (v === -1 && byte & 0x40)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));

/** A function body under construction; each method appends one instruction and returns the builder. */
export class Body {
  readonly code: number[] = [];
  private op(...b: number[]): this {
    this.code.push(...b);
    return this;
  }
  get(l: number): this { return this.op(0x20, ...uleb(l)); }
  set(l: number): this { return this.op(0x21, ...uleb(l)); }
  tee(l: number): this { return this.op(0x22, ...uleb(l)); }
  i32(v: number): this { return this.op(0x41, ...sleb(v)); }
  add(): this { return this.op(0x6a); }
  sub(): this { return this.op(0x6b); }
  mul(): this { return this.op(0x6c); }
  ltU(): this { return this.op(0x49); }
  divU(): this { return this.op(0x6e); }
  remU(): this { return this.op(0x70); }
  i32Load(offset = 0): this { return this.op(0x28, 2, ...uleb(offset)); }
  i32Store(offset = 0): this { return this.op(0x36, 2, ...uleb(offset)); }
  and(): this { return this.op(0x71); }
  shrU(): this { return this.op(0x76); }
  f32Load(offset = 0): this { return this.op(0x2a, 2, ...uleb(offset)); }
  f32Store(offset = 0): this { return this.op(0x38, 2, ...uleb(offset)); }
  f32Max(): this { return this.op(0x97); }
  f32Add(): this { return this.op(0x92); }
  f32Const(v: number): this { return this.op(0x43, ...new Uint8Array(Float32Array.of(v).buffer)); }
  f32Lt(): this { return this.op(0x5d); }
  f32Gt(): this { return this.op(0x5e); }
  f32Eq(): this { return this.op(0x5b); }
  f32Ne(): this { return this.op(0x5c); }
  or(): this { return this.op(0x72); }
  f64Add(): this { return this.op(0xa0); }
  f64Div(): this { return this.op(0xa3); }
  f64ConvertI32U(): this { return this.op(0xb8); }
  f64PromoteF32(): this { return this.op(0xbb); }
  f32DemoteF64(): this { return this.op(0xb6); }
  gtU(): this { return this.op(0x4b); }
  eqz(): this { return this.op(0x45); }
  ne(): this { return this.op(0x47); }
  select(): this { return this.op(0x1b); }
  block(): this { return this.op(0x02, 0x40); }
  loop(): this { return this.op(0x03, 0x40); }
  if(): this { return this.op(0x04, 0x40); }
  /** Calls function `index` of the module (its arguments on the stack). */
  call(index: number): this { return this.op(0x10, ...uleb(index)); }
  else(): this { return this.op(0x05); }
  end(): this { return this.op(0x0b); }
  /** Leaves the function (its results are none). */
  return(): this { return this.op(0x0f); }
  br(depth: number): this { return this.op(0x0c, ...uleb(depth)); }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)); }
  /** memory.copy(dst, src, bytes): a native memmove (bulk memory). */
  memoryCopy(): this { return this.op(0xfc, ...uleb(10), 0x00, 0x00); }
  /** memory.fill(address, value, bytes): a native memset (bulk memory). */
  memoryFill(): this { return this.op(0xfc, ...uleb(11), 0x00); }
  /** for (local v = 0; v < local bound; v++) body(): the counted loop every kernel here needs. */
  forRange(v: number, bound: number, body: () => void): this {
    this.i32(0).set(v).block().loop();
    this.get(v).get(bound).ltU().eqz().brIf(1);
    body();
    this.get(v).i32(1).add().set(v).br(0).end().end();
    return this;
  }
  /** While local p < local end (unsigned): body, then p += step. */
  walk(p: number, end: number, step: number, body: () => void): this {
    this.block().loop();
    this.get(p).get(end).ltU().eqz().brIf(1);
    body();
    this.get(p).i32(step).add().set(p).br(0).end().end();
    return this;
  }
  private simd(opcode: number, ...imm: number[]): this { return this.op(0xfd, ...uleb(opcode), ...imm); }
  /** v128.load at address + offset (16-byte alignment hint). */
  load(offset = 0): this { return this.simd(0x00, 4, ...uleb(offset)); }
  /** One f32 at address + offset, splat to all four lanes. */
  loadSplat(offset = 0): this { return this.simd(0x09, 2, ...uleb(offset)); }
  store(offset = 0): this { return this.simd(0x0b, 4, ...uleb(offset)); }
  zero(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }
  /** v128.const of four f32 lanes, all `v`. */
  f32x4Const(v: number): this {
    const bytes = new Uint8Array(new Float32Array([v, v, v, v]).buffer);
    return this.simd(0x0c, ...bytes);
  }
  /** v128.const of four i32 lanes, all `v`. */
  i32x4Const(v: number): this {
    const bytes = new Uint8Array(new Int32Array([v, v, v, v]).buffer);
    return this.simd(0x0c, ...bytes);
  }
  /** v128.const of four i32 lanes. */
  i32x4Lanes(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0c, ...new Uint8Array(Int32Array.from(lanes).buffer));
  }
  /** An i32 on the stack to all four lanes. */
  i32x4Splat(): this { return this.simd(0x11); }
  /** Round to nearest, ties to even. */
  f32x4Nearest(): this { return this.simd(0x6a); }
  /** f32 lanes to i32, truncating and saturating (NaN gives 0). */
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }
  /** Shifts by an i32 on the stack. */
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4ShrS(): this { return this.simd(0xac); }
  i32x4Add(): this { return this.simd(0xae); }
  i32x4Sub(): this { return this.simd(0xb1); }
  /** Eight bytes into the low lane, zero above (v128.load64_zero). */
  load64Zero(offset = 0): this { return this.simd(0x5d, 3, ...uleb(offset)); }
  /** The two low f32 lanes as f64x2. */
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f); }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21, lane); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  f32x4Eq(): this { return this.simd(0x41); }
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  v128And(): this { return this.simd(0x4e); }
  v128Or(): this { return this.simd(0x50); }
  f32x4Ne(): this { return this.simd(0x42); }
  f32x4Ge(): this { return this.simd(0x46); }
  /** i32 lanes to f32, exactly for |v| < 2^24. */
  f32x4ConvertI32x4S(): this { return this.simd(0xfa); }
  /** Lanes of the first operand where the mask (third) is set, else of the second. */
  bitselect(): this { return this.simd(0x52); }
  /** i8x16.shuffle of the two vectors on the stack by f32 lanes (0-3 the first, 4-7 the second). */
  f32x4Shuffle(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }
  /** An f32 on the stack to all four lanes. */
  f32x4Splat(): this { return this.simd(0x13); }
  f32x4Abs(): this { return this.simd(0xe0); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Div(): this { return this.simd(0xe7); }
  /** IEEE minimum and maximum: NaN if either lane is NaN, -0 below +0. */
  f32x4Min(): this { return this.simd(0xe8); }
  f32x4Max(): this { return this.simd(0xe9); }
  /** Pseudo-minimum b < a ? b : a and pseudo-maximum a < b ? b : a (NaN in a passes through). */
  f32x4Pmin(): this { return this.simd(0xea); }
  f32x4Pmax(): this { return this.simd(0xeb); }
}

export interface WasmFunction {
  name: string;
  /** Parameter types (results are none: kernels write memory). */
  params: number[];
  locals: number[];
  body: Body;
}

/** A module importing env.memory (shared when asked) and exporting `funcs`. */
export function wasmModule(memory: { min: number; max: number; shared: boolean }, funcs: WasmFunction[]): Uint8Array<ArrayBuffer> {
  const types = section(1, vec(funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0])));
  const imports = section(2, vec([[...name('env'), ...name('memory'), 0x02, memory.shared ? 0x03 : 0x01, ...uleb(memory.min), ...uleb(memory.max)]]));
  const fns = section(3, vec(funcs.map((_, i) => uleb(i))));
  const exports = section(7, vec(funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])));
  const code = section(10, vec(funcs.map((f) => {
    const body = [...vec(f.locals.map((t) => [1, t])), ...f.body.code, 0x0b];
    return [...uleb(body.length), ...body];
  })));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...fns, ...exports, ...code]);
}
