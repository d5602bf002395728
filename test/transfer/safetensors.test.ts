/** @file safetensors: files written by the reference library load exactly; round trips; mutated files fail cleanly. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Generator, GraftError, GraftFormatError, arange, randn, tensor } from '../../index.js';
import { loadSafetensors, saveSafetensors } from '../../transfer/import/safetensors.js';
import { f16ToF32, f32ToF16 } from '../../core/half.js';

const fixture = (name: string) => new URL(`../fixtures/transfer/${name}`, import.meta.url);
const real = new Uint8Array(readFileSync(fixture('mixed.safetensors')));
const expected = JSON.parse(readFileSync(fixture('mixed.safetensors.json'), 'utf8')) as Record<string, { shape: number[]; data: number[] }>;

describe('safetensors', () => {
  it('loads every dtype of a file written by the reference library', () => {
    const { tensors, metadata } = loadSafetensors(real, { file: 'mixed.safetensors' });
    expect(metadata).toEqual({ format: 'pt', note: 'graft fixture' });
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    const dtypes: Record<string, string> = { half: 'f32', bhalf: 'f32', ints: 'i32', longs: 'i32', bytes: 'i32', mask: 'bool', empty: 'f32', scalar: 'f32' };
    for (const [name, e] of Object.entries(expected)) {
      const t = tensors.get(name)!;
      expect(t.shape, name).toEqual(e.shape);
      expect(t.dtype, name).toBe(dtypes[name] ?? 'f32');
      const got = Array.from(t.dataSync());
      got.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(e.data[i]!, 6));
    }
  });

  it('round-trips graft tensors, metadata included', async () => {
    const sd = { w: randn([3, 5]), idx: tensor([1, -2, 3], { dtype: 'i32' }), m: tensor([true, false]), s: tensor(4), v: arange(10).T };
    const bytes = await saveSafetensors(sd, { epoch: '3' });
    expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).toBe(0n);
    const back = loadSafetensors(bytes);
    expect(back.metadata).toEqual({ epoch: '3' });
    for (const [k, t] of Object.entries(sd)) {
      expect(back.tensors.get(k)!.shape).toEqual([...t.shape]);
      expect(Array.from(back.tensors.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
    }
  });

  it('converts half floats both ways with round-to-nearest-even', () => {
    for (const v of [0, -0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, Infinity, -Infinity]) expect(f16ToF32(f32ToF16(v))).toBeCloseTo(v, 6);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
  });

  it('names the file and the offset or key of what is wrong', () => {
    expect(() => loadSafetensors(real.subarray(0, 5), { file: 'x.st' })).toThrow(/safetensors: x.st: 5 bytes is too short for the 8-byte header length at offset 0/);
    const big = real.slice();
    new DataView(big.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => loadSafetensors(big, { file: 'x.st' })).toThrow(/header length 1099511627776 at offset 0 exceeds/);
    expect(() => loadSafetensors(real.subarray(0, real.length - 4), { file: 'x.st' })).toThrow(/run past the data buffer/);
    const bad = new TextEncoder().encode(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }));
    const file = new Uint8Array(8 + bad.length + 4);
    new DataView(file.buffer).setBigUint64(0, BigInt(bad.length), true);
    file.set(bad, 8);
    expect(() => loadSafetensors(file, { file: 'y.st' })).toThrow(/tensor 'a': shape \[2\] of F32 needs 8 bytes, data_offsets give 4/);
  });

  it('survives thousands of mutated files with a clean error or a valid result', () => {
    const g = new Generator(7);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const b = real.slice();
      const kind = g.int(5);
      let input: Uint8Array = b;
      if (kind === 0) for (let k = 0; k < 1 + g.int(4); k++) b[g.int(b.length)] = g.int(256);
      else if (kind === 1) input = b.subarray(0, g.int(b.length));
      else if (kind === 2) new DataView(b.buffer).setUint32(g.int(2) * 4, g.int(2 ** 32), true);
      else if (kind === 3) {
        // Rewrite digits inside the JSON header (shapes and offsets).
        const n = Number(new DataView(b.buffer).getBigUint64(0, true));
        for (let k = 8; k < 8 + n; k++) if (b[k]! >= 48 && b[k]! <= 57 && g.uniform() < 0.05) b[k] = 48 + g.int(10);
      } else {
        const extra = Uint8Array.from({ length: 1 + g.int(64) }, () => g.int(256));
        input = new Uint8Array(b.length + extra.length);
        const at = g.int(b.length);
        input.set(b.subarray(0, at));
        input.set(extra, at);
        input.set(b.subarray(at), at + extra.length);
      }
      try {
        loadSafetensors(input, { file: 'fuzz' });
      } catch (e) {
        if (!(e instanceof GraftError)) throw new Error(`mutation ${i} (kind ${kind}) raised ${(e as Error).name}: ${(e as Error).message}`);
        expect(e).toBeInstanceOf(GraftFormatError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});
