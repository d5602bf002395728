/** @file Every loader against hostile and unusual input: byte views into larger buffers, recursion, sharing, amplification, bad sizes. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraftFormatError, tensor } from '../../index.js';
import { loadOnnxInitializers } from '../../transfer/import/onnx.js';
import { loadPytorch } from '../../transfer/import/pytorch.js';
import { loadSafetensors, saveSafetensors } from '../../transfer/import/safetensors.js';
import { loadTfjsLayers, loadTfjsLayersFromModules } from '../../transfer/import/tfjsLayers.js';
import { APPEND, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, POP, PROTO, SETITEM, STOP, TUPLE2, bytes, get, ptFile, put, str, tensorOp } from './pickleWriter.js';

const fixturePath = (name: string) => new URL(`../fixtures/transfer/${name}`, import.meta.url);
const onnxPath = new URL('../fixtures/onnx/test_Linear/', import.meta.url);

/** The file as a Node Buffer that views a larger pool at a non-zero offset, as fs.readFileSync's result may. */
function pooled(b: Uint8Array): Buffer {
  const pool = Buffer.alloc(b.length + 4099, 0x7f);
  pool.set(b, 4099);
  const view = pool.subarray(4099);
  expect(view.byteOffset).toBe(4099);
  return view;
}

async function values(m: Map<string, { dataSync(): ArrayLike<number> }>): Promise<Record<string, number[]>> {
  return Object.fromEntries([...m].map(([k, t]) => [k, Array.from(t.dataSync())]));
}

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

describe('loaders read byte views exactly', () => {
  it('safetensors, .pt (zip and legacy) and ONNX give the same tensors from a Buffer into a pool as from a copy', async () => {
    const st = await saveSafetensors({ a: tensor([1.5, -2, 3]), b: tensor([[7, 8]], { dtype: 'i32' }) });
    expect(await values(loadSafetensors(pooled(st)).tensors)).toEqual(await values(loadSafetensors(st.slice()).tensors));
    for (const f of ['net.pt', 'nested.pt', 'nested-legacy.pt']) {
      const b = new Uint8Array(readFileSync(fixturePath(f)));
      expect(await values((await loadPytorch(pooled(b))).tensors), f).toEqual(await values((await loadPytorch(b)).tensors));
    }
    // readFileSync itself, unmodified.
    expect(await values((await loadPytorch(readFileSync(fixturePath('net.pt')))).tensors)).toEqual(await values((await loadPytorch(new Uint8Array(readFileSync(fixturePath('net.pt'))))).tensors));
    const onnxFile = readFileSync(new URL('model.onnx', onnxPath));
    expect(await values(loadOnnxInitializers(pooled(new Uint8Array(onnxFile))).tensors)).toEqual(await values(loadOnnxInitializers(new Uint8Array(onnxFile)).tensors));
  });

  it('tfjs weights from a Buffer into a pool', () => {
    const model = { modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [2], dtype: 'float32' as const }] }] };
    expect(Array.from(loadTfjsLayers(model, pooled(f32([0.25, -4]))).weights.get('w')!.dataSync())).toEqual([0.25, -4]);
  });
});

describe('legacy torch.save files', () => {
  it('loads the non-zip format with the same tensors and metadata as the zip format', async () => {
    const zipped = await loadPytorch(readFileSync(fixturePath('nested.pt')));
    const legacy = await loadPytorch(readFileSync(fixturePath('nested-legacy.pt')), { file: 'nested-legacy.pt' });
    expect(await values(legacy.tensors)).toEqual(await values(zipped.tensors));
    expect([...legacy.tensors].map(([k, t]) => [k, t.shape])).toEqual([...zipped.tensors].map(([k, t]) => [k, t.shape]));
    expect(legacy.metadata).toEqual(zipped.metadata);
  });

  it('refuses a truncated legacy file with a format error naming the file', async () => {
    const b = new Uint8Array(readFileSync(fixturePath('nested-legacy.pt')));
    for (const n of [20, 200, b.length - 5]) await expect(loadPytorch(b.subarray(0, n), { file: 'cut.pt' })).rejects.toThrow(GraftFormatError);
  });
});

