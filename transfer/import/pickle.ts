/** @file A restricted unpickler: data only, plus the few PyTorch rebuild functions; it calls nothing else. */
import { GraftFormatError } from '../../index.js';

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}
/** A storage named by a persistent id: its dtype name, archive key and element count. */
export class StorageRef {
  constructor(
    readonly type: string,
    readonly key: string,
    readonly numel: number,
  ) {}
}
/** A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

const STORAGE_TYPES = new Set([
  'FloatStorage', 'DoubleStorage', 'HalfStorage', 'BFloat16Storage', 'LongStorage', 'IntStorage', 'ShortStorage',
  'CharStorage', 'ByteStorage', 'BoolStorage',
]);

/** The only callables a file may name; everything else is refused before anything runs. */
const CALLABLES: Record<string, (args: unknown[]) => unknown> = {
  'collections.OrderedDict': () => new Map(),
  'torch._utils._rebuild_tensor_v2': (a) => rebuildTensor(a),
  'torch._utils._rebuild_tensor': (a) => rebuildTensor(a),
  'torch._utils._rebuild_parameter': (a) => a[0],
  'torch._utils._rebuild_parameter_with_state': (a) => a[0],
};

function rebuildTensor(a: unknown[]): TensorRef {
  const [storage, offset, size, stride] = a as [unknown, unknown, unknown, unknown];
  const ints = (v: unknown) => v instanceof PyTuple && v.items.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
  if (!(storage instanceof StorageRef) || !Number.isSafeInteger(offset) || !ints(size) || !ints(stride)) {
    throw new GraftFormatError('pickle: _rebuild_tensor_v2 got arguments that do not describe a tensor');
  }
  return new TensorRef(storage, offset as number, (size as PyTuple).items as number[], (stride as PyTuple).items as number[]);
}

const MAX_DEPTH = 100_000;

/** Evaluates a pickle (protocols 2 to 5) into plain values, Maps, PyTuples and TensorRefs. */
export function unpickle(bytes: Uint8Array, file = '<pickle>'): unknown {
  return unpickleAt(bytes, 0, file).value;
}

/**
 * Evaluates the pickle starting at byte `start` (files may hold several in a row): its value, the
 * byte after its STOP, and every storage its persistent ids named.
 */
export function unpickleAt(bytes: Uint8Array, start: number, file = '<pickle>'): { value: unknown; end: number; storages: StorageRef[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8', { fatal: false });
  let pos = start;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const storages: StorageRef[] = [];
  const fail = (msg: string): never => {
    throw new GraftFormatError(`pickle: ${file}: ${msg} (at byte ${pos})`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`needs ${n} more bytes but the data ends`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the data`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const pop = () => (stack.length ? stack.pop() : fail('pops an empty stack'));
  const top = () => (stack.length ? stack[stack.length - 1] : fail('reads an empty stack'));
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail('closes a mark that was never set');
    return stack.splice(m!);
  };
  const push = (v: unknown) => {
    if (stack.length > MAX_DEPTH) fail('stack grows past its limit');
    stack.push(v);
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    if (!(target instanceof Map)) fail('sets items on something that is not a dict');
    if (kv.length % 2) fail('sets items from an odd number of values');
    for (let i = 0; i < kv.length; i += 2) (target as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const line = () => {
    const end = bytes.indexOf(10, pos);
    if (end < 0) fail('has a text line without its end');
    const s = text.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME
      case 0x2e: return stack.length === 1 ? { value: stack[0], end: pos, storages } : fail(`stops with ${stack.length} values on the stack`); // STOP
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        // A big integer stays a bigint (the legacy format's magic number); no size, stride or offset accepts one.
        push(v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER) ? v : Number(v));
        break;
      }
      case 0x47: need(8); push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x58: push(text.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: push(text.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(text.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: push(text.decode(take(i32()))); break; // BINSTRING
      case 0x55: push(text.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { const m = new Map(); setItems(m, popMark()); push(m); break; } // DICT
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail('appends to something that is not a list'); (l as unknown[]).push(v); break; } // APPEND
      case 0x65: { const vs = popMark(); const l = top(); if (!Array.isArray(l)) fail('appends to something that is not a list'); (l as unknown[]).push(...vs); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: { const k = u8(); if (!memo.has(k)) fail(`refers to memo ${k} before it is set`); push(memo.get(k)); break; } // BINGET
      case 0x6a: { const k = u32(); if (!memo.has(k)) fail(`refers to memo ${k} before it is set`); push(memo.get(k)); break; } // LONG_BINGET
      case 0x63: push(new PyGlobal(line(), line())); break; // GLOBAL
      case 0x93: { const name = pop(); const mod = pop(); if (typeof mod !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings'); push(new PyGlobal(mod as string, name as string)); break; }
      case 0x51: { // BINPERSID
        const pid = pop();
        // ('storage', type, key, location, numel), plus view metadata in the legacy format.
        if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || !(pid.items[1] instanceof PyGlobal) || (pid.items.length !== 5 && pid.items.length !== 6)) fail('has a persistent id that is not a storage');
        const [, type, key, , numel, view] = (pid as PyTuple).items as [string, PyGlobal, unknown, unknown, unknown, unknown];
        if (view !== undefined && view !== null) fail('has a legacy storage view (re-save the file with a current PyTorch)');
        if (type.module !== 'torch' || !STORAGE_TYPES.has(type.name)) fail(`refuses storage type ${type.path}`);
        if (typeof key !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) fail('has a malformed storage id');
        const ref = new StorageRef(type.name, key as string, numel as number);
        storages.push(ref);
        push(ref);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail('calls something that is not a global');
        const f = CALLABLES[(fn as PyGlobal).path];
        if (!f) fail(`refuses to call ${(fn as PyGlobal).path}: only tensors, storages and OrderedDict are allowed`);
        if (!(args instanceof PyTuple)) fail(`calls ${(fn as PyGlobal).path} without an argument tuple`);
        push(f!((args as PyTuple).items));
        break;
      }
      case 0x62: { // BUILD: the state of an OrderedDict (its _metadata) carries no weights
        const state = pop();
        void state;
        if (!(top() instanceof Map)) fail('builds an object that is not a dict');
        break;
      }
      case 0x81: // NEWOBJ
      case 0x92: // NEWOBJ_EX
      case 0x69: // INST
      case 0x6f: // OBJ
        fail('refuses to construct objects (only tensors, storages and OrderedDict are allowed)');
        break;
      default:
        fail(`has unsupported opcode 0x${op.toString(16)}`);
    }
  }
}