describe('.pt pickles that recurse, share or amplify', () => {
  const one = tensorOp('0', 4, [4], [1]);
  const storage = { 0: f32([1, 2, 3, 4]) };

  it('refuses a list that holds itself and a tensor, at once', async () => {
    const p = bytes(PROTO, EMPTY_LIST, put(0), one, APPEND, get(0), APPEND, STOP);
    await expect(loadPytorch(ptFile(p, storage), { file: 'loop.pt' })).rejects.toThrow(/pytorch: loop\.pt: '1' contains itself/);
  });

  it('refuses a dict that holds itself', async () => {
    const p = bytes(PROTO, EMPTY_DICT, put(0), str('me'), get(0), SETITEM, STOP);
    await expect(loadPytorch(ptFile(p))).rejects.toThrow(/contains itself/);
  });

  it('refuses "billion laughs" tuples (each holding the previous twice, 40 levels) quickly', async () => {
    const levels = Array.from({ length: 40 }, () => [...get(0), ...get(0), TUPLE2, ...put(0), POP]).flat();
    const p = bytes(PROTO, EMPTY_TUPLE, put(0), POP, levels, get(0), STOP);
    const t0 = Date.now();
    await expect(loadPytorch(ptFile(p))).rejects.toThrow(/expands to more than \d+ entries/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('refuses 99,000 nested lists with a format error, not a stack overflow', async () => {
    const depth = 99_000;
    const p = bytes(PROTO, new Array(depth).fill(EMPTY_LIST), new Array(depth - 1).fill(APPEND), STOP);
    await expect(loadPytorch(ptFile(p))).rejects.toThrow(/nest deeper than 10000 levels/);
  });

  it('refuses a second tensor that claims an already-read storage with another size', async () => {
    const huge = tensorOp('0', 2 ** 31 - 1, [2 ** 31 - 1], [0]);
    const p = bytes(PROTO, EMPTY_DICT, str('a'), one, SETITEM, str('b'), huge, SETITEM, STOP);
    await expect(loadPytorch(ptFile(p, storage))).rejects.toThrow(/claims storage 0 as 2147483647 FloatStorage elements, an earlier tensor as 4/);
  });

  it('shares one storage among views and names: a memoised tensor under 50,000 names and a broadcast view allocate nothing more', async () => {
    const names = Array.from({ length: 50_000 }, (_, i) => [...str(`k${i}`), ...get(1), SETITEM]).flat();
    const broadcast = tensorOp('0', 4, [2 ** 20, 4], [0, 1]);
    const p = bytes(PROTO, EMPTY_DICT, put(0), str('first'), one, put(1), SETITEM, str('wide'), broadcast, SETITEM, names, STOP);
    const { tensors } = await loadPytorch(ptFile(p, storage));
    expect(tensors.size).toBe(50_002);
    const first = tensors.get('first')!;
    expect(tensors.get('k49999')!.storage).toBe(first.storage);
    const wide = tensors.get('wide')!;
    expect(wide.shape).toEqual([2 ** 20, 4]);
    expect(wide.storage).toBe(first.storage);
    expect(Array.from(wide.slice(0, 5, 6).dataSync())).toEqual([1, 2, 3, 4]);
  });

  it('refuses a small deflated file that declares a gigabyte, unless the caller raises maxBytes', async () => {
    const p = bytes(PROTO, EMPTY_DICT, str('w'), tensorOp('0', 2 ** 28, [2 ** 28], [1]), SETITEM, STOP);
    const bomb = ptFile(p, { 0: new Uint8Array(1 << 20) }, { declaredSize: 2 ** 30 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(loadPytorch(bomb, { file: 'bomb.pt' })).rejects.toThrow(/bomb\.pt: storages need more than \d+ bytes \(pass a larger maxBytes to allow it\)/);
    // Allowed, the declared size is then checked against what the data inflates to.
    await expect(loadPytorch(bomb, { file: 'bomb.pt', maxBytes: 2 ** 31 })).rejects.toThrow(GraftFormatError);
  });

  it('refuses two entries that flatten to one name', async () => {
    const inner = (k: string) => [EMPTY_DICT, ...str(k), ...one, SETITEM];
    const p = bytes(PROTO, EMPTY_DICT, str('a.b'), inner('c'), SETITEM, str('a'), inner('b.c'), SETITEM, STOP);
    await expect(loadPytorch(ptFile(p, storage))).rejects.toThrow(/two entries flatten to the name 'a\.b\.c'/);
  });
});

describe('safetensors names', () => {
  it('round-trips a tensor named __proto__ and refuses __metadata__ and duplicate names when saving', async () => {
    const m = new Map([['__proto__', tensor([1, 2])], ['x', tensor([3])]]);
    const back = loadSafetensors(await saveSafetensors(m)).tensors;
    expect(Array.from(back.get('__proto__')!.dataSync())).toEqual([1, 2]);
    await expect(saveSafetensors(new Map([['__metadata__', tensor([1])]]))).rejects.toThrow(/'__metadata__' is reserved/);
  });

  it('refuses a header that names a tensor twice', () => {
    const json = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const head = new TextEncoder().encode(json);
    const file = new Uint8Array(8 + head.length + 4);
    new DataView(file.buffer).setBigUint64(0, BigInt(head.length), true);
    file.set(head, 8);
    expect(() => loadSafetensors(file, { file: 'dup.safetensors' })).toThrow(/dup\.safetensors: header names 'a' twice/);
  });
});

describe('ONNX and tfjs values', () => {
  /** A ModelProto with one INT64 initializer given in int64_data. */
  function int64Model(v: number): Uint8Array {
    const varint = (n: number) => {
      const out: number[] = [];
      let x = BigInt.asUintN(64, BigInt(n));
      do {
        let b = Number(x & 0x7fn);
        x >>= 7n;
        if (x) b |= 0x80;
        out.push(b);
      } while (x);
      return out;
    };
    const ld = (field: number, body: number[]) => [(field << 3) | 2, ...varint(body.length), ...body];
    const t = [...[(1 << 3) | 0, 1], ...[(2 << 3) | 0, 7], ...[(7 << 3) | 0, ...varint(v)], ...ld(8, [...new TextEncoder().encode('big')])];
    return Uint8Array.from(ld(7, ld(5, t)));
  }

  it('refuses an INT64 value outside i32 instead of wrapping it', () => {
    expect(Array.from(loadOnnxInitializers(int64Model(-5)).tensors.get('big')!.dataSync())).toEqual([-5]);
    expect(() => loadOnnxInitializers(int64Model(2 ** 40 + 5), { file: 'big.onnx' })).toThrow(/big\.onnx: initializer 'big': INT64 value 1099511627781 at element 0 is outside/);
  });

  it('reads tfjs bool weights one byte each, and refuses bad base64 shards', () => {
    const model = { modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'mask', shape: [3], dtype: 'bool' as const }, { name: 'w', shape: [1], dtype: 'float32' as const }] }] };
    const data = bytes([1, 0, 1], f32([2.5]));
    const { weights } = loadTfjsLayers(model, data);
    expect(weights.get('mask')!.dtype).toBe('bool');
    expect(Array.from(weights.get('mask')!.dataSync())).toEqual([1, 0, 1]);
    expect(Array.from(weights.get('w')!.dataSync())).toEqual([2.5]);
    const js = `module.exports = ${JSON.stringify(model)};`;
    expect(() => loadTfjsLayersFromModules(js, ['module.exports = "AAA=A";'], { file: 'm.js' })).toThrow(/tfjs: m\.js: shard 1 is not valid base64/);
  });
});
